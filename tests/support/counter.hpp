// Counting programs for hook tests: an ARRAY map with one entry of `slots` u64 values, and programs that
// add 1 to slot 0 each time the hook runs. A test then asserts the kernel really ran the program by
// reading the count back.
#pragma once

#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/program.hpp"

namespace ebpf::test {

// A program and the counter map it writes.
struct CountingProgram {
  Fd map;
  Program program;
  // Slot `i` of the counter value, or ~0 when it cannot be read.
  std::uint64_t slot(std::uint32_t i) const;
  std::uint64_t count() const { return slot(0); }
};

// ARRAY map, key u32, one entry of `slots` u64 values.
Result<Fd> counter_map(std::uint32_t slots = 1);

// Emits `r7 = &value; value[0] += 1` (atomic). Clobbers r4 and r7.
void emit_count(Assembler& a, const Fd& map);

// The simplest counting program: count, then return `retval`.
Result<CountingProgram> counting_program(ProgType type, int retval, const ProgramLoadOptions& options = {});

}  // namespace ebpf::test
