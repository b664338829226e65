// ObjectSpec parsing of struct_ops variables: SEC(".struct_ops") and SEC(".struct_ops.link") hold one struct
// per map (e.g. a `struct tcp_congestion_ops`), whose function-pointer members are relocations naming
// programs of type struct_ops.
#include <cstring>

#include "spec_parser.hpp"
#include "struct_ops.hpp"

namespace ebpf::detail {
namespace {

bool is_struct_ops_section(std::string_view name) { return name == ".struct_ops" || name == ".struct_ops.link"; }

// The struct type of variable `var_name` in the DATASEC describing `section`.
Result<btf::TypeId> variable_struct(const SpecParser& p, std::string_view section, std::string_view var_name) {
  const btf::Btf& btf = *p.spec.btf;
  auto datasec = p.datasec(section);
  if (!datasec) return bad_object("no BTF DATASEC for section '" + std::string(section) + "'");
  for (std::uint32_t i = 0; i < datasec->vlen(); ++i) {
    auto var = btf.at(datasec->secinfo(i).type);
    if (var.kind() != btf::Kind::var || var.name() != var_name) continue;
    auto type = EBPF_TRY(btf.skip_modifiers(var.ref()));
    if (type.kind() != btf::Kind::struct_)
      return bad_object("struct_ops variable '" + std::string(var_name) + "' is not a struct");
    return type.id();
  }
  return bad_object("struct_ops variable '" + std::string(var_name) + "' is missing from the BTF of section '" +
                    std::string(section) + "'");
}

// The program a function-pointer relocation points at.
Result<std::string> relocated_program(SpecParser& p, const elf::Section& data_section, const elf::Relocation& r,
                                      bool rela, std::string_view var_name) {
  const auto& sym = p.elf.symbols()[r.symbol];
  std::uint64_t target = sym.value;
  auto data = p.elf.data(data_section);
  if (rela) {
    target += static_cast<std::uint64_t>(r.addend);
  } else if (r.offset + 8 <= data.size()) {  // SHT_REL: the addend sits in the slot itself
    std::uint64_t implicit = 0;
    std::memcpy(&implicit, data.data() + r.offset, 8);
    target += implicit;
  }
  const FunctionRef* fn = p.function_at(sym.section, target);
  if (fn == nullptr || fn->subprogram || fn->offset != target)
    return bad_object("struct_ops variable '" + std::string(var_name) + "': the pointer at offset " +
                      std::to_string(r.offset) + " does not point at a program");
  const ProgramSpec& prog = p.function(*fn);
  if (prog.type != ProgType::struct_ops)
    return bad_object("struct_ops variable '" + std::string(var_name) + "' points at program '" + prog.name +
                      "' of section '" + prog.section + "': it must be in a struct_ops/ section");
  return prog.name;
}

Result<void> read_variable(SpecParser& p, const elf::Section& s, const elf::Symbol& sym,
                           const std::vector<elf::Relocation>& relocs, bool rela) {
  if (!p.spec.btf) return bad_object("struct_ops variable '" + std::string(sym.name) + "' needs the object's BTF");
  auto data = p.elf.data(s);
  if (sym.value + sym.size > data.size() || sym.size == 0)
    return bad_object("struct_ops variable '" + std::string(sym.name) + "' lies outside its section");
  MapDefinition def;
  def.name = std::string(sym.name);
  def.source = MapSource::btf;
  def.type = MapType::struct_ops;
  def.key_size = 4;
  def.value_size = static_cast<std::uint32_t>(sym.size);
  def.max_entries = 1;
  if (s.name == ".struct_ops.link") def.flags = map_flags::link;
  def.btf_value_type = EBPF_TRY(variable_struct(p, s.name, sym.name));
  auto bytes = data.subspan(sym.value, sym.size);
  def.contents.assign(bytes.begin(), bytes.end());
  def.section_index = s.index;
  def.section_offset = sym.value;
  for (const auto& r : relocs) {
    if (r.offset < sym.value || r.offset >= sym.value + sym.size) continue;
    auto prog = EBPF_TRY(relocated_program(p, s, r, rela, sym.name));
    auto at = static_cast<std::uint32_t>(r.offset - sym.value);
    if (at + 8 <= def.contents.size()) std::memset(def.contents.data() + at, 0, 8);  // addend, not data
    def.initial_slots.emplace_back(at, std::move(prog));
  }
  p.spec.maps.push_back(std::move(def));
  return ok();
}

}  // namespace

Result<void> read_struct_ops_sections(SpecParser& p) {
  for (const auto& s : p.elf.sections()) {
    if (!is_struct_ops_section(s.name) || s.type != elf::kShtProgbits) continue;
    std::vector<elf::Relocation> relocs;
    bool rela = false;
    for (const auto& rel : p.elf.sections())
      if ((rel.type == elf::kShtRel || rel.type == elf::kShtRela) && rel.info == s.index) {
        auto list = p.elf.relocations(rel);
        if (!list) return Error(list.error()).context("section '" + std::string(rel.name) + "'");
        relocs = std::move(*list);
        rela = rel.type == elf::kShtRela;
      }
    for (std::uint32_t i : p.symbols_in(s.index)) {
      const auto& sym = p.symbol(i);
      if (sym.type == elf::kSttObject && !sym.name.empty()) EBPF_TRY(read_variable(p, s, sym, relocs, rela));
    }
  }
  return ok();
}

}  // namespace ebpf::detail
