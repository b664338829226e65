// ebpf/btf/dump.hpp — text dumps of BTF: a compilable C header (like `bpftool btf dump ... format c`) and
// bpftool's raw listing ("[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED").
#pragma once

#include <string>

#include "ebpf/btf.hpp"

namespace ebpf::btf {

struct DumpCOptions {
  bool header_guard = true;            // #ifndef __VMLINUX_H__ ...
  std::string guard = "__VMLINUX_H__";
  bool preserve_access_index = true;   // wrap in #pragma clang attribute push(preserve_access_index)
};

// C declarations of every struct/union/enum/typedef, ordered so the result compiles; forward declarations
// are emitted where only a pointer is needed. FUNC/VAR/DATASEC are not emitted.
Result<std::string> dump_c(const Btf& btf, const DumpCOptions& options = {});

// bpftool's raw format, one type per line (plus indented members / values / params).
std::string dump_raw(const Btf& btf);
// One type in raw format (without trailing newline).
std::string dump_raw_type(const Btf& btf, TypeId id);

}  // namespace ebpf::btf
