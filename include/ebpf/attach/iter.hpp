// ebpf/attach/iter.hpp — BPF iterators: a TRACING program (expected attach type trace_iter, attach_btf_id =
// the target's "bpf_iter_<target>" function in vmlinux BTF) run once per kernel object of a walk (tasks,
// maps, ...), writing text or binary records with bpf_seq_write / bpf_seq_printf.
//   1. iter_target_btf_id("task") for ProgramLoadOptions::attach_btf_id;
//   2. attach_iter() creates the iterator link (BPF_LINK_CREATE, attach type trace_iter);
//   3. read_iter() runs one walk (BPF_ITER_CREATE + read to the end) and returns its output; the link can be
//      pinned on bpffs, where every `cat` runs a walk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

// BTF id of FUNC "bpf_iter_<target>" in vmlinux (Errc::not_found for unknown targets).
Result<std::uint32_t> iter_target_btf_id(std::string_view target);

struct IterOptions {
  // union bpf_iter_link_info for parameterised targets (map fd for bpf_map_elem, cgroup, task filter).
  std::span<const std::byte> link_info;
};

Result<Link> attach_iter(const Program& program, const IterOptions& options = {});
// A fresh read end of the iterator (each one runs one walk).
Result<Fd> open_iter(const Link& link);
// Runs one walk and returns everything the program wrote.
Result<std::string> read_iter(const Link& link);

}  // namespace ebpf
