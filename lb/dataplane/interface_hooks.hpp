// lb/dataplane/interface_hooks.hpp — the data plane's classic (non-bpf_link) attachments: XDP over netlink
// and a cls_bpf filter in clsact (ingress for the TC DNAT program, egress for SNAT), owned by the interface.
//
// Unlike the library's attach_xdp/attach_tc fallbacks, destroying the Link leaves these in place (drop() does
// nothing and closes every descriptor): a load balancer that exits for an upgrade, or crashes, keeps serving
// with its last programs, exactly as pinned bpf_links do. detach() removes them; update() replaces the
// program in place (no moment without one). Attaching replaces what is at our place already — netlink XDP in
// the same mode, our cls_bpf filter at (priority, handle) — which is how a restart takes over.
#pragma once

#include <cstdint>

#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"

namespace lb::dataplane {

// The cls_bpf slot of ebpf-lb's filters (the same on both hooks; the filter name says which program it is).
inline constexpr std::uint16_t kTcFilterPriority = 1;
inline constexpr std::uint32_t kTcFilterHandle = 0xeb1b;

// `replace`: take over the netlink program attached in this mode (a previous run's); otherwise an attached
// program is an error (Errc::busy).
ebpf::Result<ebpf::Link> attach_interface_xdp(const ebpf::Program& program, std::uint32_t ifindex, ebpf::XdpMode mode,
                                              bool replace);
ebpf::Result<ebpf::Link> attach_interface_tc(const ebpf::Program& program, std::uint32_t ifindex, ebpf::TcDirection direction);

// Leftovers of a previous run that used another hook or mechanism (a restart that switched the ingress hook,
// or from netlink to links): each removes ours if it is there and says whether it did.
// Our classic filter on `direction` (recognised by place and name).
ebpf::Result<bool> remove_interface_tc(std::uint32_t ifindex, ebpf::TcDirection direction);
// The netlink XDP program `prog_id` (a bpf_link's program is not touched: links detach through the link).
ebpf::Result<bool> remove_interface_xdp(std::uint32_t ifindex, std::uint32_t prog_id);

}  // namespace lb::dataplane
