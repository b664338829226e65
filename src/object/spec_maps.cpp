// ObjectSpec parsing: map definitions (BTF .maps, legacy `maps`, global data sections, .kconfig externs)
// and the `values` initialisation of prog arrays / map-in-maps from .rel.maps.
#include <algorithm>
#include <bit>
#include <cstring>
#include <tuple>

#include "spec_parser.hpp"

namespace ebpf::detail {
namespace {

std::uint32_t u32_at(std::span<const std::byte> d, std::uint64_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, d.data() + at, 4);
  return v;
}

// BTF map definitions encode integers as `int (*name)[N]` (N = value) or, for 64-bit values, as an
// enum with one enumerator (libbpf's __ulong).
Result<std::uint64_t> btf_map_int(const btf::Btf& btf, btf::TypeId member_type, std::string_view field) {
  auto t = EBPF_TRY(btf.skip_modifiers(member_type));
  if (t.kind() == btf::Kind::ptr) {
    auto arr = EBPF_TRY(btf.skip_modifiers(t.ref()));
    if (arr.kind() == btf::Kind::array) return arr.array().nelems;
  } else if (t.is_enum() && t.vlen() == 1) {
    return static_cast<std::uint64_t>(t.enum_value(0).value);
  }
  return bad_object("map field '" + std::string(field) + "' is not encoded as int (*)[N] (BTF kind " +
                    std::string(btf::kind_name(t.kind())) + ")");
}

// `key`/`value` members are pointers to the type: returns the pointee type id.
Result<btf::TypeId> btf_map_type(const btf::Btf& btf, btf::TypeId member_type, std::string_view field) {
  auto t = EBPF_TRY(btf.skip_modifiers(member_type));
  if (t.kind() != btf::Kind::ptr)
    return bad_object("map field '" + std::string(field) + "' is not a pointer to the " + std::string(field) +
                      " type");
  return t.ref();
}

bool is_map_in_map(MapType t) { return t == MapType::array_of_maps || t == MapType::hash_of_maps; }

Result<MapDefinition> parse_btf_map_def(const btf::Btf& btf, btf::TypeId def_id, std::string name,
                                        std::uint64_t* values_offset, int depth);

Result<void> apply_btf_map_member(const btf::Btf& btf, const btf::Member& m, MapDefinition& def,
                                  std::uint64_t* values_offset, int depth) {
  std::string_view f = m.name;
  if (f == "type") {
    def.type = static_cast<MapType>(EBPF_TRY(btf_map_int(btf, m.type, f)));
  } else if (f == "max_entries") {
    def.max_entries = static_cast<std::uint32_t>(EBPF_TRY(btf_map_int(btf, m.type, f)));
  } else if (f == "map_flags") {
    def.flags = static_cast<std::uint32_t>(EBPF_TRY(btf_map_int(btf, m.type, f)));
  } else if (f == "numa_node") {
    def.numa_node = static_cast<std::uint32_t>(EBPF_TRY(btf_map_int(btf, m.type, f)));
  } else if (f == "map_extra") {
    def.map_extra = EBPF_TRY(btf_map_int(btf, m.type, f));
  } else if (f == "pinning") {
    auto pin = EBPF_TRY(btf_map_int(btf, m.type, f));
    if (pin > 2) return bad_object("unknown pinning value " + std::to_string(pin));
    def.pinning = static_cast<PinType>(pin);
  } else if (f == "key_size" || f == "value_size") {
    auto size = static_cast<std::uint32_t>(EBPF_TRY(btf_map_int(btf, m.type, f)));
    auto& slot = f == "key_size" ? def.key_size : def.value_size;
    if (slot != 0 && slot != size)
      return bad_object(std::string(f) + " " + std::to_string(size) + " conflicts with the " +
                        std::string(f.substr(0, f.find('_'))) + " type's size " + std::to_string(slot));
    slot = size;
  } else if (f == "key" || f == "value") {
    auto type = EBPF_TRY(btf_map_type(btf, m.type, f));
    auto size = EBPF_TRY(btf.resolve_size(type));
    auto& slot = f == "key" ? def.key_size : def.value_size;
    if (slot != 0 && slot != size)
      return bad_object(std::string(f) + " type size " + std::to_string(size) + " conflicts with " +
                        std::string(f) + "_size " + std::to_string(slot));
    slot = size;
    (f == "key" ? def.btf_key_type : def.btf_value_type) = type;
  } else if (f == "values") {
    if (values_offset) *values_offset = m.bit_offset / 8;
    auto arr = EBPF_TRY(btf.skip_modifiers(m.type));
    if (arr.kind() != btf::Kind::array) return bad_object("map field 'values' is not an array");
    auto ptr = EBPF_TRY(btf.skip_modifiers(arr.array().elem_type));
    if (ptr.kind() != btf::Kind::ptr) return bad_object("map field 'values' is not an array of pointers");
    auto pointee = EBPF_TRY(btf.skip_modifiers(ptr.ref()));
    if (pointee.is_struct_or_union()) {
      if (depth > 0) return bad_object("map-in-map nesting deeper than one level");
      auto inner = EBPF_TRY(parse_btf_map_def(btf, pointee.id(), def.name + ".inner", nullptr, depth + 1));
      def.inner.assign(1, std::move(inner));
      if (def.value_size == 0) def.value_size = 4;  // the kernel stores inner map ids
    } else if (pointee.kind() == btf::Kind::func_proto) {
      if (def.value_size == 0) def.value_size = 4;  // prog array slots hold program fds
    } else {
      return bad_object("map field 'values' points to BTF kind " + std::string(btf::kind_name(pointee.kind())));
    }
  }
  // Unknown fields are ignored: newer compilers/headers may add members we do not need.
  return ok();
}

Result<MapDefinition> parse_btf_map_def(const btf::Btf& btf, btf::TypeId def_id, std::string name,
                                        std::uint64_t* values_offset, int depth) {
  MapDefinition def;
  def.name = std::move(name);
  def.source = MapSource::btf;
  def.btf_var_type = def_id;
  auto st = EBPF_TRY(btf.skip_modifiers(def_id));
  if (st.kind() != btf::Kind::struct_)
    return bad_object("map '" + def.name + "' is not defined by a struct (BTF kind " +
                      std::string(btf::kind_name(st.kind())) + ")");
  for (std::uint32_t i = 0; i < st.vlen(); ++i) {
    auto r = apply_btf_map_member(btf, st.member(i), def, values_offset, depth);
    if (!r) return Error(r.error()).context("map '" + def.name + "'");
  }
  if (is_map_in_map(def.type) && def.inner.empty() && depth == 0 && def.value_size == 0) def.value_size = 4;
  return def;
}

}  // namespace

