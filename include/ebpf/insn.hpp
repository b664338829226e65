// ebpf/insn.hpp — one eBPF instruction as the kernel reads it (struct bpf_insn).
//
// The smallest shared vocabulary: program loading takes a span of these, the assembler (ebpf/isa.hpp,
// ebpf/dsl.hpp) produces them, the ELF loader reads them. LD_IMM64 occupies two consecutive Insn slots.
#pragma once

#include <cstdint>

namespace ebpf {

struct Insn {
  std::uint8_t code = 0;     // opcode: class | size/op | mode/source
  std::uint8_t dst : 4 = 0;  // destination register (r0..r10)
  std::uint8_t src : 4 = 0;  // source register, or a pseudo-source for LD_IMM64 / CALL
  std::int16_t off = 0;      // signed offset (jumps, memory)
  std::int32_t imm = 0;      // signed immediate

  friend constexpr bool operator==(const Insn& a, const Insn& b) noexcept {
    return a.code == b.code && a.dst == b.dst && a.src == b.src && a.off == b.off && a.imm == b.imm;
  }
};
static_assert(sizeof(Insn) == 8, "struct bpf_insn is 8 bytes");

}  // namespace ebpf
