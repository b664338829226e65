// ebpf/section.hpp — what a BPF object's program section name means (libbpf's SEC() naming convention).
//
// "kprobe/do_unlinkat" → a KPROBE program attached to do_unlinkat; "xdp.frags" → XDP with BPF_F_XDP_HAS_FRAGS;
// "cgroup/connect4" → CGROUP_SOCK_ADDR expecting BPF_CGROUP_INET4_CONNECT. Names are matched strictly first
// (exact name, or "prefix/target" for kinds that take a target); the legacy spellings of older tools
// (goebpf's "xdp_foo", iproute2's "classifier"/"action", "socket1", ...) are matched by prefix afterwards and
// reported with `legacy = true`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ebpf/types.hpp"

namespace ebpf {

struct ProgramSection {
  ProgType type = ProgType::unspec;
  std::optional<AttachType> expected_attach_type;  // nullopt when the kernel takes none (0)
  std::string prefix;   // the convention entry that matched: "kprobe", "cgroup/connect4", "tp_btf"
  std::string target;   // text after "prefix/": "do_unlinkat", "sched/sched_switch", "/bin/bash:readline"
  bool sleepable = false;     // ".s" variants: BPF_F_SLEEPABLE
  bool xdp_frags = false;     // "xdp.frags*": BPF_F_XDP_HAS_FRAGS
  bool attach_btf = false;    // the target names a BTF type/function the load must resolve (fentry, tp_btf ...)
  bool return_probe = false;  // kretprobe, uretprobe, kretsyscall, fexit-style return attachment
  bool multi = false;         // kprobe.multi / uprobe.multi / session attachments
  bool legacy = false;        // matched only by the legacy prefix rule
  bool attachable = true;     // false for kinds that are loaded but have no automatic attachment (tc, socket)
};

// Interprets a program section name; nullopt when it follows no known convention.
std::optional<ProgramSection> classify_program_section(std::string_view section_name);

// A parsed "tracepoint/<category>/<name>" target.
struct TracepointTarget {
  std::string category, name;
};
std::optional<TracepointTarget> parse_tracepoint_target(std::string_view target);

// A parsed "kprobe/<function>[+<offset>]" target.
struct KprobeTarget {
  std::string function;
  std::uint64_t offset = 0;
};
std::optional<KprobeTarget> parse_kprobe_target(std::string_view target);

// A parsed "uprobe/<binary>:<function>[+<offset>]" target (offsets may be given instead: "<binary>:0x1234").
// For usdt: "<binary>:<provider>:<name>" with provider in `function` and name in `usdt_name`.
struct UprobeTarget {
  std::string binary, function, usdt_name;
  std::uint64_t offset = 0;
};
std::optional<UprobeTarget> parse_uprobe_target(std::string_view target);
std::optional<UprobeTarget> parse_usdt_target(std::string_view target);

}  // namespace ebpf
