// ebpf/object_spec.hpp — what a BPF ELF object (clang -target bpf output) declares, as plain data.
//
// Parsing touches no kernel: it produces copyable specs you can inspect and adjust before a separate load step
// (ebpf/object.hpp). An ObjectSpec holds
//   - programs: every function in an executable section other than .text, classified by section name;
//   - subprograms: .text functions, linked into the programs that call them at load time;
//   - maps: BTF-defined (.maps), legacy (`maps` section, struct bpf_map_def and iproute2's bpf_elf_map),
//     global data (.data, .rodata, .bss, .data.*, .rodata.*) as 1-entry ARRAY maps, and .kconfig for externs;
//   - per-function relocations still to apply (map fds, global data addresses, calls, externs) and the
//     function's .BTF.ext func_info / line_info / CO-RE records, all relative to the function's first insn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ebpf/btf.hpp"
#include "ebpf/btf/core.hpp"
#include "ebpf/btf/ext.hpp"
#include "ebpf/error.hpp"
#include "ebpf/insn.hpp"
#include "ebpf/section.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

enum class RelocationKind {
  map_fd,          // ld_imm64 of a map: patch src=BPF_PSEUDO_MAP_FD, imm=fd
  map_value,       // ld_imm64 of an address inside a map's value (global data): BPF_PSEUDO_MAP_VALUE + offset
  subprog_call,    // bpf-to-bpf call: imm becomes the relative insn offset once the callee is linked in
  subprog_addr,    // ld_imm64 of a function address (callbacks, bpf_loop): BPF_PSEUDO_FUNC
  kconfig,         // ld_imm64 of a .kconfig extern: map_value into the .kconfig map at `offset`
  ksym,            // ld_imm64 of a kernel variable (__ksym): BPF_PSEUDO_BTF_ID
  kfunc_call,      // call of a kernel function (__ksym func): BPF_PSEUDO_KFUNC_CALL
};
std::string_view name(RelocationKind kind) noexcept;

struct Relocation {
  std::uint32_t insn = 0;  // instruction index within the function
  RelocationKind kind = RelocationKind::map_fd;
  std::string symbol;      // map name, extern name, or callee function name
  std::uint64_t offset = 0;  // map_value/kconfig: byte offset in the value; subprog_*: insn offset in callee
  bool weak = false;         // weak extern: may be left unresolved
};

struct ProgramSpec {
  std::string name;            // function symbol
  std::string section;         // ELF section name ("kprobe/do_unlinkat", ".text")
  std::uint32_t section_index = 0;
  std::uint64_t section_offset = 0;  // byte offset of the first insn within the section
  bool global = true;          // STB_GLOBAL (false: static function)
  bool subprogram = false;     // a .text function, not an entry point
  bool autoload = true;        // load() skips programs with autoload off

  // From the section name; adjustable before load.
  ProgType type = ProgType::unspec;
  std::optional<AttachType> expected_attach_type;
  std::string attach_to;       // the section's target ("do_unlinkat", "sched/sched_switch")
  std::uint32_t flags = 0;     // BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS
  std::optional<ProgramSection> section_info;  // nullopt when the name follows no convention
  // freplace / fentry on a BPF program: the target program's fd (borrowed; it must stay open until load) and
  // function (attach_to). The loader turns them into attach_prog_fd + attach_btf_id via
  // btf::program_function() (ebpf/btf/program_target.hpp). Set both with set_attach_target().
  int attach_prog_fd = -1;
  void set_attach_target(int prog_fd, std::string function) {
    attach_prog_fd = prog_fd;
    attach_to = std::move(function);
  }

  std::string license;         // copied from the object's license section
  std::uint32_t kernel_version = 0;

  std::vector<Insn> insns;
  std::vector<Relocation> relocations;
  // .BTF.ext records of this function; insn_off are BYTE offsets from the function's first instruction.
  std::vector<btf::FuncInfo> func_info;
  std::vector<btf::LineInfo> line_info;
  std::vector<btf::CoreRelo> core_relos;
};

