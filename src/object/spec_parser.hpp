// Private: the state shared by the ObjectSpec parsing steps (sections, functions, maps, relocations).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"

namespace ebpf::detail {

enum class SectionRole { other, code, legacy_maps, btf_maps, data, license, version };

// A function's place in its section and in the spec.
struct FunctionRef {
  std::uint64_t offset = 0, size = 0;  // bytes within the section
  bool subprogram = false;
  std::size_t index = 0;  // into spec.programs or spec.subprograms
};

struct SpecParser {
  explicit SpecParser(const elf::File& file) : elf(file) {}

  const elf::File& elf;
  ObjectSpec spec;
  std::vector<SectionRole> roles;  // by section index
  // Symbol indexes grouped by section (symbol-table order within a section): the symbols of section i are
  // section_symbols[symbols_from[i] .. symbols_from[i+1]). Built once, so no step rescans the whole table.
  std::vector<std::uint32_t> section_symbols, symbols_from;
  // DATASECs of the object's BTF by name (the first of each name, in id order), found in one pass over .BTF.
  std::vector<std::pair<std::string_view, btf::TypeId>> datasecs;
  // Functions of every code section, by section then offset: those of section i are
  // function_refs[functions[i].begin, functions[i].end); `disjoint` when no two overlap (lookups can bisect).
  struct SectionFunctions {
    std::uint32_t begin = 0, end = 0;
    bool disjoint = true;
  };
  std::vector<SectionFunctions> functions;  // by section index
  std::vector<FunctionRef> function_refs;
  std::vector<const elf::Symbol*> scratch_symbols;  // reused by the function readers
  std::vector<std::size_t> data_maps;  // data section index -> spec.maps index (SIZE_MAX: none)
  // (section, offset) -> spec.maps index of the maps defined in map sections; sorted by index_maps() once all
  // are read (for equal keys the last definition wins).
  struct MapAt {
    std::uint32_t section = 0;
    std::uint64_t offset = 0;
    std::size_t index = 0;
  };
  std::vector<MapAt> map_at;
  // Extern name -> .kconfig offset; names point into the ELF's string table (alive while parsing).
  std::map<std::string_view, std::uint64_t> kconfig_offsets;
  std::vector<std::uint64_t> values_offset;  // spec.maps index -> byte offset of its `values` member (BTF maps)

  Result<void> run();

  // spec_sections.cpp
  void group_symbols();
  std::span<const std::uint32_t> symbols_in(std::uint32_t section) const noexcept {
    if (std::size_t{section} + 1 >= symbols_from.size()) return {};
    return std::span(section_symbols).subspan(symbols_from[section], symbols_from[section + 1] - symbols_from[section]);
  }
  const elf::Symbol& symbol(std::uint32_t index) const noexcept { return elf.symbols()[index]; }
  // The DATASEC named `name` in the object's BTF (what spec.btf->find(name, Kind::datasec) returns).
  std::optional<btf::Type> datasec(std::string_view name) const noexcept;
  Result<void> classify_sections();
  Result<void> read_license_and_version();
  Result<void> read_btf();
  // spec_maps.cpp
  Result<void> read_legacy_maps(const elf::Section& section);
  Result<void> read_btf_maps(const elf::Section& section);
  Result<void> read_data_section(const elf::Section& section);
  Result<void> read_kconfig_externs();
  void index_maps();
  std::size_t map_defined_at(std::uint32_t section, std::uint64_t offset) const noexcept;  // SIZE_MAX: none
  Result<void> read_map_slot_relocations();
  // spec_programs.cpp
  // The symbols naming functions of a code section, sorted by offset, one per offset.
  void function_symbols(const elf::Section& section, std::vector<const elf::Symbol*>& out) const;
  void reserve_functions();
  Result<void> read_functions(const elf::Section& section);
  Result<void> read_code_relocations(const elf::Section& rel_section);
  Result<void> resolve_unrelocated_calls();
  Result<void> attach_btf_ext();

  ProgramSpec& function(const FunctionRef& ref) {
    return ref.subprogram ? spec.subprograms[ref.index] : spec.programs[ref.index];
  }
  std::span<const FunctionRef> functions_in(std::uint32_t section) const noexcept {
    if (section >= functions.size()) return {};
    return std::span(function_refs).subspan(functions[section].begin, functions[section].end - functions[section].begin);
  }
  // The function containing byte `offset` of code section `section`, or nullptr.
  const FunctionRef* function_at(std::uint32_t section, std::uint64_t offset) const;
  std::string section_name(std::uint32_t index) const;
};

Error bad_object(std::string message);

}  // namespace ebpf::detail
