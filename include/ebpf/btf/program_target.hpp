// ebpf/btf/program_target.hpp — a function inside an already loaded BPF program, as an attach target.
//
// freplace (BPF_PROG_TYPE_EXT) programs, and fentry/fexit on BPF programs, are loaded with
// attach_prog_fd = the target program and attach_btf_id = the target function's FUNC id in *that program's*
// BTF. program_function() reads the program's BTF back from the kernel and finds the function.
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/btf.hpp"

namespace ebpf::btf {

struct ProgramTarget {
  std::uint32_t prog_id = 0;   // the target program's kernel id
  std::uint32_t btf_obj_id = 0;  // its BTF object's id
  TypeId func_id = 0;          // attach_btf_id for BPF_PROG_LOAD
};

// Errc::not_found when the program has no BTF or no FUNC of that name.
Result<ProgramTarget> program_function(int prog_fd, std::string_view function);

}  // namespace ebpf::btf
