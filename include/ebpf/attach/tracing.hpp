// ebpf/attach/tracing.hpp — tracepoints and raw tracepoints.
//
//   attach_tracepoint:     a TRACEPOINT program on "category:name" (tracefs events/<category>/<name>): opens a
//                          perf event of type PERF_TYPE_TRACEPOINT and attaches with a bpf_link (BPF_LINK_CREATE,
//                          attach type PERF_EVENT, optional bpf_cookie), or with PERF_EVENT_IOC_SET_BPF when
//                          links are unavailable or not wanted. The program runs for every CPU and process.
//   attach_raw_tracepoint: a RAW_TRACEPOINT program by tracepoint name (BPF_RAW_TRACEPOINT_OPEN), or a tp_btf
//                          (tracing) program whose target came from BTF at load time (no name).
//   attach_perf_event:     any program to a perf event fd the caller opened (kprobe/uprobe PMUs, counters).
// tracefs is looked for at /sys/kernel/tracing, then /sys/kernel/debug/tracing; when it is not mounted the
// error says so (Errc::not_found).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

struct PerfEventOptions {
  std::uint64_t cookie = 0;  // bpf_get_attach_cookie() value (links only)
  bool use_link = true;      // false: PERF_EVENT_IOC_SET_BPF + IOC_ENABLE
};

// The tracefs mount point, or Errc::not_found when tracefs is not mounted.
Result<std::string> tracefs_path();
// The numeric id of a tracepoint (tracefs events/<category>/<name>/id).
Result<std::uint32_t> tracepoint_id(std::string_view category, std::string_view name);

Result<Link> attach_tracepoint(const Program& program, std::string_view category, std::string_view name,
                               const PerfEventOptions& options = {});
// Takes ownership of `perf_event_fd`.
Result<Link> attach_perf_event(const Program& program, Fd perf_event_fd, const PerfEventOptions& options = {});
// `name` is the raw tracepoint ("sched_switch"); empty for tp_btf programs.
Result<Link> attach_raw_tracepoint(const Program& program, std::string_view name);

}  // namespace ebpf
