// ebpf/attach/xdp.hpp — attaching XDP programs to network interfaces.
//
// Two mechanisms, one API: a bpf_link (BPF_LINK_CREATE, attach type XDP; owned by its fd, cannot be replaced
// behind the owner's back) is tried first; netlink IFLA_XDP (owned by the interface) is the fallback for
// kernels without XDP links, or the only path when asked for. Either way the result is a Link that detaches
// on destruction.
// The interface is looked up in the calling thread's network namespace, or in XdpOptions::netns_fd.
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/netlink.hpp"

namespace ebpf {

class Program;

enum class XdpMode {
  unspecified,  // the kernel picks: native when the driver supports it, generic otherwise
  generic,      // XDP_FLAGS_SKB_MODE: after the skb is built; works on every interface
  driver,       // XDP_FLAGS_DRV_MODE: native, in the driver's receive path
  offload,      // XDP_FLAGS_HW_MODE: on the NIC (program loaded with that ifindex)
};
std::string_view name(XdpMode mode) noexcept;

enum class XdpMethod {
  automatic,     // bpf_link, falling back to netlink when the kernel has no XDP links
  link,          // bpf_link only
  netlink,       // netlink only
};

struct XdpOptions {
  XdpMode mode = XdpMode::unspecified;
  XdpMethod method = XdpMethod::automatic;
  // Netlink only: replace a program already attached in this mode (otherwise EBUSY, as for links).
  bool replace = false;
  // The network namespace of the interface (an fd on /var/run/netns/NAME); -1: the calling thread's.
  int netns_fd = -1;
};

Result<Link> attach_xdp(const Program& program, std::uint32_t ifindex, const XdpOptions& options = {});
Result<Link> attach_xdp(const Program& program, std::string_view ifname, const XdpOptions& options = {});

// The XDP program(s) attached to an interface, whatever attached them.
Result<netlink::XdpState> query_xdp(std::uint32_t ifindex, int netns_fd = -1);

}  // namespace ebpf