Result<void> SpecParser::read_btf_maps(const elf::Section& section) {
  if (!spec.btf) return bad_object("section '.maps' needs BTF but the object has no .BTF section");
  const auto& btf = *spec.btf;
  auto datasec = this->datasec(".maps");
  if (!datasec) return bad_object("section '.maps' has no DATASEC '.maps' in .BTF");
  for (std::uint32_t i = 0; i < datasec->vlen(); ++i) {
    auto info = datasec->secinfo(i);
    auto var = EBPF_TRY(btf.type(info.type));
    if (var.kind() != btf::Kind::var)
      return bad_object("DATASEC '.maps' entry " + std::to_string(i) + " is not a VAR");
    // Compilers leave DATASEC offsets at 0 (loaders fill them in): the symbol table has the real offset.
    const elf::Symbol* sym = nullptr;
    for (std::uint32_t i : symbols_in(section.index)) {
      const auto& s = symbol(i);
      if (s.name == var.name() && s.type != elf::kSttSection) sym = &s;
    }
    if (sym == nullptr)
      return bad_object("map '" + std::string(var.name()) + "' in DATASEC '.maps' has no symbol in section '.maps'");
    std::uint64_t offset = sym->value;
    std::uint64_t extent = section.nobits() ? section.size : elf.data(section).size();
    if (offset > extent || info.size > extent - offset)
      return bad_object("map '" + std::string(var.name()) + "' at offset " + std::to_string(offset) +
                        " lies outside section '.maps' (" + std::to_string(section.size) + " bytes)");
    // A BTF map definition carries its values in BTF; its bytes must be zero (`values` slots are relocated).
    if (!section.nobits()) {
      auto bytes = elf.data(section).subspan(offset, info.size);
      if (std::any_of(bytes.begin(), bytes.end(), [](std::byte b) { return b != std::byte{0}; }))
        return bad_object("map '" + std::string(var.name()) + "' has non-zero initial data in '.maps'; only "
                          "`values` may be initialised");
    }
    std::uint64_t values_off = 0;
    auto def = EBPF_TRY(parse_btf_map_def(btf, var.ref(), std::string(var.name()), &values_off, 0));
    def.section_index = section.index;
    def.section_offset = offset;
    map_at.push_back({section.index, offset, spec.maps.size()});
    values_offset.resize(spec.maps.size() + 1);
    values_offset[spec.maps.size()] = values_off;
    spec.maps.push_back(std::move(def));
  }
  return ok();
}

