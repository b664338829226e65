// Private: Object's state and the load steps (maps, BTF, linking, programs), one file per step.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/object.hpp"

namespace ebpf {

struct Object::State {
  ObjectSpec spec;
  bool loaded = false;
  std::optional<btf::Btf> kernel_btf_storage;
  const btf::Btf* kernel_btf = nullptr;
  Fd btf_fd;                                      // the object's BTF in the kernel (invalid when not loaded)
  std::optional<Error> btf_error;                 // why the kernel refused the object's BTF (load went on without)
  std::map<std::string, Map, std::less<>> maps;   // by spec name
  std::map<std::string, Program, std::less<>> programs;
  std::map<std::string, Error, std::less<>> program_errors;
  std::map<std::string, MapMapping, std::less<>> mappings;  // global_data() views
};

namespace detail {

// load_btf.cpp: the object's BTF with DATASEC sizes/offsets and extern linkages fixed for the kernel.
Result<std::vector<std::byte>> kernel_ready_btf(const ObjectSpec& spec);
// The fixed-up BTF loaded into the kernel; on refusal the error carries the kernel's BTF log.
Result<Fd> load_object_btf(const ObjectSpec& spec);
// load_maps.cpp
Result<void> create_maps(Object::State& st, const ObjectLoadOptions& options);
Result<void> fill_map_slots(Object::State& st);
// load_link.cpp: one program's final instructions and BTF.ext records (linked subprograms, fds, externs).
struct LinkedProgram {
  std::vector<Insn> insns;
  std::vector<btf::FuncInfo> func_info;  // insn_off in instructions
  std::vector<btf::LineInfo> line_info;
};
Result<LinkedProgram> link_program(Object::State& st, const ProgramSpec& prog);
// load_programs.cpp
Result<void> load_programs(Object::State& st, const ObjectLoadOptions& options);
// The running kernel's BTF (options.kernel_btf or vmlinux, loaded once).
Result<const btf::Btf*> kernel_btf(Object::State& st);
// Kernel object name for a spec name (≤ 15 chars of [A-Za-z0-9_.]).
std::string kernel_name(std::string_view name);

}  // namespace detail
}  // namespace ebpf
