// XDP through rtnetlink: IFLA_XDP nested in RTM_SETLINK to attach/detach, RTM_GETLINK to query.
// This is the pre-bpf_link interface: the attachment belongs to the interface, not to a file descriptor.
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <bit>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

Result<void> set_xdp(Socket& socket, std::uint32_t ifindex, int prog_fd, const XdpSetOptions& options) {
  constexpr std::string_view op = "netlink RTM_SETLINK IFLA_XDP";
  if (ifindex == 0) return Error::invalid(std::string(op), "interface index 0 is not an interface");
  constexpr std::uint32_t known = xdp_flags::update_if_noexist | xdp_flags::modes | xdp_flags::replace;
  if (options.flags & ~known) return Error::invalid(std::string(op), "unknown XDP flags");
  if (std::popcount(options.flags & xdp_flags::modes) > 1)
    return Error::invalid(std::string(op), "at most one of skb_mode, drv_mode and hw_mode may be set");
  bool replace = options.flags & xdp_flags::replace;
  if (replace && options.expected_fd < 0)
    return Error::invalid(std::string(op), "xdp_flags::replace needs the expected program's fd");
  if (!replace && options.expected_fd >= 0)
    return Error::invalid(std::string(op), "an expected program fd is only used with xdp_flags::replace");

  Request request(RTM_SETLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = static_cast<int>(ifindex);
  request.family_header(info);
  auto nest = request.begin_nested(IFLA_XDP);
  request.put_s32(IFLA_XDP_FD, prog_fd);
  if (options.flags != 0) request.put_u32(IFLA_XDP_FLAGS, options.flags);
  if (replace) request.put_s32(IFLA_XDP_EXPECTED_FD, options.expected_fd);
  request.end_nested(nest);
  return socket.execute(request, op);
}

Result<XdpState> query_xdp(Socket& socket, std::uint32_t ifindex) {
  if (ifindex == 0) return Error::invalid("netlink RTM_GETLINK", "interface index 0 is not an interface");
  Request request(RTM_GETLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = static_cast<int>(ifindex);
  request.family_header(info);
  std::optional<XdpState> state;
  auto r = socket.execute(request, "netlink RTM_GETLINK", [&](const Message& m) {
    if (m.type != RTM_NEWLINK || state) return;
    auto xdp = m.attributes(sizeof(ifinfomsg)).nested(IFLA_XDP);
    XdpState s;
    if (auto a = xdp.find(IFLA_XDP_ATTACHED)) s.attached = static_cast<XdpAttached>(a->u8().value_or(0));
    if (auto a = xdp.find(IFLA_XDP_PROG_ID)) s.prog_id = a->u32().value_or(0);
    if (auto a = xdp.find(IFLA_XDP_DRV_PROG_ID)) s.driver_prog_id = a->u32().value_or(0);
    if (auto a = xdp.find(IFLA_XDP_SKB_PROG_ID)) s.generic_prog_id = a->u32().value_or(0);
    if (auto a = xdp.find(IFLA_XDP_HW_PROG_ID)) s.offload_prog_id = a->u32().value_or(0);
    // With a single program the kernel reports only IFLA_XDP_PROG_ID; fill the per-mode id too.
    if (s.attached == XdpAttached::driver && s.driver_prog_id == 0) s.driver_prog_id = s.prog_id;
    if (s.attached == XdpAttached::generic && s.generic_prog_id == 0) s.generic_prog_id = s.prog_id;
    if (s.attached == XdpAttached::offload && s.offload_prog_id == 0) s.offload_prog_id = s.prog_id;
    state = s;
  });
  if (!r) {
    auto error = std::move(r).error();
    if (error.code() == Errc::not_found)
      return Error(Errc::not_found, error.operation(),
                   "no interface with index " + std::to_string(ifindex) + " in this network namespace",
                   error.sys_errno());
    return error;
  }
  if (!state) return Error(Errc::bad_format, "netlink RTM_GETLINK", "the kernel's reply has no link message");
  return *state;
}

}  // namespace ebpf::netlink