Result<void> SpecParser::read_legacy_maps(const elf::Section& section) {
  std::vector<const elf::Symbol*> syms;
  for (std::uint32_t i : symbols_in(section.index)) {
    const auto& sym = symbol(i);
    if (sym.type != elf::kSttSection && sym.type != elf::kSttFile && !sym.name.empty()) syms.push_back(&sym);
  }
  if (syms.empty()) return ok();
  std::sort(syms.begin(), syms.end(), [](auto* a, auto* b) { return a->value < b->value; });
  auto d = elf.data(section);
  if (d.size() % syms.size() != 0)
    return bad_object("section " + section_name(section.index) + ": size " + std::to_string(d.size()) +
                      " is not a multiple of its " + std::to_string(syms.size()) + " map symbols");
  std::uint64_t stride = d.size() / syms.size();
  if (stride < 16 || stride % 4 != 0)
    return bad_object("section " + section_name(section.index) + ": map definitions of " +
                      std::to_string(stride) + " bytes are too small (need type, key, value, max_entries)");
  for (const auto* sym : syms) {
    if (sym->value % 4 != 0 || sym->value > d.size() || stride > d.size() - sym->value)
      return bad_object("map '" + std::string(sym->name) + "' at offset " + std::to_string(sym->value) +
                        " lies outside section " + section_name(section.index));
    auto field = [&](std::uint64_t i) { return i * 4 < stride ? u32_at(d, sym->value + i * 4) : 0u; };
    // struct bpf_map_def has 5 fields, iproute2's bpf_elf_map 9: anything else must be zero padding.
    std::uint64_t known = stride >= 36 ? 36 : 20;
    for (std::uint64_t i = known; i < stride; ++i)
      if (d[sym->value + i] != std::byte{0})
        return bad_object("map '" + std::string(sym->name) + "': unknown non-zero data at byte " + std::to_string(i) +
                          " of its " + std::to_string(stride) + "-byte definition");
    MapDefinition def;
    def.name = std::string(sym->name);
    def.source = MapSource::legacy;
    def.type = static_cast<MapType>(field(0));
    def.key_size = field(1);
    def.value_size = field(2);
    def.max_entries = field(3);
    def.flags = field(4);
    if (stride >= 28) {  // iproute2's struct bpf_elf_map: id, pinning, inner_id, inner_idx follow
      auto pin = field(6);
      def.pinning = pin == 0 ? PinType::none : pin == 1 ? PinType::by_name : PinType::global_ns;
    }
    def.section_index = section.index;
    def.section_offset = sym->value;
    map_at.push_back({section.index, sym->value, spec.maps.size()});
    spec.maps.push_back(std::move(def));
  }
  return ok();
}

