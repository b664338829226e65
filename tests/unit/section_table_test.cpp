// Program section names → program type, expected attach type, target and flags.
#include <gtest/gtest.h>

#include "ebpf/section.hpp"

namespace ebpf {
namespace {

struct Case {
  const char* name;
  ProgType type;
  std::optional<AttachType> attach;
  const char* target = "";
};

TEST(SectionTable, StrictNames) {
  using P = ProgType;
  using A = AttachType;
  const Case cases[] = {
      {"xdp", P::xdp, A::xdp},
      {"xdp/devmap", P::xdp, A::xdp_devmap},
      {"xdp/cpumap", P::xdp, A::xdp_cpumap},
      {"xdp.frags/devmap", P::xdp, A::xdp_devmap},
      {"tc", P::sched_cls, std::nullopt},
      {"tc/ingress", P::sched_cls, A::tcx_ingress},
      {"tc/egress", P::sched_cls, A::tcx_egress},
      {"tcx/ingress", P::sched_cls, A::tcx_ingress},
      {"tcx/egress", P::sched_cls, A::tcx_egress},
      {"classifier", P::sched_cls, std::nullopt},
      {"action", P::sched_act, std::nullopt},
      {"socket", P::socket_filter, std::nullopt},
      {"kprobe/do_unlinkat", P::kprobe, std::nullopt, "do_unlinkat"},
      {"kretprobe/do_unlinkat", P::kprobe, std::nullopt, "do_unlinkat"},
      {"ksyscall/openat", P::kprobe, std::nullopt, "openat"},
      {"kretsyscall/openat", P::kprobe, std::nullopt, "openat"},
      {"kprobe.multi/tcp_*", P::kprobe, A::trace_kprobe_multi, "tcp_*"},
      {"kretprobe.multi/tcp_*", P::kprobe, A::trace_kprobe_multi, "tcp_*"},
      {"kprobe.session/x", P::kprobe, A::trace_kprobe_session, "x"},
      {"uprobe//bin/bash:readline", P::kprobe, std::nullopt, "/bin/bash:readline"},
      {"uretprobe.s//bin/bash:readline", P::kprobe, std::nullopt, "/bin/bash:readline"},
      {"uprobe.multi//lib/libc.so.6:malloc", P::kprobe, A::trace_uprobe_multi, "/lib/libc.so.6:malloc"},
      {"uprobe.multi.s/x:y", P::kprobe, A::trace_uprobe_multi, "x:y"},
      {"usdt/./bin:prov:name", P::kprobe, std::nullopt, "./bin:prov:name"},
      {"usdt.s", P::kprobe, std::nullopt},
      {"tracepoint/sched/sched_switch", P::tracepoint, std::nullopt, "sched/sched_switch"},
      {"tp/syscalls/sys_enter_openat", P::tracepoint, std::nullopt, "syscalls/sys_enter_openat"},
      {"raw_tp/sched_switch", P::raw_tracepoint, std::nullopt, "sched_switch"},
      {"raw_tracepoint/sched_switch", P::raw_tracepoint, std::nullopt, "sched_switch"},
      {"raw_tp.w/bpf_test_finish", P::raw_tracepoint_writable, std::nullopt, "bpf_test_finish"},
      {"raw_tracepoint.w/x", P::raw_tracepoint_writable, std::nullopt, "x"},
      {"tp_btf/sched_wakeup", P::tracing, A::trace_raw_tp, "sched_wakeup"},
      {"fentry/tcp_v4_connect", P::tracing, A::trace_fentry, "tcp_v4_connect"},
      {"fentry.s/x", P::tracing, A::trace_fentry, "x"},
      {"fexit/tcp_v4_connect", P::tracing, A::trace_fexit, "tcp_v4_connect"},
      {"fmod_ret/x", P::tracing, A::modify_return, "x"},
      {"freplace/handler", P::ext, std::nullopt, "handler"},
      {"lsm/file_open", P::lsm, A::lsm_mac, "file_open"},
      {"lsm.s/bprm_check", P::lsm, A::lsm_mac, "bprm_check"},
      {"lsm_cgroup/socket_bind", P::lsm, A::lsm_cgroup, "socket_bind"},
      {"iter/task", P::tracing, A::trace_iter, "task"},
      {"iter.s/task_vma", P::tracing, A::trace_iter, "task_vma"},
      {"struct_ops/dctcp_init", P::struct_ops, std::nullopt, "dctcp_init"},
      {"struct_ops.s/x", P::struct_ops, std::nullopt, "x"},
      {"syscall", P::syscall, std::nullopt},
      {"cgroup/skb", P::cgroup_skb, std::nullopt},
      {"cgroup_skb/ingress", P::cgroup_skb, A::cgroup_inet_ingress},
      {"cgroup_skb/egress", P::cgroup_skb, A::cgroup_inet_egress},
      {"cgroup/sock_create", P::cgroup_sock, A::cgroup_inet_sock_create},
      {"cgroup/sock_release", P::cgroup_sock, A::cgroup_inet_sock_release},
      {"cgroup/post_bind4", P::cgroup_sock, A::cgroup_inet4_post_bind},
      {"cgroup/post_bind6", P::cgroup_sock, A::cgroup_inet6_post_bind},
      {"cgroup/bind4", P::cgroup_sock_addr, A::cgroup_inet4_bind},
      {"cgroup/bind6", P::cgroup_sock_addr, A::cgroup_inet6_bind},
      {"cgroup/connect4", P::cgroup_sock_addr, A::cgroup_inet4_connect},
      {"cgroup/connect6", P::cgroup_sock_addr, A::cgroup_inet6_connect},
      {"cgroup/connect_unix", P::cgroup_sock_addr, A::cgroup_unix_connect},
      {"cgroup/sendmsg4", P::cgroup_sock_addr, A::cgroup_udp4_sendmsg},
      {"cgroup/sendmsg6", P::cgroup_sock_addr, A::cgroup_udp6_sendmsg},
      {"cgroup/sendmsg_unix", P::cgroup_sock_addr, A::cgroup_unix_sendmsg},
      {"cgroup/recvmsg4", P::cgroup_sock_addr, A::cgroup_udp4_recvmsg},
      {"cgroup/recvmsg6", P::cgroup_sock_addr, A::cgroup_udp6_recvmsg},
      {"cgroup/recvmsg_unix", P::cgroup_sock_addr, A::cgroup_unix_recvmsg},
      {"cgroup/getpeername4", P::cgroup_sock_addr, A::cgroup_inet4_getpeername},
      {"cgroup/getpeername6", P::cgroup_sock_addr, A::cgroup_inet6_getpeername},
      {"cgroup/getpeername_unix", P::cgroup_sock_addr, A::cgroup_unix_getpeername},
      {"cgroup/getsockname4", P::cgroup_sock_addr, A::cgroup_inet4_getsockname},
      {"cgroup/getsockname6", P::cgroup_sock_addr, A::cgroup_inet6_getsockname},
      {"cgroup/getsockname_unix", P::cgroup_sock_addr, A::cgroup_unix_getsockname},
      {"cgroup/sysctl", P::cgroup_sysctl, A::cgroup_sysctl},
      {"cgroup/getsockopt", P::cgroup_sockopt, A::cgroup_getsockopt},
      {"cgroup/setsockopt", P::cgroup_sockopt, A::cgroup_setsockopt},
      {"cgroup/dev", P::cgroup_device, A::cgroup_device},
      {"sockops", P::sock_ops, A::cgroup_sock_ops},
      {"sk_skb/stream_parser", P::sk_skb, A::sk_skb_stream_parser},
      {"sk_skb/stream_verdict", P::sk_skb, A::sk_skb_stream_verdict},
      {"sk_skb", P::sk_skb, std::nullopt},
      {"sk_msg", P::sk_msg, A::sk_msg_verdict},
      {"sk_lookup", P::sk_lookup, A::sk_lookup},
      {"flow_dissector", P::flow_dissector, A::flow_dissector},
      {"lwt_in", P::lwt_in, std::nullopt},
      {"lwt_out", P::lwt_out, std::nullopt},
      {"lwt_xmit", P::lwt_xmit, std::nullopt},
      {"lwt_seg6local", P::lwt_seg6local, std::nullopt},
      {"netfilter", P::netfilter, A::netfilter},
      {"perf_event", P::perf_event, std::nullopt},
      {"sk_reuseport", P::sk_reuseport, A::sk_reuseport_select},
      {"sk_reuseport/migrate", P::sk_reuseport, A::sk_reuseport_select_or_migrate},
      {"lirc_mode2", P::lirc_mode2, A::lirc_mode2},
  };
  for (const auto& c : cases) {
    auto s = classify_program_section(c.name);
    ASSERT_TRUE(s.has_value()) << c.name;
    EXPECT_EQ(s->type, c.type) << c.name;
    EXPECT_EQ(s->expected_attach_type, c.attach) << c.name;
    EXPECT_EQ(s->target, c.target) << c.name;
    EXPECT_FALSE(s->legacy) << c.name;
  }
}

TEST(SectionTable, Flags) {
  EXPECT_TRUE(classify_program_section("xdp.frags")->xdp_frags);
  EXPECT_FALSE(classify_program_section("xdp")->xdp_frags);
  EXPECT_TRUE(classify_program_section("fentry.s/x")->sleepable);
  EXPECT_TRUE(classify_program_section("lsm.s/x")->sleepable);
  EXPECT_TRUE(classify_program_section("uprobe.s/x:y")->sleepable);
  EXPECT_TRUE(classify_program_section("usdt.s/x:y:z")->sleepable);
  EXPECT_TRUE(classify_program_section("iter.s/task")->sleepable);
  EXPECT_TRUE(classify_program_section("syscall")->sleepable);
  EXPECT_FALSE(classify_program_section("fentry/x")->sleepable);
  EXPECT_TRUE(classify_program_section("kretprobe/x")->return_probe);
  EXPECT_TRUE(classify_program_section("uretprobe/x:y")->return_probe);
  EXPECT_FALSE(classify_program_section("kprobe/x")->return_probe);
  EXPECT_TRUE(classify_program_section("fentry/x")->attach_btf);
  EXPECT_TRUE(classify_program_section("tp_btf/x")->attach_btf);
  EXPECT_FALSE(classify_program_section("raw_tp/x")->attach_btf);
  EXPECT_TRUE(classify_program_section("kprobe.multi/x")->multi);
  EXPECT_FALSE(classify_program_section("tc")->attachable);
}

TEST(SectionTable, LegacyNames) {
  struct L {
    const char* name;
    ProgType type;
  };
  for (auto [name, type] : {L{"xdp_prog", ProgType::xdp}, L{"xdp_drop", ProgType::xdp},
                            L{"socket1", ProgType::socket_filter}, L{"socket_filter", ProgType::socket_filter},
                            L{"kprobe__sys_open", ProgType::kprobe}, L{"tracepoint_x", ProgType::tracepoint},
                            L{"classifier_ingress", ProgType::sched_cls}, L{"action-mirred", ProgType::sched_act},
                            L{"perf_event_x", ProgType::perf_event}, L{"sockops_1", ProgType::sock_ops}}) {
    auto s = classify_program_section(name);
    ASSERT_TRUE(s.has_value()) << name;
    EXPECT_EQ(s->type, type) << name;
    EXPECT_TRUE(s->legacy) << name;
  }
}

TEST(SectionTable, UnknownNames) {
  for (const char* name : {"", ".text", "license", ".maps", "foo", "static", "other", "x/xdp"})
    EXPECT_FALSE(classify_program_section(name).has_value()) << name;
}

TEST(SectionTable, TargetParsers) {
  auto tp = parse_tracepoint_target("sched/sched_switch");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->category, "sched");
  EXPECT_EQ(tp->name, "sched_switch");
  EXPECT_FALSE(parse_tracepoint_target("sched"));
  EXPECT_FALSE(parse_tracepoint_target("/x"));

