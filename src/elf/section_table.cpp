// The program-section naming convention (facts from libbpf's section definitions, expressed as our own table).
#include <array>
#include <charconv>

#include "ebpf/section.hpp"

namespace ebpf {
namespace {

using P = ProgType;
using A = AttachType;

enum Flag : std::uint32_t {
  kTarget = 1u << 0,      // "prefix+": takes an optional "/target"
  kSleepable = 1u << 1,
  kFrags = 1u << 2,
  kBtf = 1u << 3,
  kReturn = 1u << 4,
  kMulti = 1u << 5,
  kNoAttach = 1u << 6,    // loaded, attached by the user with an explicit API (no automatic attach)
  kNoExpected = 1u << 7,  // attach type recorded for documentation, not passed as expected_attach_type
};

struct Entry {
  std::string_view prefix;
  ProgType type;
  std::optional<AttachType> attach;
  std::uint32_t flags;
};

// Order matters only for the legacy prefix fallback: longer, more specific prefixes come first.
constexpr auto kTable = std::to_array<Entry>({
    {"socket", P::socket_filter, std::nullopt, kNoAttach},
    {"sk_reuseport/migrate", P::sk_reuseport, A::sk_reuseport_select_or_migrate, 0},
    {"sk_reuseport", P::sk_reuseport, A::sk_reuseport_select, 0},
    {"kprobe.multi", P::kprobe, A::trace_kprobe_multi, kTarget | kMulti},
    {"kretprobe.multi", P::kprobe, A::trace_kprobe_multi, kTarget | kMulti | kReturn},
    {"kprobe.session", P::kprobe, A::trace_kprobe_session, kTarget | kMulti},
    {"uprobe.multi.s", P::kprobe, A::trace_uprobe_multi, kTarget | kMulti | kSleepable},
    {"uretprobe.multi.s", P::kprobe, A::trace_uprobe_multi, kTarget | kMulti | kSleepable | kReturn},
    {"uprobe.multi", P::kprobe, A::trace_uprobe_multi, kTarget | kMulti},
    {"uretprobe.multi", P::kprobe, A::trace_uprobe_multi, kTarget | kMulti | kReturn},
    {"uprobe.session.s", P::kprobe, A::trace_uprobe_session, kTarget | kMulti | kSleepable},
    {"uprobe.session", P::kprobe, A::trace_uprobe_session, kTarget | kMulti},
    {"kprobe", P::kprobe, std::nullopt, kTarget},
    {"uprobe.s", P::kprobe, std::nullopt, kTarget | kSleepable},
    {"uprobe", P::kprobe, std::nullopt, kTarget},
    {"kretprobe", P::kprobe, std::nullopt, kTarget | kReturn},
    {"uretprobe.s", P::kprobe, std::nullopt, kTarget | kReturn | kSleepable},
    {"uretprobe", P::kprobe, std::nullopt, kTarget | kReturn},
    {"ksyscall", P::kprobe, std::nullopt, kTarget},
    {"kretsyscall", P::kprobe, std::nullopt, kTarget | kReturn},
    {"usdt.s", P::kprobe, std::nullopt, kTarget | kSleepable},
    {"usdt", P::kprobe, std::nullopt, kTarget},
    {"tc/ingress", P::sched_cls, A::tcx_ingress, 0},
    {"tc/egress", P::sched_cls, A::tcx_egress, 0},
    {"tcx/ingress", P::sched_cls, A::tcx_ingress, 0},
    {"tcx/egress", P::sched_cls, A::tcx_egress, 0},
    {"tc", P::sched_cls, std::nullopt, kNoAttach},
    {"classifier", P::sched_cls, std::nullopt, kNoAttach},
    {"action", P::sched_act, std::nullopt, kNoAttach},
    {"netkit/primary", P::sched_cls, A::netkit_primary, 0},
    {"netkit/peer", P::sched_cls, A::netkit_peer, 0},
    {"tracepoint", P::tracepoint, std::nullopt, kTarget},
    {"tp_btf", P::tracing, A::trace_raw_tp, kTarget | kBtf},
    {"tp", P::tracepoint, std::nullopt, kTarget},
    {"raw_tracepoint.w", P::raw_tracepoint_writable, std::nullopt, kTarget},
    {"raw_tracepoint", P::raw_tracepoint, std::nullopt, kTarget},
    {"raw_tp.w", P::raw_tracepoint_writable, std::nullopt, kTarget},
    {"raw_tp", P::raw_tracepoint, std::nullopt, kTarget},
    {"fentry.s", P::tracing, A::trace_fentry, kTarget | kBtf | kSleepable},
    {"fentry", P::tracing, A::trace_fentry, kTarget | kBtf},
    {"fmod_ret.s", P::tracing, A::modify_return, kTarget | kBtf | kSleepable},
    {"fmod_ret", P::tracing, A::modify_return, kTarget | kBtf},
    {"fexit.s", P::tracing, A::trace_fexit, kTarget | kBtf | kSleepable | kReturn},
    {"fexit", P::tracing, A::trace_fexit, kTarget | kBtf | kReturn},
    {"freplace", P::ext, std::nullopt, kTarget | kBtf},
    {"lsm_cgroup", P::lsm, A::lsm_cgroup, kTarget | kBtf},
    {"lsm.s", P::lsm, A::lsm_mac, kTarget | kBtf | kSleepable},
    {"lsm", P::lsm, A::lsm_mac, kTarget | kBtf},
    {"iter.s", P::tracing, A::trace_iter, kTarget | kBtf | kSleepable},
    {"iter", P::tracing, A::trace_iter, kTarget | kBtf},
    {"struct_ops.s", P::struct_ops, std::nullopt, kTarget | kSleepable},
    {"struct_ops", P::struct_ops, std::nullopt, kTarget},
    {"syscall", P::syscall, std::nullopt, kSleepable | kNoAttach},
    {"xdp.frags/devmap", P::xdp, A::xdp_devmap, kFrags},
    {"xdp/devmap", P::xdp, A::xdp_devmap, 0},
    {"xdp.frags/cpumap", P::xdp, A::xdp_cpumap, kFrags},
    {"xdp/cpumap", P::xdp, A::xdp_cpumap, 0},
    {"xdp.frags", P::xdp, A::xdp, kFrags},
    {"xdp", P::xdp, A::xdp, 0},
    {"perf_event", P::perf_event, std::nullopt, 0},
    {"lwt_in", P::lwt_in, std::nullopt, kNoAttach},
    {"lwt_out", P::lwt_out, std::nullopt, kNoAttach},
    {"lwt_xmit", P::lwt_xmit, std::nullopt, kNoAttach},
    {"lwt_seg6local", P::lwt_seg6local, std::nullopt, kNoAttach},
    {"sockops", P::sock_ops, A::cgroup_sock_ops, 0},
    {"sk_skb/stream_parser", P::sk_skb, A::sk_skb_stream_parser, 0},
    {"sk_skb/stream_verdict", P::sk_skb, A::sk_skb_stream_verdict, 0},
    {"sk_skb/verdict", P::sk_skb, A::sk_skb_verdict, 0},
    {"sk_skb", P::sk_skb, std::nullopt, kNoAttach},
    {"sk_msg", P::sk_msg, A::sk_msg_verdict, 0},
    {"lirc_mode2", P::lirc_mode2, A::lirc_mode2, 0},
    {"flow_dissector", P::flow_dissector, A::flow_dissector, 0},
    {"cgroup_skb/ingress", P::cgroup_skb, A::cgroup_inet_ingress, 0},
    {"cgroup_skb/egress", P::cgroup_skb, A::cgroup_inet_egress, 0},
    {"cgroup/skb", P::cgroup_skb, std::nullopt, kNoAttach},
    {"cgroup/sock_create", P::cgroup_sock, A::cgroup_inet_sock_create, 0},
    {"cgroup/sock_release", P::cgroup_sock, A::cgroup_inet_sock_release, 0},
    {"cgroup/sock", P::cgroup_sock, A::cgroup_inet_sock_create, 0},
    {"cgroup/post_bind4", P::cgroup_sock, A::cgroup_inet4_post_bind, 0},
    {"cgroup/post_bind6", P::cgroup_sock, A::cgroup_inet6_post_bind, 0},
    {"cgroup/bind4", P::cgroup_sock_addr, A::cgroup_inet4_bind, 0},
    {"cgroup/bind6", P::cgroup_sock_addr, A::cgroup_inet6_bind, 0},
    {"cgroup/connect4", P::cgroup_sock_addr, A::cgroup_inet4_connect, 0},
    {"cgroup/connect6", P::cgroup_sock_addr, A::cgroup_inet6_connect, 0},
    {"cgroup/connect_unix", P::cgroup_sock_addr, A::cgroup_unix_connect, 0},
    {"cgroup/sendmsg4", P::cgroup_sock_addr, A::cgroup_udp4_sendmsg, 0},
    {"cgroup/sendmsg6", P::cgroup_sock_addr, A::cgroup_udp6_sendmsg, 0},
    {"cgroup/sendmsg_unix", P::cgroup_sock_addr, A::cgroup_unix_sendmsg, 0},
    {"cgroup/recvmsg4", P::cgroup_sock_addr, A::cgroup_udp4_recvmsg, 0},
    {"cgroup/recvmsg6", P::cgroup_sock_addr, A::cgroup_udp6_recvmsg, 0},
    {"cgroup/recvmsg_unix", P::cgroup_sock_addr, A::cgroup_unix_recvmsg, 0},
    {"cgroup/getpeername4", P::cgroup_sock_addr, A::cgroup_inet4_getpeername, 0},
    {"cgroup/getpeername6", P::cgroup_sock_addr, A::cgroup_inet6_getpeername, 0},
    {"cgroup/getpeername_unix", P::cgroup_sock_addr, A::cgroup_unix_getpeername, 0},
    {"cgroup/getsockname4", P::cgroup_sock_addr, A::cgroup_inet4_getsockname, 0},
    {"cgroup/getsockname6", P::cgroup_sock_addr, A::cgroup_inet6_getsockname, 0},
    {"cgroup/getsockname_unix", P::cgroup_sock_addr, A::cgroup_unix_getsockname, 0},
    {"cgroup/sysctl", P::cgroup_sysctl, A::cgroup_sysctl, 0},
    {"cgroup/getsockopt", P::cgroup_sockopt, A::cgroup_getsockopt, 0},
    {"cgroup/setsockopt", P::cgroup_sockopt, A::cgroup_setsockopt, 0},
    {"cgroup/dev", P::cgroup_device, A::cgroup_device, 0},
    {"sk_lookup", P::sk_lookup, A::sk_lookup, 0},
    {"netfilter", P::netfilter, A::netfilter, 0},
});
static_assert([] {
  for (const auto& e : kTable)
    if (e.prefix.empty()) return false;
  return true;
}(), "classify_program_section skips entries by their first character");

ProgramSection make(const Entry& e, std::string_view target, bool legacy) {
  ProgramSection s;
  s.type = e.type;
  s.expected_attach_type = e.attach;
  s.prefix = std::string(e.prefix);
  s.target = std::string(target);
  s.sleepable = (e.flags & kSleepable) != 0;
  s.xdp_frags = (e.flags & kFrags) != 0;
  s.attach_btf = (e.flags & kBtf) != 0;
  s.return_probe = (e.flags & kReturn) != 0;
  s.multi = (e.flags & kMulti) != 0;
  s.attachable = (e.flags & kNoAttach) == 0;
  s.legacy = legacy;
  return s;
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  int base = 10;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    text.remove_prefix(2);
    base = 16;
  }
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::optional<ProgramSection> classify_program_section(std::string_view name) {
  // Every prefix is non-empty: an entry whose first character differs matches neither way (cheap to skip,
  // and this runs for every code section of every object opened).
  auto first_differs = [&](const Entry& e) { return name.empty() || e.prefix[0] != name[0]; };
  // Strict: exact name, or "prefix/target" for kinds taking a target.
  for (const auto& e : kTable) {
    if (first_differs(e)) continue;
    if (name == e.prefix) return make(e, {}, false);
    if ((e.flags & kTarget) && name.size() > e.prefix.size() && name.starts_with(e.prefix) &&
        name[e.prefix.size()] == '/')
      return make(e, name.substr(e.prefix.size() + 1), false);
  }
  // Legacy: any name starting with a known prefix ("xdp_prog", "socket1", "kprobe__sys_open", "tracepoint__x").
  for (const auto& e : kTable) {
    if (first_differs(e) || !name.starts_with(e.prefix)) continue;
    std::string_view rest = name.substr(e.prefix.size());
    if (!rest.empty() && (rest[0] == '/' || rest[0] == '_' || rest[0] == '-' || rest[0] == '.'))
      rest.remove_prefix(1);
    bool has_slash = name.size() > e.prefix.size() && name[e.prefix.size()] == '/';
    return make(e, (e.flags & kTarget) && has_slash ? rest : std::string_view{}, true);
  }
  return std::nullopt;
}

std::optional<TracepointTarget> parse_tracepoint_target(std::string_view target) {
  auto slash = target.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= target.size()) return std::nullopt;
  return TracepointTarget{std::string(target.substr(0, slash)), std::string(target.substr(slash + 1))};
}

std::optional<KprobeTarget> parse_kprobe_target(std::string_view target) {
  if (target.empty()) return std::nullopt;
  KprobeTarget t;
  auto plus = target.find('+');
  if (plus != std::string_view::npos) {
    if (!parse_u64(target.substr(plus + 1), t.offset)) return std::nullopt;
    target = target.substr(0, plus);
  }
  if (target.empty()) return std::nullopt;
  t.function = std::string(target);
  return t;
}

std::optional<UprobeTarget> parse_uprobe_target(std::string_view target) {
  auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  UprobeTarget t;
  t.binary = std::string(target.substr(0, colon));
  std::string_view fn = target.substr(colon + 1);
  if (fn.empty()) return std::nullopt;
  if (parse_u64(fn, t.offset)) return t;  // a raw file offset
  auto plus = fn.find('+');
  if (plus != std::string_view::npos) {
    if (!parse_u64(fn.substr(plus + 1), t.offset)) return std::nullopt;
    fn = fn.substr(0, plus);
  }
  if (fn.empty()) return std::nullopt;
  t.function = std::string(fn);
  return t;
}

std::optional<UprobeTarget> parse_usdt_target(std::string_view target) {
  auto last = target.rfind(':');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  auto mid = target.rfind(':', last - 1);
  if (mid == std::string_view::npos || mid == 0 || mid + 1 == last || last + 1 == target.size())
    return std::nullopt;
  UprobeTarget t;
  t.binary = std::string(target.substr(0, mid));
  t.function = std::string(target.substr(mid + 1, last - mid - 1));
  t.usdt_name = std::string(target.substr(last + 1));
  return t;
}

}  // namespace ebpf