Result<void> SpecParser::read_data_section(const elf::Section& section) {
  if (section.size == 0) return ok();
  // File-backed sections are bounded by the file; a .bss claims memory, so bound it explicitly.
  constexpr std::uint64_t kMaxBss = 64u << 20;
  if (section.size > UINT32_MAX || (section.nobits() && section.size > kMaxBss))
    return bad_object("data section " + section_name(section.index) + " of " + std::to_string(section.size) +
                      " bytes is too big");
  MapDefinition def;
  def.name = std::string(section.name);
  def.source = MapSource::data_section;
  def.type = MapType::array;
  def.key_size = 4;
  def.value_size = static_cast<std::uint32_t>(section.size);
  def.max_entries = 1;
  def.readonly = section.name.starts_with(".rodata");
  def.flags = map_flags::mmapable | (def.readonly ? map_flags::rdonly_prog : 0);
  if (section.nobits())
    def.contents.assign(section.size, std::byte{0});
  else {
    auto d = elf.data(section);
    def.contents.assign(d.begin(), d.end());
  }
  auto syms = symbols_in(section.index);
  auto is_variable = [](const elf::Symbol& sym) {
    return !sym.name.empty() && sym.type != elf::kSttSection && sym.type != elf::kSttFile &&
           sym.type != elf::kSttFunc && !sym.name.starts_with(".L");  // .L: assembler labels of string literals
  };
  def.variables.reserve(static_cast<std::size_t>(
      std::count_if(syms.begin(), syms.end(), [&](std::uint32_t i) { return is_variable(symbol(i)); })));
  for (std::uint32_t i : syms) {
    const auto& sym = symbol(i);
    if (is_variable(sym))
      def.variables.push_back({std::string(sym.name), sym.value, sym.size, 0, sym.bind != elf::kStbLocal, false});
  }
  if (spec.btf) {
    if (auto ds = datasec(section.name)) {
      def.btf_var_type = def.btf_value_type = ds->id();
      for (std::uint32_t i = 0; i < ds->vlen(); ++i) {
        auto info = ds->secinfo(i);
        auto var = spec.btf->at(info.type);
        auto it = std::find_if(def.variables.begin(), def.variables.end(),
                               [&](const Variable& v) { return v.name == var.name(); });
        if (it != def.variables.end()) it->btf_type = var.ref();
      }
    }
  }
  std::sort(def.variables.begin(), def.variables.end(),
            [](const Variable& a, const Variable& b) { return a.offset < b.offset; });
  def.section_index = section.index;
  data_maps[section.index] = spec.maps.size();  // sized for every section by run()
  spec.maps.push_back(std::move(def));
  return ok();
}

namespace {
constexpr std::uint64_t kMaxKconfigExternSize = 4096;
}  // namespace

Result<void> SpecParser::read_kconfig_externs() {
  auto is_extern = [](const elf::Symbol& sym) {
    return sym.undefined() && !sym.name.empty() && sym.bind != elf::kStbLocal && sym.type != elf::kSttFunc;
  };
  if (std::none_of(elf.symbols().begin(), elf.symbols().end(), is_extern)) return ok();
  // BTF says which externs are Kconfig values (.kconfig) and which kernel symbols (.ksyms); for a name listed
  // more than once the last entry wins. Sorted by name, then listing order, for lookups.
  struct BtfExtern {
    std::string_view name;
    bool is_kconfig = false, typed = false;  // typed: a .kconfig VAR, with its size and type
    std::uint64_t size = 0;
    btf::TypeId type = 0;
    std::uint32_t order = 0;  // position in the listing
  };
  std::vector<BtfExtern> btf_externs;
  if (spec.btf) {
    for (auto [sec, is_kconfig] : {std::pair{".kconfig", true}, std::pair{".ksyms", false}}) {
      auto ds = datasec(sec);
      if (!ds) continue;
      for (std::uint32_t i = 0; i < ds->vlen(); ++i) {
        auto t = spec.btf->at(ds->secinfo(i).type);
        BtfExtern e{t.name(), is_kconfig, false, 0, 0, 0};
        if (is_kconfig && t.kind() == btf::Kind::var) {
          auto size = spec.btf->resolve_size(t.ref());
          e.typed = true, e.size = size ? *size : 8, e.type = t.ref();
        }
        e.order = static_cast<std::uint32_t>(btf_externs.size());
        btf_externs.push_back(e);
      }
    }
  }
  std::sort(btf_externs.begin(), btf_externs.end(), [](const BtfExtern& a, const BtfExtern& b) {
    return std::pair{a.name, a.order} < std::pair{b.name, b.order};
  });
  auto entries = [&](std::string_view name) {
    auto [lo, hi] = std::equal_range(btf_externs.begin(), btf_externs.end(), BtfExtern{name},
                                     [](const BtfExtern& a, const BtfExtern& b) { return a.name < b.name; });
    return std::span<const BtfExtern>(lo, hi);
  };
  MapDefinition def;
  def.name = ".kconfig";
  def.source = MapSource::kconfig;
  def.type = MapType::array;
  def.key_size = 4;
  def.max_entries = 1;
  def.readonly = true;
  def.flags = map_flags::mmapable | map_flags::rdonly_prog;
  std::uint64_t offset = 0;
  for (const auto& sym : elf.symbols()) {
    if (!is_extern(sym)) continue;
    auto listed = entries(sym.name);
    bool is_kconfig = !listed.empty() ? listed.back().is_kconfig
                                      : (sym.name.starts_with("CONFIG_") || sym.name.starts_with("LINUX_"));
    if (!is_kconfig || kconfig_offsets.contains(sym.name)) continue;
    auto typed = std::find_if(listed.rbegin(), listed.rend(), [](const BtfExtern& e) { return e.typed; });
    std::uint64_t size = typed != listed.rend() ? typed->size : 8;
    // Kconfig values are integers, bools, tristates or short strings; a huge BTF size is a corrupt object,
    // and trusting it would size the .kconfig map (and our copy of it) from attacker-controlled input.
    if (size > kMaxKconfigExternSize) {
      return bad_object("kconfig extern '" + std::string(sym.name) + "' has " + std::to_string(size) +
                        " bytes (at most " + std::to_string(kMaxKconfigExternSize) + ")");
    }
    btf::TypeId type = typed != listed.rend() ? typed->type : 0;
    std::uint64_t align = std::min<std::uint64_t>(std::bit_ceil(std::max<std::uint64_t>(size, 1)), 8);
    offset = (offset + align - 1) / align * align;
    kconfig_offsets[sym.name] = offset;
    def.variables.push_back({std::string(sym.name), offset, size, type, true, sym.bind == elf::kStbWeak});
    offset += size;
  }
  if (def.variables.empty()) return ok();
  def.value_size = static_cast<std::uint32_t>((offset + 7) / 8 * 8);
  def.contents.assign(def.value_size, std::byte{0});
  spec.maps.push_back(std::move(def));
  return ok();
}

