// ebpf/attach/uprobe.hpp — uprobes and uretprobes: a KPROBE-type program on an instruction of an executable
// or library file, through the kernel's uprobe PMU (perf_event_open with the file path and offset; no
// tracefs needed), attached with a bpf_link (or the PERF_EVENT_IOC_SET_BPF ioctl).
// Symbols are resolved from the file's static symbol table (.symtab) to a file offset; stripped files
// need an explicit offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

struct UprobeOptions {
  bool retprobe = false;     // run on function return instead of entry
  int pid = -1;              // only this process; -1: every process that runs the file
  std::uint64_t cookie = 0;  // bpf_get_attach_cookie()
  bool use_link = true;
};

// File offset of function `symbol` in the ELF file at `path` (Errc::not_found when absent).
Result<std::uint64_t> uprobe_offset(const std::string& path, std::string_view symbol);

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::uint64_t offset,
                           const UprobeOptions& options = {});
Result<Link> attach_uprobe(const Program& program, const std::string& path, std::string_view symbol,
                           const UprobeOptions& options = {});

}  // namespace ebpf
