// Network interfaces: name <-> index, in the calling thread's namespace or through an rtnetlink socket.
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

namespace {

Result<void> check_interface_name(std::string_view name, std::string_view operation) {
  if (name.empty()) return Error::invalid(std::string(operation), "empty interface name");
  if (name.size() >= IFNAMSIZ)
    return Error::invalid(std::string(operation), "interface name '" + std::string(name) + "' is longer than " +
                                                      std::to_string(IFNAMSIZ - 1) + " characters");
  if (name.find('\0') != std::string_view::npos)
    return Error::invalid(std::string(operation), "interface name contains a NUL byte");
  return ok();
}

std::optional<Interface> parse_interface(const Message& message) {
  if (message.type != RTM_NEWLINK) return std::nullopt;
  auto info = message.family_header<ifinfomsg>();
  if (!info) return std::nullopt;
  Interface out;
  out.index = static_cast<std::uint32_t>(info->ifi_index);
  out.flags = info->ifi_flags;
  auto attrs = message.attributes(sizeof(ifinfomsg));
  if (auto name = attrs.find(IFLA_IFNAME)) out.name = std::string(name->string());
  if (auto mtu = attrs.find(IFLA_MTU)) out.mtu = mtu->u32().value_or(0);
  return out;
}

Result<Interface> get_link(Socket& socket, Request& request, std::string what) {
  std::optional<Interface> found;
  auto r = socket.execute(request, "netlink RTM_GETLINK", [&](const Message& m) {
    if (!found) found = parse_interface(m);
  });
  if (!r) {
    auto error = std::move(r).error();
    if (error.code() == Errc::not_found)
      return Error(Errc::not_found, error.operation(), "no interface " + what + " in this network namespace",
                   error.sys_errno());
    return error;
  }
  if (!found) return Error(Errc::bad_format, "netlink RTM_GETLINK", "the kernel's reply has no link message");
  return *found;
}

}  // namespace

Result<std::uint32_t> interface_index(std::string_view name) {
  EBPF_TRY(check_interface_name(name, "if_nametoindex"));
  std::string copy(name);
  unsigned index = ::if_nametoindex(copy.c_str());
  if (index == 0) {
    int err = errno;
    if (err == ENODEV || err == ENXIO || err == ENOENT)
      return Error(Errc::not_found, "if_nametoindex", "no interface named '" + copy + "' in this network namespace",
                   ENODEV);
    return Error::from_errno(err, "if_nametoindex", "cannot look up interface '" + copy + "'");
  }
  return static_cast<std::uint32_t>(index);
}

Result<std::string> interface_name(std::uint32_t index) {
  if (index == 0) return Error::invalid("if_indextoname", "interface index 0 is not an interface");
  char buf[IF_NAMESIZE] = {};
  if (::if_indextoname(index, buf) == nullptr) {
    int err = errno;
    if (err == ENXIO || err == ENODEV)
      return Error(Errc::not_found, "if_indextoname",
                   "no interface with index " + std::to_string(index) + " in this network namespace", err);
    return Error::from_errno(err, "if_indextoname");
  }
  return std::string(buf);
}

Result<Interface> find_interface(Socket& socket, std::uint32_t index) {
  if (index == 0) return Error::invalid("netlink RTM_GETLINK", "interface index 0 is not an interface");
  Request request(RTM_GETLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = static_cast<int>(index);
  request.family_header(info);
  return get_link(socket, request, "with index " + std::to_string(index));
}

Result<Interface> find_interface(Socket& socket, std::string_view name) {
  EBPF_TRY(check_interface_name(name, "netlink RTM_GETLINK"));
  Request request(RTM_GETLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  request.family_header(info);
  request.put_string(IFLA_IFNAME, name);
  return get_link(socket, request, "named '" + std::string(name) + "'");
}

Result<std::vector<Interface>> list_interfaces(Socket& socket) {
  Request request(RTM_GETLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  request.family_header(info);
  std::vector<Interface> out;
  EBPF_TRY(socket.dump(request, "netlink RTM_GETLINK dump", [&](const Message& m) {
    if (auto iface = parse_interface(m)) out.push_back(std::move(*iface));
  }));
  return out;
}

}  // namespace ebpf::netlink
