// ebpf/attach/netfilter.hpp — netfilter hooks (BPF_PROG_TYPE_NETFILTER programs on a netfilter hook of the
// calling thread's network namespace, Linux 6.4+).
//
// attach_netfilter() creates a bpf_link (BPF_LINK_CREATE, attach type BPF_NETFILTER) for one protocol family
// and hook at a priority. The program's context is struct bpf_nf_ctx {state, skb}; it returns NF_DROP (0) or
// NF_ACCEPT (1). The link belongs to the namespace the thread is in when attaching (enter a namespace with
// setns first to hook it); detach or destruction removes the hook. Debian's 6.1 headers lack these UAPI
// constants: they are defined here.
#pragma once

#include <cstdint>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

namespace netfilter {
// NFPROTO_*: the kernel accepts IPv4 and IPv6 for BPF hooks.
enum class Family : std::uint32_t { ipv4 = 2, ipv6 = 10 };
// NF_INET_* hook numbers.
enum class Hook : std::uint32_t { pre_routing = 0, local_in = 1, forward = 2, local_out = 3, post_routing = 4 };
// Program return values.
inline constexpr int kDrop = 0, kAccept = 1;
// BPF_F_NETFILTER_IP_DEFRAG: the program sees reassembled packets (defragmentation runs before it).
inline constexpr std::uint32_t kFlagIpDefrag = 1U << 0;
}  // namespace netfilter

struct NetfilterOptions {
  netfilter::Family family = netfilter::Family::ipv4;
  netfilter::Hook hook = netfilter::Hook::local_in;
  // Lower runs first. INT_MIN and INT_MAX are reserved by netfilter (NF_IP_PRI_FIRST / LAST); defrag needs
  // a priority after NF_IP_PRI_CONNTRACK_DEFRAG (-400).
  std::int32_t priority = 0;
  bool ip_defrag = false;
};

Result<Link> attach_netfilter(const Program& program, const NetfilterOptions& options = {});

// What the kernel reports for a netfilter link (bpf_link_info.netfilter).
Result<NetfilterOptions> netfilter_link_info(const Link& link);

}  // namespace ebpf
