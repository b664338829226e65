// Classic TC programs over rtnetlink: the clsact qdisc (a pair of hooks, ingress and egress, with no queue)
// and cls_bpf filters in it, in direct-action mode (the program's return value is the TC verdict).
#include <arpa/inet.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

namespace {

constexpr std::uint32_t kClsactHandle = TC_H_MAKE(TC_H_CLSACT, 0);

std::uint32_t hook_parent(TcDirection direction) {
  return TC_H_MAKE(TC_H_CLSACT, direction == TcDirection::ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

std::uint32_t filter_info(std::uint16_t priority, std::uint16_t protocol) {
  return TC_H_MAKE(static_cast<std::uint32_t>(priority) << 16, htons(protocol));
}

tcmsg make_tcmsg(std::uint32_t ifindex, std::uint32_t parent, std::uint32_t handle, std::uint32_t info = 0) {
  tcmsg msg{};
  msg.tcm_family = AF_UNSPEC;
  msg.tcm_ifindex = static_cast<int>(ifindex);
  msg.tcm_parent = parent;
  msg.tcm_handle = handle;
  msg.tcm_info = info;
  return msg;
}

Result<void> check_ifindex(std::uint32_t ifindex, std::string_view op) {
  if (ifindex == 0) return Error::invalid(std::string(op), "interface index 0 is not an interface");
  return ok();
}

// A filter message (RTM_NEWTFILTER) as TcFilter; nullopt for chain headers (handle 0) and other messages.
std::optional<TcFilter> parse_filter(const Message& m) {
  if (m.type != RTM_NEWTFILTER) return std::nullopt;
  auto tc = m.family_header<tcmsg>();
  if (!tc || tc->tcm_handle == 0) return std::nullopt;
  TcFilter f;
  f.ifindex = static_cast<std::uint32_t>(tc->tcm_ifindex);
  f.direction = TC_H_MIN(tc->tcm_parent) == TC_H_MIN_EGRESS ? TcDirection::egress : TcDirection::ingress;
  f.priority = static_cast<std::uint16_t>(TC_H_MAJ(tc->tcm_info) >> 16);
  f.protocol = ntohs(static_cast<std::uint16_t>(TC_H_MIN(tc->tcm_info)));
  f.handle = tc->tcm_handle;
  auto attrs = m.attributes(sizeof(tcmsg));
  if (auto kind = attrs.find(TCA_KIND)) f.kind = std::string(kind->string());
  auto options = attrs.nested(TCA_OPTIONS);
  if (auto a = options.find(TCA_BPF_NAME)) f.name = std::string(a->string());
  if (auto a = options.find(TCA_BPF_ID)) f.prog_id = a->u32().value_or(0);
  if (auto a = options.find(TCA_BPF_FLAGS)) f.direct_action = a->u32().value_or(0) & TCA_BPF_FLAG_ACT_DIRECT;
  return f;
}

}  // namespace

std::string_view name(TcDirection direction) noexcept {
  return direction == TcDirection::ingress ? "ingress" : "egress";
}

Result<void> add_clsact(Socket& socket, std::uint32_t ifindex) {
  EBPF_TRY(check_ifindex(ifindex, "netlink RTM_NEWQDISC"));
  Request request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL);
  request.family_header(make_tcmsg(ifindex, TC_H_CLSACT, kClsactHandle));
  request.put_string(TCA_KIND, "clsact");
  return socket.execute(request, "netlink RTM_NEWQDISC clsact");
}

Result<void> delete_clsact(Socket& socket, std::uint32_t ifindex) {
  EBPF_TRY(check_ifindex(ifindex, "netlink RTM_DELQDISC"));
  Request request(RTM_DELQDISC, 0);
  request.family_header(make_tcmsg(ifindex, TC_H_CLSACT, kClsactHandle));
  request.put_string(TCA_KIND, "clsact");
  auto r = socket.execute(request, "netlink RTM_DELQDISC clsact");
  if (!r && r.error().code() == Errc::invalid_argument && r.error().message().find("qdisc") == std::string::npos) {
    // The kernel answers EINVAL without text when the interface has no clsact qdisc at all.
    auto present = EBPF_TRY(has_clsact(socket, ifindex));
    if (!present)
      return Error(Errc::not_found, "netlink RTM_DELQDISC clsact",
                   "interface " + std::to_string(ifindex) + " has no clsact qdisc", r.error().sys_errno());
  }
  return r;
}

Result<bool> has_clsact(Socket& socket, std::uint32_t ifindex) {
  EBPF_TRY(check_ifindex(ifindex, "netlink RTM_GETQDISC"));
  Request request(RTM_GETQDISC, 0);
  request.family_header(make_tcmsg(ifindex, 0, 0));
  bool found = false;
  EBPF_TRY(socket.dump(request, "netlink RTM_GETQDISC dump", [&](const Message& m) {
    auto tc = m.family_header<tcmsg>();
    if (m.type != RTM_NEWQDISC || !tc || static_cast<std::uint32_t>(tc->tcm_ifindex) != ifindex) return;
    auto kind = m.attributes(sizeof(tcmsg)).find(TCA_KIND);
    if (kind && kind->string() == "clsact") found = true;
  }));
  return found;
}

Result<TcFilter> attach_tc_filter(Socket& socket, std::uint32_t ifindex, TcDirection direction, int prog_fd,
                                  const TcFilterOptions& options) {
  constexpr std::string_view op = "netlink RTM_NEWTFILTER bpf";
  EBPF_TRY(check_ifindex(ifindex, op));
  if (prog_fd < 0) return Error::invalid(std::string(op), "no program fd given");
  if (options.replace && (options.priority == 0 || options.handle == 0))
    return Error::invalid(std::string(op), "replacing a filter needs its priority and handle");
  if (options.name.size() > 255) return Error::invalid(std::string(op), "filter name longer than 255 bytes");

  std::uint16_t flags = NLM_F_CREATE | NLM_F_ECHO | (options.replace ? NLM_F_REPLACE : NLM_F_EXCL);
  Request request(RTM_NEWTFILTER, flags);
  request.family_header(make_tcmsg(ifindex, hook_parent(direction), options.handle,
                                   filter_info(options.priority, options.protocol)));
  request.put_string(TCA_KIND, "bpf");
  auto nest = request.begin_nested(TCA_OPTIONS);
  request.put_u32(TCA_BPF_FD, static_cast<std::uint32_t>(prog_fd));
  if (!options.name.empty()) request.put_string(TCA_BPF_NAME, options.name);
  if (options.direct_action) request.put_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
  request.end_nested(nest);

  std::optional<TcFilter> created;
  EBPF_TRY(socket.execute(request, op, [&](const Message& m) {
    if (!created) created = parse_filter(m);
  }));
  if (created) return *created;
  // No echo (should not happen): report what was asked for.
  TcFilter f;
  f.ifindex = ifindex;
  f.direction = direction;
  f.priority = options.priority;
  f.handle = options.handle;
  f.protocol = options.protocol;
  f.kind = "bpf";
  f.name = options.name;
  f.direct_action = options.direct_action;
  return f;
}

Result<void> detach_tc_filter(Socket& socket, std::uint32_t ifindex, TcDirection direction,
                              std::uint16_t priority, std::uint32_t handle, std::uint16_t protocol) {
  constexpr std::string_view op = "netlink RTM_DELTFILTER";
  EBPF_TRY(check_ifindex(ifindex, op));
  // Priority 0 or handle 0 would make the kernel delete every filter of the hook or of the priority.
  if (priority == 0) return Error::invalid(std::string(op), "filter priority 0 would select every filter");
  if (handle == 0) return Error::invalid(std::string(op), "filter handle 0 would select every filter of the priority");
  Request request(RTM_DELTFILTER, 0);
  request.family_header(make_tcmsg(ifindex, hook_parent(direction), handle, filter_info(priority, protocol)));
  request.put_string(TCA_KIND, "bpf");
  return socket.execute(request, op);
}

Result<std::vector<TcFilter>> list_tc_filters(Socket& socket, std::uint32_t ifindex, TcDirection direction) {
  EBPF_TRY(check_ifindex(ifindex, "netlink RTM_GETTFILTER"));
  Request request(RTM_GETTFILTER, 0);
  request.family_header(make_tcmsg(ifindex, hook_parent(direction), 0));
  std::vector<TcFilter> out;
  EBPF_TRY(socket.dump(request, "netlink RTM_GETTFILTER dump", [&](const Message& m) {
    if (auto f = parse_filter(m)) out.push_back(std::move(*f));
  }));
  return out;
}

}  // namespace ebpf::netlink
