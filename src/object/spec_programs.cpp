// ObjectSpec parsing: functions of executable sections, their relocations and .BTF.ext records.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "spec_parser.hpp"

namespace ebpf::detail {
namespace {

constexpr std::uint8_t kLdImm64 = 0x18;     // BPF_LD | BPF_IMM | BPF_DW
constexpr std::uint8_t kCall = 0x85;        // BPF_JMP | BPF_CALL
constexpr std::uint8_t kPseudoCall = 1;     // src_reg of a bpf-to-bpf call
constexpr std::uint8_t kPseudoFunc = 4;     // src_reg of ld_imm64 loading a function address

std::uint32_t program_flags(const ProgramSection& s) {
  return (s.sleepable ? prog_flags::sleepable : 0) | (s.xdp_frags ? prog_flags::xdp_has_frags : 0);
}

}  // namespace

void SpecParser::function_symbols(const elf::Section& section, std::vector<const elf::Symbol*>& syms) const {
  syms.clear();
  auto in_section = symbols_in(section.index);
  for (std::uint32_t i : in_section) {
    const auto& sym = symbol(i);
    if (sym.type == elf::kSttFunc && !sym.name.empty()) syms.push_back(&sym);
  }
  if (syms.empty())  // very old compilers: programs as untyped global symbols
    for (std::uint32_t i : in_section) {
      const auto& sym = symbol(i);
      if (sym.type == elf::kSttNotype && sym.bind == elf::kStbGlobal && !sym.name.empty()) syms.push_back(&sym);
    }
  std::sort(syms.begin(), syms.end(), [](auto* a, auto* b) { return a->value < b->value; });
  syms.erase(std::unique(syms.begin(), syms.end(), [](auto* a, auto* b) { return a->value == b->value; }),
             syms.end());
}

// Sizes spec.programs / spec.subprograms for every function up front: no reallocation while reading them,
// and no spare capacity kept in the spec.
void SpecParser::reserve_functions() {
  std::size_t programs = 0, subprograms = 0;
  for (const auto& s : elf.sections()) {
    if (roles[s.index] != SectionRole::code || elf.data(s).empty()) continue;
    function_symbols(s, scratch_symbols);
    (s.name == ".text" ? subprograms : programs) += std::max<std::size_t>(scratch_symbols.size(), 1);
  }
  spec.programs.reserve(programs);
  spec.subprograms.reserve(subprograms);
  function_refs.reserve(programs + subprograms);
}

Result<void> SpecParser::read_functions(const elf::Section& section) {
  auto d = elf.data(section);
  if (d.size() % sizeof(Insn) != 0)
    return bad_object("code section " + section_name(section.index) + " has " + std::to_string(d.size()) +
                      " bytes, not a multiple of 8");
  if (d.empty()) return ok();
  auto& syms = scratch_symbols;
  function_symbols(section, syms);
  auto& fns = functions[section.index];
  fns.begin = fns.end = static_cast<std::uint32_t>(function_refs.size());

  bool is_text = section.name == ".text";
  auto classified = classify_program_section(section.name);
  auto add = [&](std::string name, std::uint64_t offset, std::uint64_t size, bool global) -> Result<void> {
    if (offset % 8 != 0 || size % 8 != 0 || offset > d.size() || size > d.size() - offset || size == 0)
      return bad_object("function '" + name + "' at offset " + std::to_string(offset) + " size " +
                        std::to_string(size) + " does not fit section " + section_name(section.index));
    ProgramSpec p;
    p.name = std::move(name);
    p.section = std::string(section.name);
    p.section_index = section.index;
    p.section_offset = offset;
    p.global = global;
    p.subprogram = is_text;
    if (classified && !is_text) {
      p.type = classified->type;
      p.expected_attach_type = classified->expected_attach_type;
      p.attach_to = classified->target;
      p.flags = program_flags(*classified);
      p.section_info = classified;
    }
    p.insns.resize(size / sizeof(Insn));
    std::memcpy(p.insns.data(), d.data() + offset, size);
    auto& list = is_text ? spec.subprograms : spec.programs;
    if (fns.end > fns.begin && function_refs.back().offset + function_refs.back().size > offset) fns.disjoint = false;
    function_refs.push_back({offset, size, is_text, list.size()});
    fns.end = static_cast<std::uint32_t>(function_refs.size());
    list.push_back(std::move(p));
    return ok();
  };
  if (syms.empty()) return add(std::string(section.name), 0, d.size(), true);
  for (std::size_t i = 0; i < syms.size(); ++i) {
    std::uint64_t start = syms[i]->value;
    std::uint64_t end = i + 1 < syms.size() ? syms[i + 1]->value : d.size();
    std::uint64_t size = syms[i]->size != 0 ? syms[i]->size : end - start;
    if (start > d.size()) size = 0;  // reported by add()
    EBPF_TRY(add(std::string(syms[i]->name), start, size, syms[i]->bind != elf::kStbLocal));
  }
  return ok();
}

Result<void> SpecParser::read_code_relocations(const elf::Section& rel_section) {
  auto relocs = EBPF_TRY(elf.relocations(rel_section));
  std::uint32_t target = rel_section.info;
  for (std::size_t ri = 0; ri < relocs.size(); ++ri) {
    const auto& r = relocs[ri];
    const auto* fn = function_at(target, r.offset);
    auto where = [&] { return "relocation at " + section_name(target) + "+" + std::to_string(r.offset); };
    if (r.offset % 8 != 0 || fn == nullptr) return bad_object(where() + " is not on an instruction of a function");
    ProgramSpec& prog = function(*fn);
    if (prog.relocations.size() == prog.relocations.capacity()) {
      // Relocations come sorted by offset: room for the whole run that falls in this function at once.
      std::size_t run = 1;
      while (ri + run < relocs.size() && relocs[ri + run].offset >= fn->offset &&
             relocs[ri + run].offset - fn->offset < fn->size)
        ++run;
      prog.relocations.reserve(std::max(prog.relocations.size() + run, 2 * prog.relocations.size()));
    }
    auto index = static_cast<std::uint32_t>((r.offset - fn->offset) / 8);
    const Insn& insn = prog.insns[index];
    const elf::Symbol& sym = elf.symbols()[r.symbol];
    Relocation rel;
    rel.insn = index;
    rel.symbol = std::string(sym.name);
    rel.weak = sym.bind == elf::kStbWeak;

    if (insn.code == kLdImm64) {
      if (index + 1 >= prog.insns.size()) return bad_object(where() + ": truncated ld_imm64");
      if (sym.undefined()) {
        if (sym.name.empty()) return bad_object(where() + ": extern without a name");
        auto k = kconfig_offsets.find(sym.name);
        rel.kind = k != kconfig_offsets.end() ? RelocationKind::kconfig : RelocationKind::ksym;
        rel.offset = k != kconfig_offsets.end() ? k->second : 0;
      } else if (sym.section >= roles.size()) {
        return bad_object(where() + ": symbol '" + std::string(sym.name) + "' is not in a section");
      } else if (roles[sym.section] == SectionRole::code) {
        std::uint64_t at = sym.value + static_cast<std::int64_t>(insn.imm);
        const auto* callee = function_at(sym.section, at);
        if (callee == nullptr) return bad_object(where() + ": function address points at no function");
        rel.kind = RelocationKind::subprog_addr;
        rel.symbol = function(*callee).name;
        rel.offset = (at - callee->offset) / 8;
      } else if (roles[sym.section] == SectionRole::legacy_maps || roles[sym.section] == SectionRole::btf_maps) {
        std::uint64_t at = sym.value + (sym.type == elf::kSttSection ? static_cast<std::uint64_t>(insn.imm) : 0);
        std::size_t m = map_defined_at(sym.section, at);
        if (m == SIZE_MAX)
          return bad_object(where() + ": no map defined at " + section_name(sym.section) + "+" + std::to_string(at));
        rel.kind = RelocationKind::map_fd;
        rel.symbol = spec.maps[m].name;
      } else if (roles[sym.section] == SectionRole::data) {
        std::size_t m = data_maps[sym.section];
        if (m == SIZE_MAX) return bad_object(where() + ": reference into empty section " + section_name(sym.section));
        rel.kind = RelocationKind::map_value;
        rel.symbol = spec.maps[m].name;
        rel.offset = sym.value + static_cast<std::uint64_t>(static_cast<std::uint32_t>(insn.imm));
      } else {
        return bad_object(where() + ": ld_imm64 refers to section " + section_name(sym.section) +
                          ", which holds neither maps, global data nor code");
      }
    } else if (insn.code == kCall) {
      if (sym.undefined()) {
        rel.kind = RelocationKind::kfunc_call;
      } else if (insn.src == kPseudoCall && sym.section < roles.size() && roles[sym.section] == SectionRole::code) {
        std::int64_t at = static_cast<std::int64_t>(sym.value) + (static_cast<std::int64_t>(insn.imm) + 1) * 8;
        const auto* callee = at >= 0 ? function_at(sym.section, static_cast<std::uint64_t>(at)) : nullptr;
        if (callee == nullptr) return bad_object(where() + ": call target is not inside a function");
        rel.kind = RelocationKind::subprog_call;
        rel.symbol = function(*callee).name;
        rel.offset = (static_cast<std::uint64_t>(at) - callee->offset) / 8;
      } else {
        return bad_object(where() + ": call relocation against '" + std::string(sym.name) + "' is neither a "
                          "bpf-to-bpf call nor a kfunc");
      }
    } else {
      return bad_object(where() + ": relocation on opcode 0x" + [&] {
        char b[8];
        std::snprintf(b, sizeof b, "%02x", insn.code);
        return std::string(b);
      }() + ", expected ld_imm64 or call");
    }
    prog.relocations.push_back(std::move(rel));
  }
  return ok();
}

// Calls between functions of one section may be resolved by the assembler (no relocation): record them too,
// so linking needs only Relocation records.
Result<void> SpecParser::resolve_unrelocated_calls() {
  std::vector<std::uint32_t> done;  // insns that already have a relocation, sorted
  for (std::uint32_t section = 0; section < functions.size(); ++section) {
    for (const auto& ref : functions_in(section)) {
      ProgramSpec& prog = function(ref);
      // Most functions make no bpf-to-bpf call and take no function address: one branch-free look first.
      bool candidates = false;
      for (const Insn& insn : prog.insns)
        candidates |= ((insn.code == kCall) & (insn.src == kPseudoCall)) |
                      ((insn.code == kLdImm64) & (insn.src == kPseudoFunc));
      if (!candidates) continue;
      auto unrelocated = [&](std::uint32_t i, const Insn& insn) {
        bool call = insn.code == kCall && insn.src == kPseudoCall;
        bool addr = insn.code == kLdImm64 && insn.src == kPseudoFunc;
        return (call || addr) && !std::binary_search(done.begin(), done.end(), i);
      };
      done.clear();
      for (const auto& r : prog.relocations) done.push_back(r.insn);
      if (!std::is_sorted(done.begin(), done.end())) std::sort(done.begin(), done.end());
      std::size_t missing = 0;  // first pass: count, so the common case (none) allocates nothing
      for (std::uint32_t i = 0; i < prog.insns.size(); ++i) {
        if (unrelocated(i, prog.insns[i])) ++missing;
        if (prog.insns[i].code == kLdImm64) ++i;  // skip the second half
      }
      if (missing == 0) continue;
      prog.relocations.reserve(prog.relocations.size() + missing);
      for (std::uint32_t i = 0; i < prog.insns.size(); ++i) {
        const Insn& insn = prog.insns[i];
        if (unrelocated(i, insn)) {
          bool call = insn.code == kCall;
          std::int64_t at = static_cast<std::int64_t>(ref.offset) + (std::int64_t(i) + insn.imm + 1) * 8;
          const auto* callee = at >= 0 ? function_at(section, static_cast<std::uint64_t>(at)) : nullptr;
          if (callee == nullptr)
            return bad_object("function '" + prog.name + "' insn " + std::to_string(i) +
                              ": call target lies outside every function of " + section_name(section));
          prog.relocations.push_back({i, call ? RelocationKind::subprog_call : RelocationKind::subprog_addr,
                                      function(*callee).name,
                                      (static_cast<std::uint64_t>(at) - callee->offset) / 8, false});
        }
        if (insn.code == kLdImm64) ++i;  // skip the second half
      }
    }
  }
  return ok();
}

namespace {

template <class Record>
Result<void> distribute(SpecParser& p, const std::vector<btf::ExtSection<Record>>& sections,
                        std::vector<Record> ProgramSpec::*field, std::string_view what) {
  for (const auto& ext : sections) {
    const auto* section = p.elf.section(ext.name);
    if (section == nullptr)
      return bad_object(".BTF.ext " + std::string(what) + " names section '" + std::string(ext.name) +
                        "', which the object does not have");
    const bool disjoint = section->index < p.functions.size() && p.functions[section->index].disjoint;
    auto records = ext.records;
    for (std::size_t i = 0; i < records.size();) {
      const auto* fn = p.function_at(section->index, records[i].insn_off);
      if (fn == nullptr)
        return bad_object(".BTF.ext " + std::string(what) + " record at '" + std::string(ext.name) + "'+" +
                          std::to_string(records[i].insn_off) + " is outside every function");
      // Compilers emit a function's records together: take the whole run inside `fn` at once.
      std::size_t end = i + 1;
      if (disjoint)
        while (end < records.size() && records[end].insn_off >= fn->offset &&
               records[end].insn_off - fn->offset < fn->size)
          ++end;
      auto& out = p.function(*fn).*field;
      if (out.size() + (end - i) > out.capacity()) out.reserve(std::max(out.size() + (end - i), 2 * out.size()));
      for (; i < end; ++i) {
        Record rec = records[i];
        rec.insn_off -= static_cast<std::uint32_t>(fn->offset);
        out.push_back(rec);
      }
    }
  }
  return ok();
}

}  // namespace

Result<void> SpecParser::attach_btf_ext() {
  if (!spec.btf_ext) return ok();
  EBPF_TRY(distribute(*this, spec.btf_ext->func_info(), &ProgramSpec::func_info, "func_info"));
  EBPF_TRY(distribute(*this, spec.btf_ext->line_info(), &ProgramSpec::line_info, "line_info"));
  EBPF_TRY(distribute(*this, spec.btf_ext->core_relos(), &ProgramSpec::core_relos, "CO-RE relocation"));
  return ok();
}

}  // namespace ebpf::detail