enum class MapSource { btf, legacy, data_section, kconfig };
std::string_view name(MapSource source) noexcept;

enum class PinType : std::uint32_t { none = 0, by_name = 1, global_ns = 2 };

// A global variable inside a data-section map (for setting .rodata constants by name).
struct Variable {
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  btf::TypeId btf_type = 0;  // the VAR's type in the object's BTF, 0 when unknown
  bool global = true;
  bool weak = false;       // (kconfig) weak extern
};

struct MapDefinition {
  std::string name;          // symbol name, or the section name for global data (".rodata", ".data.foo")
  MapSource source = MapSource::btf;
  MapType type = MapType::unspec;
  std::uint32_t key_size = 0, value_size = 0, max_entries = 0, flags = 0;
  std::uint32_t numa_node = 0;
  std::uint64_t map_extra = 0;
  PinType pinning = PinType::none;
  btf::TypeId btf_key_type = 0, btf_value_type = 0;  // in the object's BTF, 0 when sized only
  btf::TypeId btf_var_type = 0;                       // the map's definition struct / DATASEC

  // Inner map template for ARRAY_OF_MAPS / HASH_OF_MAPS (0 or 1 element).
  std::vector<MapDefinition> inner;
  // `values` initialisation from .rel.maps: slot index -> program name (PROG_ARRAY) or map name (map-in-map).
  std::vector<std::pair<std::uint32_t, std::string>> initial_slots;

  // Global data: initial contents (value_size bytes; all zero for .bss), variables, read-only (.rodata).
  std::vector<std::byte> contents;
  std::vector<Variable> variables;
  bool readonly = false;

  // Where it was defined (for relocation matching).
  std::uint32_t section_index = 0;
  std::uint64_t section_offset = 0;
};

// Where the symbols of a section described by a BTF DATASEC really are. Compilers leave DATASEC sizes and
// variable offsets at 0 for the loader to fill in from the ELF symbol table before the BTF reaches the kernel.
struct DatasecLayout {
  std::string section;  // ".data", ".maps", "license", ...
  std::uint64_t size = 0;
  std::vector<std::pair<std::string, std::uint64_t>> symbols;  // name -> offset in the section
};

// The CO-RE outcome of one function (program or subprogram) against a target BTF.
struct CoreFunctionReport {
  std::string function;
  btf::core::Report report;  // relocations applied, and those poisoned with the reason
};

struct ObjectSpec {
  std::string license;
  std::uint32_t kernel_version = 0;
  std::vector<ProgramSpec> programs;
  std::vector<ProgramSpec> subprograms;
  std::vector<MapDefinition> maps;
  std::optional<btf::Btf> btf;        // the object's .BTF
  std::optional<btf::BtfExt> btf_ext; // its .BTF.ext
  std::vector<DatasecLayout> datasec_layouts;  // for every DATASEC naming an ELF section

  // Parses an object (little-endian EM_BPF relocatable ELF) held in memory; the spec keeps copies, so the
  // bytes may be freed afterwards.
  static Result<ObjectSpec> parse(std::span<const std::byte> bytes);
  static Result<ObjectSpec> open(const std::string& path);

  ProgramSpec* program(std::string_view name) noexcept;
  const ProgramSpec* program(std::string_view name) const noexcept;
  MapDefinition* map(std::string_view name) noexcept;
  const MapDefinition* map(std::string_view name) const noexcept;
  // A function (program or subprogram) by name.
  const ProgramSpec* function(std::string_view name) const noexcept;

  std::size_t core_relocation_count() const noexcept;
  // Runs CO-RE for every function with relocations against `target` (e.g. Btf::load_vmlinux()) on copies of
  // its instructions: what load() relocates and what it poisons, and why. Errors only for malformed input.
  Result<std::vector<CoreFunctionReport>> core_report(const btf::Btf& target) const;
};

}  // namespace ebpf