void SpecParser::index_maps() {
  auto key = [](const MapAt& m) { return std::pair{m.section, m.offset}; };
  // Entries were appended in spec.maps order, so the index breaks ties in definition order.
  std::sort(map_at.begin(), map_at.end(), [&](const MapAt& a, const MapAt& b) {
    return std::tuple{a.section, a.offset, a.index} < std::tuple{b.section, b.offset, b.index};
  });
  // Equal keys: keep the last definition (what assigning into a map by key did).
  std::size_t kept = 0;
  for (std::size_t i = 0; i < map_at.size(); ++i) {
    if (i + 1 < map_at.size() && key(map_at[i + 1]) == key(map_at[i])) continue;
    map_at[kept++] = map_at[i];
  }
  map_at.resize(kept);
}

std::size_t SpecParser::map_defined_at(std::uint32_t section, std::uint64_t offset) const noexcept {
  auto it = std::lower_bound(map_at.begin(), map_at.end(), std::pair{section, offset},
                             [](const MapAt& m, const auto& key) { return std::pair{m.section, m.offset} < key; });
  return it != map_at.end() && it->section == section && it->offset == offset ? it->index : SIZE_MAX;
}

Result<void> SpecParser::read_map_slot_relocations() {
  const elf::Section* maps_section = elf.section(".maps");
  if (maps_section == nullptr) return ok();
  for (const auto& s : elf.sections()) {
    if ((s.type != elf::kShtRel && s.type != elf::kShtRela) || s.info != maps_section->index) continue;
    auto relocs = EBPF_TRY(elf.relocations(s));
    for (const auto& r : relocs) {
      const auto& sym = elf.symbols()[r.symbol];
      // The map whose definition contains the relocated pointer.
      // The map whose definition contains the relocated pointer: the last one starting at or before it.
      auto after = std::upper_bound(map_at.begin(), map_at.end(), std::pair{maps_section->index, r.offset},
                                    [](const auto& key, const MapAt& m) {
                                      return key < std::pair{m.section, m.offset};
                                    });
      if (after == map_at.begin() || std::prev(after)->section != maps_section->index)
        return bad_object("'.rel.maps' entry at offset " + std::to_string(r.offset) + " matches no map");
      const std::size_t map_index = std::prev(after)->index;
      auto& def = spec.maps[map_index];
      std::uint64_t base = def.section_offset + (map_index < values_offset.size() ? values_offset[map_index] : 0);
      if (r.offset < base || (r.offset - base) % 8 != 0)
        return bad_object("map '" + def.name + "': '.rel.maps' entry at offset " + std::to_string(r.offset) +
                          " is not a `values` slot");
      auto slot = static_cast<std::uint32_t>((r.offset - base) / 8);
      if (def.max_entries != 0 && slot >= def.max_entries)
        return bad_object("map '" + def.name + "': `values` slot " + std::to_string(slot) +
                          " is beyond max_entries " + std::to_string(def.max_entries));
      def.initial_slots.emplace_back(slot, std::string(sym.name));
    }
  }
  return ok();
}

}  // namespace ebpf::detail