  auto kp = parse_kprobe_target("tcp_v4_connect+0x10");
  ASSERT_TRUE(kp);
  EXPECT_EQ(kp->function, "tcp_v4_connect");
  EXPECT_EQ(kp->offset, 16u);
  EXPECT_EQ(parse_kprobe_target("do_exit")->offset, 0u);
  EXPECT_FALSE(parse_kprobe_target("f+zz"));

  auto up = parse_uprobe_target("/usr/lib/libc.so.6:malloc+8");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->binary, "/usr/lib/libc.so.6");
  EXPECT_EQ(up->function, "malloc");
  EXPECT_EQ(up->offset, 8u);
  auto raw = parse_uprobe_target("/bin/x:0x1234");
  ASSERT_TRUE(raw);
  EXPECT_TRUE(raw->function.empty());
  EXPECT_EQ(raw->offset, 0x1234u);
  EXPECT_FALSE(parse_uprobe_target("nocolon"));

  auto usdt = parse_usdt_target("/usr/bin/python3:python:function__entry");
  ASSERT_TRUE(usdt);
  EXPECT_EQ(usdt->binary, "/usr/bin/python3");
  EXPECT_EQ(usdt->function, "python");
  EXPECT_EQ(usdt->usdt_name, "function__entry");
  EXPECT_FALSE(parse_usdt_target("/bin/x:onlyone"));
}

}  // namespace
}  // namespace ebpf
