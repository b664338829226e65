// Private to src/link: enter the interface's network namespace for the duration of an attach call.
// Interfaces, netlink sockets and bpf_link targets are resolved in the calling thread's namespace.
#pragma once

#include <optional>

#include "ebpf/netlink.hpp"

namespace ebpf::detail {

// Nothing when netns_fd < 0 (stay where the thread is).
inline Result<std::optional<netlink::NetnsGuard>> enter_netns(int netns_fd) {
  if (netns_fd < 0) return std::optional<netlink::NetnsGuard>();
  auto guard = EBPF_TRY(netlink::NetnsGuard::enter(netns_fd));
  return std::optional<netlink::NetnsGuard>(std::move(guard));
}

// A netlink socket in netns_fd, or in the calling thread's namespace.
inline Result<netlink::Socket> open_netlink(int netns_fd) {
  return netns_fd >= 0 ? netlink::Socket::open_in_netns(netns_fd) : netlink::Socket::open();
}

}  // namespace ebpf::detail
