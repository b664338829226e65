// Run-time parts of the assembler: error reporting with the instruction's text, and map fd resolution.
#include "ebpf/assembler.hpp"

#include <cstdio>

#include "ebpf/disasm.hpp"

namespace ebpf {

namespace detail {
void constant_program_is_invalid(const char* why) {
  // Only reachable at run time if someone calls it directly; constant evaluation stops before.
  std::fprintf(stderr, "ebpf::assemble: %s\n", why);
}
}  // namespace detail

Result<void> Bytecode::resolve(std::string_view map, int fd) {
  bool found = false;
  for (MapRelocation& m : maps) {
    if (m.map != map) continue;
    insns[m.insn].imm = fd;
    m.resolved = found = true;
  }
  if (!found) return Error::invalid("resolve map", "the program does not reference a map named '" + std::string(map) + "'");
  return ok();
}

Result<void> Bytecode::resolve(const std::function<Result<int>(std::string_view map)>& fd_of) {
  for (MapRelocation& m : maps) {
    if (m.resolved) continue;
    auto fd = fd_of(m.map);
    if (!fd) return Error(std::move(fd).error()).context("map '" + m.map + "'");
    insns[m.insn].imm = *fd;
    m.resolved = true;
  }
  return ok();
}

std::vector<std::string> Bytecode::unresolved() const {
  std::vector<std::string> names;
  for (const MapRelocation& m : maps)
    if (!m.resolved && std::find(names.begin(), names.end(), m.map) == names.end()) names.push_back(m.map);
  return names;
}

Bytecode Assembler::take_symbols() const {
  Bytecode b;
  b.symbols.reserve(labels_.size());
  for (const LabelDef& l : labels_) b.symbols.push_back({std::string(name(l.name)), l.insn, l.function});
  return b;
}

namespace {
Error assembly_error(const std::vector<Insn>& insns, const Assembler::Failure& f) {
  std::string where = "instruction " + std::to_string(f.insn);
  if (f.insn < insns.size()) {
    const Insn* next = f.insn + 1 < insns.size() ? &insns[f.insn + 1] : nullptr;
    where += " `" + disassemble_one(insns[f.insn], next) + "`";
  }
  return Error::invalid("assemble", where + ": " + f.message);
}
}  // namespace

Result<Bytecode> Assembler::finish() const& {
  Assembler copy = *this;
  return std::move(copy).finish();
}

Result<Bytecode> Assembler::finish() && {
  if (!link()) return assembly_error(insns_, failure_);
  Bytecode b = take_symbols();
  b.insns = std::move(insns_);
  b.maps = std::move(maps_);
  return b;
}

}  // namespace ebpf
