// Private: struct_ops maps of BPF objects (SEC(".struct_ops") / SEC(".struct_ops.link") variables).
//
// Parsing records each variable as a MapDefinition of type struct_ops: `contents` are the variable's bytes in
// the object's layout, `btf_value_type` its struct in the object's BTF, `initial_slots` the function-pointer
// members as (byte offset in the object's struct, program name), and map_flags::link for .struct_ops.link.
// Loading matches the object's struct to the kernel's by name (member by member), loads each program with the
// kernel struct's BTF id and its member index, then creates the map (btf_vmlinux_value_type_id =
// bpf_struct_ops_<name>) and rewrites `contents` / `value_size` into the kernel's value layout with the
// programs' fds in the function-pointer slots: what attach_struct_ops() writes to register.
#pragma once

#include <cstdint>

#include "ebpf/error.hpp"
#include "load_state.hpp"

namespace ebpf::detail {

struct SpecParser;

// spec step: every variable of every .struct_ops* section becomes a struct_ops MapDefinition.
Result<void> read_struct_ops_sections(SpecParser& parser);

// load step, per program: the kernel struct's BTF id and the member index the program implements.
struct StructOpsTarget {
  std::uint32_t struct_btf_id = 0;
  std::uint32_t member_index = 0;
};
Result<StructOpsTarget> struct_ops_target(Object::State& st, const ProgramSpec& prog);

// load step, after the programs: creates the struct_ops maps and builds their kernel values.
Result<void> create_struct_ops_maps(Object::State& st);

}  // namespace ebpf::detail
