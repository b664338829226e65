// Private: the state shared by the ObjectSpec parsing steps (sections, functions, maps, relocations).
#pragma once

#include <map>
#include <string>
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
  std::vector<SectionRole> roles;                                 // by section index
  std::map<std::uint32_t, std::vector<FunctionRef>> functions;    // by section index, sorted by offset
  std::map<std::uint32_t, std::size_t> data_maps;                 // data section index -> spec.maps index
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::size_t> map_at;  // (section, offset) -> maps index
  std::map<std::string, std::uint64_t, std::less<>> kconfig_offsets;     // extern name -> .kconfig offset
  std::map<std::string, bool, std::less<>> btf_externs;  // extern name -> true for .kconfig, false for .ksyms
  std::map<std::size_t, std::uint64_t> values_offset;   // BTF map index -> byte offset of its `values` member

  Result<void> run();

  // spec_sections.cpp
  Result<void> classify_sections();
  Result<void> read_license_and_version();
  Result<void> read_btf();
  // spec_maps.cpp
  Result<void> read_legacy_maps(const elf::Section& section);
  Result<void> read_btf_maps(const elf::Section& section);
  Result<void> read_data_section(const elf::Section& section);
  Result<void> read_kconfig_externs();
  Result<void> read_map_slot_relocations();
  // spec_programs.cpp
  Result<void> read_functions(const elf::Section& section);
  Result<void> read_code_relocations(const elf::Section& rel_section);
  Result<void> resolve_unrelocated_calls();
  Result<void> attach_btf_ext();

  ProgramSpec& function(const FunctionRef& ref) {
    return ref.subprogram ? spec.subprograms[ref.index] : spec.programs[ref.index];
  }
  // The function containing byte `offset` of code section `section`, or nullptr.
  const FunctionRef* function_at(std::uint32_t section, std::uint64_t offset) const;
  std::string section_name(std::uint32_t index) const;
};

Error bad_object(std::string message);

}  // namespace ebpf::detail
