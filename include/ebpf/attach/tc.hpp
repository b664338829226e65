// ebpf/attach/tc.hpp — attaching SCHED_CLS programs to an interface's TC ingress/egress hooks.
//
// Two mechanisms:
//   - tcx (Linux 6.6+): bpf_links in a per-hook ordered list (BPF_LINK_CREATE, TCX_INGRESS/TCX_EGRESS). A
//     program can be placed first, last, or before/after another program or link; expected_revision makes the
//     change conditional on nobody having changed the list since it was queried (ESTALE otherwise).
//   - classic: a cls_bpf filter in direct-action mode inside a clsact qdisc, configured over netlink; ordered
//     by priority. attach_tc() creates the clsact qdisc when it is missing (setup_tc_qdisc /
//     teardown_tc_qdisc manage it explicitly; tearing it down removes every filter in it).
// Both return a Link that detaches on destruction. tcx programs run before classic filters on the same hook.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/netlink.hpp"

namespace ebpf {

class Program;

using TcDirection = netlink::TcDirection;

enum class TcxPosition {
  append,  // at the end of the list (no ordering flags)
  first,   // BPF_F_BEFORE without an anchor
  last,    // BPF_F_AFTER without an anchor
  before,  // BPF_F_BEFORE the anchor
  after,   // BPF_F_AFTER the anchor
};

struct TcxOptions {
  TcxPosition position = TcxPosition::append;
  // Anchor for before/after: a program or link fd (relative_is_link), or an id (relative_id, when fd is -1).
  int relative_fd = -1;
  bool relative_is_link = false;
  std::uint32_t relative_id = 0;
  // Non-zero: attach only if the hook's revision (from query_tcx) is still this one.
  std::uint64_t expected_revision = 0;
  int netns_fd = -1;  // the interface's network namespace; -1: the calling thread's
};

Result<Link> attach_tcx(const Program& program, std::uint32_t ifindex, TcDirection direction,
                        const TcxOptions& options = {});
Result<Link> attach_tcx(const Program& program, std::string_view ifname, TcDirection direction,
                        const TcxOptions& options = {});

// The programs on a tcx hook in run order, with their link ids and the hook's revision (BPF_PROG_QUERY).
struct TcxQuery {
  std::uint64_t revision = 0;
  std::vector<std::uint32_t> prog_ids;
  std::vector<std::uint32_t> link_ids;  // 0 for programs attached with BPF_PROG_ATTACH
};
Result<TcxQuery> query_tcx(std::uint32_t ifindex, TcDirection direction, int netns_fd = -1);

struct TcOptions {
  std::uint16_t priority = 0;  // 0: the kernel picks one
  std::uint32_t handle = 0;    // 0: the kernel picks one
  std::string name;            // shown by `tc filter show` (default: the program's name)
  bool replace = false;        // replace the filter at (priority, handle) instead of failing with EEXIST
  bool create_qdisc = true;    // add a clsact qdisc when the interface has none
  int netns_fd = -1;
};

// Classic cls_bpf attachment; Link::update() replaces the filter's program in place.
Result<Link> attach_tc(const Program& program, std::uint32_t ifindex, TcDirection direction,
                       const TcOptions& options = {});
Result<Link> attach_tc(const Program& program, std::string_view ifname, TcDirection direction,
                       const TcOptions& options = {});

// clsact qdisc management (the seed's setup-tc-qdisc / teardown-tc-qdisc). setup succeeds when one exists.
Result<void> setup_tc_qdisc(std::uint32_t ifindex, int netns_fd = -1);
Result<void> teardown_tc_qdisc(std::uint32_t ifindex, int netns_fd = -1);
// The classic filters on a hook.
Result<std::vector<netlink::TcFilter>> query_tc(std::uint32_t ifindex, TcDirection direction, int netns_fd = -1);

}  // namespace ebpf
