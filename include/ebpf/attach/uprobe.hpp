// ebpf/attach/uprobe.hpp — uprobes and uretprobes: a KPROBE-type program on an instruction of an executable
// or library file, through the kernel's uprobe PMU (perf_event_open with the file path and offset; no
// tracefs needed), attached with a bpf_link (or the PERF_EVENT_IOC_SET_BPF ioctl).
// Symbols are resolved to a file offset from the static symbol table (.symtab), then from the dynamic one
// (.dynsym, all a stripped shared library has). A symbol may name a version: "name@@VER" is the default
// version VER, "name@VER" version VER (default or not); a plain "name" in .dynsym means its default version.
// Files with neither table need an explicit offset.
//
// attach_uprobe_multi attaches one program to many functions of one file with a single bpf_link
// (BPF_LINK_CREATE, BPF_TRACE_UPROBE_MULTI, Linux 6.6+): the program must be loaded with expected attach type
// trace_uprobe_multi, and a per-target cookie tells it which function fired.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

struct UprobeOptions {
  bool retprobe = false;     // run on function return instead of entry
  int pid = -1;              // only this process; -1: every process that runs the file
  std::uint64_t cookie = 0;  // bpf_get_attach_cookie()
  bool use_link = true;
  // File offset of a reference counter (a USDT semaphore) the kernel increments while the probe exists.
  std::uint64_t ref_ctr_offset = 0;
};

struct UprobeMultiOptions {
  bool retprobe = false;  // BPF_F_UPROBE_MULTI_RETURN
  int pid = -1;           // only this process; -1: every process
  // Empty, or one per target: bpf_get_attach_cookie() for that target / its reference counter offset.
  std::vector<std::uint64_t> cookies;
  std::vector<std::uint64_t> ref_ctr_offsets;
};

// File offset of function `symbol` in the ELF file at `path` (Errc::not_found when absent).
Result<std::uint64_t> uprobe_offset(const std::string& path, std::string_view symbol);

// File offsets of several symbols, in order, reading the file once.
Result<std::vector<std::uint64_t>> uprobe_offsets(const std::string& path, std::span<const std::string> symbols);

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::uint64_t offset,
                           const UprobeOptions& options = {});
Result<Link> attach_uprobe(const Program& program, const std::string& path, std::string_view symbol,
                           const UprobeOptions& options = {});

Result<Link> attach_uprobe_multi(const Program& program, const std::string& path,
                                 std::span<const std::uint64_t> offsets, const UprobeMultiOptions& options = {});
Result<Link> attach_uprobe_multi(const Program& program, const std::string& path,
                                 std::span<const std::string> symbols, const UprobeMultiOptions& options = {});

}  // namespace ebpf
