// Fuzzes the text assembler and the disassembler with one property: whatever assembles (or whatever bytes
// are given) disassembles to text that assembles back to the identical instructions.
// First input byte: even → the rest is assembler text; odd → the rest is raw instructions.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "ebpf/disasm.hpp"
#include "ebpf/text_asm.hpp"

namespace {

void round_trip(const std::vector<ebpf::Insn>& insns) {
  const std::string text = ebpf::disassemble(insns);
  auto back = ebpf::assemble_text(text);
  if (!back || back->insns != insns) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool raw = data[0] & 1;
  ++data, --size;
  if (raw) {
    std::vector<ebpf::Insn> insns(size / sizeof(ebpf::Insn));
    if (!insns.empty()) std::memcpy(insns.data(), data, insns.size() * sizeof(ebpf::Insn));
    round_trip(insns);
    return 0;
  }
  auto code = ebpf::assemble_text(std::string_view(reinterpret_cast<const char*>(data), size));
  if (code && code->unresolved().empty()) round_trip(code->insns);
  return 0;
}
