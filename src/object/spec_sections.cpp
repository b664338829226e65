// ObjectSpec parsing: the driver, section roles, license/version, BTF; plus ObjectSpec's lookups.
#include <algorithm>
#include <cstring>

#include "spec_parser.hpp"
#include "struct_ops.hpp"

namespace ebpf {
namespace detail {

Error bad_object(std::string message) { return Error(Errc::bad_format, "BPF object", std::move(message)); }

std::string SpecParser::section_name(std::uint32_t index) const {
  const auto* s = elf.section(index);
  return s ? "'" + std::string(s->name) + "'" : "#" + std::to_string(index);
}

const FunctionRef* SpecParser::function_at(std::uint32_t section, std::uint64_t offset) const {
  if (section >= functions.size()) return nullptr;
  auto refs = functions_in(section);
  if (functions[section].disjoint) {  // the only candidate is the last function starting at or before `offset`
    auto it = std::upper_bound(refs.begin(), refs.end(), offset,
                               [](std::uint64_t off, const FunctionRef& f) { return off < f.offset; });
    if (it == refs.begin()) return nullptr;
    --it;
    return offset - it->offset < it->size ? &*it : nullptr;
  }
  for (const auto& f : refs)
    if (offset >= f.offset && offset < f.offset + f.size) return &f;
  return nullptr;
}

void SpecParser::group_symbols() {
  const auto& syms = elf.symbols();
  const std::size_t n = elf.sections().size();
  // Counting sort, stable: counts shifted by two, prefix sums, then each section's slot advances from its start
  // to the next section's start, which leaves symbols_from[i] = first symbol of section i.
  symbols_from.assign(n + 2, 0);
  for (const auto& sym : syms)
    if (sym.section < n) ++symbols_from[sym.section + 2];
  for (std::size_t i = 2; i < n + 2; ++i) symbols_from[i] += symbols_from[i - 1];
  section_symbols.resize(symbols_from[n + 1]);
  for (const auto& sym : syms)
    if (sym.section < n) section_symbols[symbols_from[sym.section + 1]++] = sym.index;
  symbols_from.pop_back();
}

std::optional<btf::Type> SpecParser::datasec(std::string_view name) const noexcept {
  for (const auto& [n, id] : datasecs)
    if (n == name) return spec.btf->at(id);
  return std::nullopt;
}

namespace {

bool is_data_section_name(std::string_view n) {
  return n == ".data" || n == ".rodata" || n == ".bss" || n.starts_with(".data.") ||
         n.starts_with(".rodata.") || n.starts_with(".bss.");
}

}  // namespace

Result<void> SpecParser::classify_sections() {
  roles.assign(elf.sections().size(), SectionRole::other);
  for (const auto& s : elf.sections()) {
    if (s.index == 0) continue;
    if (s.type == elf::kShtProgbits && s.executable())
      roles[s.index] = SectionRole::code;
    else if (s.name == "license")
      roles[s.index] = SectionRole::license;
    else if (s.name == "version")
      roles[s.index] = SectionRole::version;
    else if (s.name == ".maps")
      roles[s.index] = SectionRole::btf_maps;
    else if (s.name == "maps" || s.name.starts_with("maps/"))
      roles[s.index] = SectionRole::legacy_maps;
    else if ((s.type == elf::kShtProgbits || s.type == elf::kShtNobits) && is_data_section_name(s.name))
      roles[s.index] = SectionRole::data;
  }
  return ok();
}

Result<void> SpecParser::read_license_and_version() {
  for (const auto& s : elf.sections()) {
    auto d = elf.data(s);
    if (roles[s.index] == SectionRole::license) {
      if (d.empty()) continue;  // empty or SHT_NOBITS: no license text
      const char* p = reinterpret_cast<const char*>(d.data());
      spec.license.assign(p, strnlen(p, d.size()));
    } else if (roles[s.index] == SectionRole::version) {
      if (d.size() != 4)
        return bad_object("section 'version' has " + std::to_string(d.size()) + " bytes, expected 4");
      std::memcpy(&spec.kernel_version, d.data(), 4);
    }
  }
  return ok();
}

Result<void> SpecParser::read_btf() {
  const auto* btf_section = elf.section(".BTF");
  if (btf_section == nullptr) return ok();
  auto btf = btf::Btf::parse(elf.data(*btf_section));
  if (!btf) return Error(btf.error()).context("section '.BTF'");
  spec.btf = std::move(*btf);
  spec.datasec_layouts.reserve(spec.btf->datasecs().size());
  for (btf::TypeId id : spec.btf->datasecs()) {
    auto t = spec.btf->at(id);
    std::string_view name = t.name();
    if (!datasec(name)) datasecs.emplace_back(name, t.id());
    const auto* section = elf.section(name);
    if (section == nullptr) continue;
    DatasecLayout layout{std::string(name), section->size, {}};
    auto syms = symbols_in(section->index);
    auto listed = [&](std::uint32_t i) { return !symbol(i).name.empty() && symbol(i).type != elf::kSttSection; };
    layout.symbols.reserve(static_cast<std::size_t>(std::count_if(syms.begin(), syms.end(), listed)));
    for (std::uint32_t i : syms)
      if (listed(i)) layout.symbols.emplace_back(std::string(symbol(i).name), symbol(i).value);
    spec.datasec_layouts.push_back(std::move(layout));
  }
  if (spec.datasec_layouts.capacity() != spec.datasec_layouts.size()) spec.datasec_layouts.shrink_to_fit();
  const auto* ext_section = elf.section(".BTF.ext");
  if (ext_section == nullptr) return ok();
  auto ext = btf::BtfExt::parse(elf.data(*ext_section), *spec.btf);
  if (!ext) return Error(ext.error()).context("section '.BTF.ext'");
  spec.btf_ext = std::move(*ext);
  return ok();
}

Result<void> SpecParser::run() {
  const auto& h = elf.header();
  if (h.machine != elf::kMachineBpf)
    return bad_object("e_machine is " + std::to_string(h.machine) + ", not EM_BPF (247): not a BPF object");
  if (h.type != elf::kTypeRelocatable)
    return bad_object("e_type is " + std::to_string(h.type) + ", not ET_REL: BPF objects are relocatable files");
  if (elf.symtab_index() == 0) return bad_object("no symbol table (.symtab): the object was stripped");
  group_symbols();
  EBPF_TRY(classify_sections());
  EBPF_TRY(read_license_and_version());
  EBPF_TRY(read_btf());
  data_maps.assign(elf.sections().size(), SIZE_MAX);
  for (const auto& s : elf.sections()) {
    switch (roles[s.index]) {
      case SectionRole::legacy_maps: EBPF_TRY(read_legacy_maps(s)); break;
      case SectionRole::btf_maps: EBPF_TRY(read_btf_maps(s)); break;
      case SectionRole::data: EBPF_TRY(read_data_section(s)); break;
      default: break;
    }
  }
  EBPF_TRY(read_kconfig_externs());
  index_maps();
  functions.resize(elf.sections().size());
  reserve_functions();
  for (const auto& s : elf.sections())
    if (roles[s.index] == SectionRole::code) EBPF_TRY(read_functions(s));
  for (const auto& s : elf.sections())
    if ((s.type == elf::kShtRel || s.type == elf::kShtRela) && s.info < roles.size() &&
        roles[s.info] == SectionRole::code)
      EBPF_TRY(read_code_relocations(s));
  EBPF_TRY(resolve_unrelocated_calls());
  EBPF_TRY(read_struct_ops_sections(*this));  // struct_ops_spec.cpp: needs the functions read above
  EBPF_TRY(read_map_slot_relocations());
  EBPF_TRY(attach_btf_ext());
  for (auto& p : spec.programs) {
    p.license = spec.license;
    p.kernel_version = spec.kernel_version;
  }
  // Maps are appended by several readers: give back the growth slack (the spec may live long).
  if (spec.maps.capacity() != spec.maps.size()) spec.maps.shrink_to_fit();
  return ok();
}

}  // namespace detail

Result<ObjectSpec> ObjectSpec::parse(std::span<const std::byte> bytes) {
  auto file = EBPF_TRY(elf::File::view(bytes));
  detail::SpecParser parser(file);
  EBPF_TRY(parser.run());
  return std::move(parser.spec);
}

Result<ObjectSpec> ObjectSpec::open(const std::string& path) {
  auto file = EBPF_TRY(elf::File::open(path));
  detail::SpecParser parser(file);
  auto r = parser.run();
  if (!r) return Error(r.error()).context("'" + path + "'");
  return std::move(parser.spec);
}

ProgramSpec* ObjectSpec::program(std::string_view n) noexcept {
  for (auto& p : programs)
    if (p.name == n) return &p;
  return nullptr;
}
const ProgramSpec* ObjectSpec::program(std::string_view n) const noexcept {
  return const_cast<ObjectSpec*>(this)->program(n);
}
MapDefinition* ObjectSpec::map(std::string_view n) noexcept {
  for (auto& m : maps)
    if (m.name == n) return &m;
  return nullptr;
}
const MapDefinition* ObjectSpec::map(std::string_view n) const noexcept {
  return const_cast<ObjectSpec*>(this)->map(n);
}
const ProgramSpec* ObjectSpec::function(std::string_view n) const noexcept {
  if (const auto* p = program(n)) return p;
  for (const auto& s : subprograms)
    if (s.name == n) return &s;
  return nullptr;
}
std::size_t ObjectSpec::core_relocation_count() const noexcept {
  std::size_t n = 0;
  for (const auto& p : programs) n += p.core_relos.size();
  for (const auto& p : subprograms) n += p.core_relos.size();
  return n;
}

Result<std::vector<CoreFunctionReport>> ObjectSpec::core_report(const btf::Btf& target) const {
  std::vector<CoreFunctionReport> out;
  if (!btf) {
    if (core_relocation_count() == 0) return out;
    return Error(Errc::bad_format, "CO-RE", "the object has CO-RE relocations but no .BTF");
  }
  for (const auto* list : {&programs, &subprograms})
    for (const auto& fn : *list) {
      if (fn.core_relos.empty()) continue;
      std::vector<Insn> insns = fn.insns;
      auto report = btf::core::relocate(*btf, fn.core_relos, target, insns);
      if (!report) return Error(report.error()).context("CO-RE in '" + fn.name + "'");
      out.push_back({fn.name, std::move(*report)});
    }
  return out;
}

std::string_view name(RelocationKind kind) noexcept {
  switch (kind) {
    case RelocationKind::map_fd: return "map_fd";
    case RelocationKind::map_value: return "map_value";
    case RelocationKind::subprog_call: return "subprog_call";
    case RelocationKind::subprog_addr: return "subprog_addr";
    case RelocationKind::kconfig: return "kconfig";
    case RelocationKind::ksym: return "ksym";
    case RelocationKind::kfunc_call: return "kfunc_call";
  }
  return "unknown";
}

std::string_view name(MapSource source) noexcept {
  switch (source) {
    case MapSource::btf: return "btf";
    case MapSource::legacy: return "legacy";
    case MapSource::data_section: return "data_section";
    case MapSource::kconfig: return "kconfig";
  }
  return "unknown";
}

}  // namespace ebpf
