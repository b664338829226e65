// ebpf/dsl/memory.hpp — filling and copying memory in BPF with unrolled stores: the stack (r10-relative), a map
// value or any other pointer the verifier lets the program write, for a length known when building.
//
// Each block uses the widest access (8, 4, 2, 1 bytes) that the remaining length and the alignment of the
// offsets allow, assuming `base` itself is 8-byte aligned (true of r10 and of map values). So zeroing 24 bytes
// at fp-24 is three 8-byte stores, and 7 bytes at fp-7 are 1 + 2 + 4.
//   dsl::stack_zero(a, r10, -32, 32);                 // four `*(u64 *)(r10 - 32 + 8k) = 0`
//   dsl::stack_copy(a, r10, -64, r6, 0, 16, r1);      // 16 bytes from a map value in r6 to fp-64
// Errors (invalid_argument): negative length, offsets out of the 16-bit range, or for r10 a range outside the
// 512-byte frame.
#pragma once

#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// `len` bytes at base+off = 0 (stores of immediates: no register is needed).
Result<void> stack_zero(Assembler& a, isa::Reg base, std::int16_t off, std::int32_t len);
// `len` bytes at base+off = `byte`; `scratch` holds the repeated byte pattern.
Result<void> stack_set(Assembler& a, isa::Reg base, std::int16_t off, std::int32_t len, std::uint8_t byte,
                       isa::Reg scratch);
// `len` bytes from src+src_off to dst+dst_off through `scratch` (the ranges must not overlap).
Result<void> stack_copy(Assembler& a, isa::Reg dst, std::int16_t dst_off, isa::Reg src, std::int16_t src_off,
                        std::int32_t len, isa::Reg scratch);

}  // namespace ebpf::dsl
