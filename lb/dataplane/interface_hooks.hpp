// lb/dataplane/interface_hooks.hpp — the data plane's classic (non-bpf_link) attachments: XDP over netlink
// and a cls_bpf filter in clsact, both owned by the interface.
//
// Unlike the library's attach_xdp/attach_tc fallbacks, destroying the Link leaves these in place (drop() does
// nothing and closes every descriptor): a load balancer that exits for an upgrade, or crashes, keeps serving
// with its last programs, exactly as pinned bpf_links do. detach() removes them; update() replaces the
// program in place (no moment without one). Attaching replaces what is at our place already — netlink XDP in
// the same mode, our cls_bpf filter at (priority, handle) — which is how a restart takes over.
#pragma once

#include <cstdint>

#include "ebpf/attach/xdp.hpp"
#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"

namespace lb::dataplane {

// The cls_bpf slot of ebpf-lb's egress filter.
inline constexpr std::uint16_t kTcFilterPriority = 1;
inline constexpr std::uint32_t kTcFilterHandle = 0xeb1b;

// `replace`: take over the netlink program attached in this mode (a previous run's); otherwise an attached
// program is an error (Errc::busy).
ebpf::Result<ebpf::Link> attach_interface_xdp(const ebpf::Program& program, std::uint32_t ifindex, ebpf::XdpMode mode,
                                              bool replace);
ebpf::Result<ebpf::Link> attach_interface_tc_egress(const ebpf::Program& program, std::uint32_t ifindex);

}  // namespace lb::dataplane
