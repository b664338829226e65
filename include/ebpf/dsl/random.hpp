// ebpf/dsl/random.hpp — random numbers in BPF: the kernel's per-CPU pseudo-random u32, a number in [0, n)
// and a weighted choice over a small constant table.
//
// random_below maps a 32-bit random value r to (r * n) >> 32 (Lemire's multiply-shift) instead of r % n:
// no division, and every result has probability floor(2^32/n)/2^32 or ceil(2^32/n)/2^32 — a bias below
// n / 2^32 (under 1e-6 for n < 4096), far below what prandom's quality would show.
#pragma once

#include <cstdint>
#include <span>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// r0 = bpf_get_prandom_u32() (zero-extended); r1..r5 clobbered.
Assembler& random_u32(Assembler& a);

// r0 = a random number in [0, n) (0 when n is 0). A register `n` holds a u32 and must survive the helper call
// (r6..r9); an immediate must be positive.
Assembler& random_below(Assembler& a, isa::Reg n);
Assembler& random_below(Assembler& a, std::int32_t n);

// r0 = index i with probability weights[i] / sum(weights). A zero weight is never chosen. r1..r5 clobbered.
// invalid_argument when the table is empty, sums to 0 or sums above 2^31 - 1.
Result<void> weighted_choice(Assembler& a, std::span<const std::uint32_t> weights);

}  // namespace ebpf::dsl
