// ebpf/attach/kprobe.hpp — kprobes and kretprobes on kernel functions, single (perf event) and multi (link).
//
//   attach_kprobe:       the kprobe PMU first (perf_event_open with the type in
//                        /sys/bus/event_source/devices/kprobe/type, config1 = function name, config2 = offset,
//                        config bit 0 = retprobe), then tracefs kprobe_events (legacy: a "p:"/"r:" event the
//                        Link removes again); the event is attached like any perf event (bpf_link + cookie, or
//                        PERF_EVENT_IOC_SET_BPF).
//   attach_kprobe_multi: one BPF_LINK_CREATE (attach type BPF_TRACE_KPROBE_MULTI) for many symbols, with
//                        per-symbol cookies.
// When the kernel cannot do it, the error says what is missing and why it probably is: no kprobe PMU and no
// kprobe_events means a kernel built without CONFIG_KPROBES (Errc::not_supported); EPERM is policy (lockdown,
// as reported by /sys/kernel/security/lockdown when securityfs is mounted, or missing CAP_PERFMON).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

struct KprobeOptions {
  bool retprobe = false;
  std::uint64_t offset = 0;  // bytes into the function (kprobes only)
  std::uint64_t cookie = 0;  // bpf_get_attach_cookie()
  bool use_link = true;      // false: PERF_EVENT_IOC_SET_BPF
};

struct KprobeMultiOptions {
  bool retprobe = false;
  std::span<const std::uint64_t> cookies = {};  // empty, or one per symbol
};

Result<Link> attach_kprobe(const Program& program, std::string_view function, const KprobeOptions& options = {});
Result<Link> attach_kprobe_multi(const Program& program, std::span<const std::string> symbols,
                                 const KprobeMultiOptions& options = {});

// The kernel's lockdown mode ("none", "integrity", "confidentiality"), or an empty string when it cannot be
// read (securityfs not mounted).
std::string kernel_lockdown_mode();
// A sentence on why kernel policy may refuse tracing (lockdown mode, or that it could not be read).
std::string lockdown_explanation();

}  // namespace ebpf
