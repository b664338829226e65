// ebpf/disasm.hpp — instructions as text, in the syntax LLVM's objdump and bpftool print
// (`r0 = *(u32 *)(r1 + 4)`, `if r1 > 0x5 goto +3 <L7>`, `call bpf_map_lookup_elem#1`, `lock *(u64 *)(r1 + 0) += r2`).
//
// Every output line is accepted by ebpf/text_asm.hpp and assembles back to the identical bytes; encodings that
// are not instructions print as `.insn code, dst, src, off, imm` so even garbage round-trips.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ebpf/insn.hpp"

namespace ebpf {

struct Bytecode;

struct DisasmOptions {
  bool labels = true;          // "L12:" lines at jump targets and " <L12>" after jump offsets
  bool indices = false;        // "  12: " before each instruction
  std::string indent = "\t";   // before each instruction (after the index)
};

// One instruction; `next` is the following slot (the second half of LD_IMM64), nullptr at the end.
std::string disassemble_one(const Insn& insn, const Insn* next = nullptr);

// A whole program, one instruction per line ('\n'-terminated).
std::string disassemble(std::span<const Insn> insns, const DisasmOptions& options = {});
// Same, naming labels and subprograms after the program's symbols and unresolved maps by name.
std::string disassemble(const Bytecode& code, const DisasmOptions& options = {});

}  // namespace ebpf
