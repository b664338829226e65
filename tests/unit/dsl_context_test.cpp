// Context offsets checked against the kernel's UAPI structs wherever Debian's <linux/bpf.h> (6.1) has them,
// pt_regs layouts against <asm/ptrace.h> on the host architecture, and the tracepoint format parser.
#include <gtest/gtest.h>

#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <linux/bpf_perf_event.h>
#include <cstddef>

#include "ebpf/dsl/context.hpp"

namespace {

using namespace ebpf;
namespace c = ebpf::dsl::ctx;

static_assert(c::xdp::data == offsetof(xdp_md, data) && c::xdp::data_end == offsetof(xdp_md, data_end));
static_assert(c::xdp::data_meta == offsetof(xdp_md, data_meta));
static_assert(c::xdp::ingress_ifindex == offsetof(xdp_md, ingress_ifindex));
static_assert(c::xdp::rx_queue_index == offsetof(xdp_md, rx_queue_index));
static_assert(c::xdp::egress_ifindex == offsetof(xdp_md, egress_ifindex));

#define SKB(f) static_assert(c::sk_buff::f == offsetof(__sk_buff, f), #f)
SKB(len); SKB(pkt_type); SKB(mark); SKB(queue_mapping); SKB(protocol); SKB(vlan_present); SKB(vlan_tci);
SKB(vlan_proto); SKB(priority); SKB(ingress_ifindex); SKB(ifindex); SKB(tc_index); SKB(cb); SKB(hash);
SKB(tc_classid); SKB(data); SKB(data_end); SKB(napi_id); SKB(family); SKB(remote_ip4); SKB(local_ip4);
SKB(remote_ip6); SKB(local_ip6); SKB(remote_port); SKB(local_port); SKB(data_meta); SKB(flow_keys); SKB(tstamp);
SKB(wire_len); SKB(gso_segs); SKB(sk); SKB(gso_size); SKB(tstamp_type); SKB(hwtstamp);
#undef SKB

#define FK(f) static_assert(c::flow_keys::f == offsetof(bpf_flow_keys, f), #f)
FK(nhoff); FK(thoff); FK(addr_proto); FK(is_frag); FK(is_first_frag); FK(is_encap); FK(ip_proto); FK(n_proto);
FK(sport); FK(dport); FK(ipv4_src); FK(ipv4_dst); FK(ipv6_src); FK(ipv6_dst); FK(flags); FK(flow_label);
static_assert(c::flow_keys::kSize == sizeof(bpf_flow_keys));
#undef FK

#define MSG(f) static_assert(c::sk_msg::f == offsetof(sk_msg_md, f), #f)
MSG(data); MSG(data_end); MSG(family); MSG(remote_ip4); MSG(local_ip4); MSG(remote_ip6); MSG(local_ip6);
MSG(remote_port); MSG(local_port); MSG(size); MSG(sk);
#undef MSG

#define LK(f) static_assert(c::sk_lookup::f == offsetof(bpf_sk_lookup, f), #f)
LK(sk); LK(family); LK(protocol); LK(remote_ip4); LK(remote_ip6); LK(remote_port); LK(local_ip4); LK(local_ip6);
LK(local_port); LK(ingress_ifindex);
#undef LK

#define SK(f) static_assert(c::sock::f == offsetof(bpf_sock, f), #f)
SK(bound_dev_if); SK(family); SK(type); SK(protocol); SK(mark); SK(priority); SK(src_ip4); SK(src_ip6);
SK(src_port); SK(dst_port); SK(dst_ip4); SK(dst_ip6); SK(state); SK(rx_queue_mapping);
#undef SK

#define SA(f) static_assert(c::sock_addr::f == offsetof(bpf_sock_addr, f), #f)
SA(user_family); SA(user_ip4); SA(user_ip6); SA(user_port); SA(family); SA(type); SA(protocol); SA(msg_src_ip4);
SA(msg_src_ip6); SA(sk);
#undef SA

#define SO(f) static_assert(c::sock_ops::f == offsetof(bpf_sock_ops, f), #f)
SO(op); SO(args); SO(reply); SO(replylong); SO(family); SO(remote_ip4); SO(local_ip4); SO(remote_ip6);
SO(local_ip6); SO(remote_port); SO(local_port); SO(is_fullsock); SO(snd_cwnd); SO(srtt_us); SO(state);
SO(rtt_min); SO(snd_ssthresh); SO(rcv_nxt); SO(snd_nxt); SO(snd_una); SO(mss_cache); SO(ecn_flags);
SO(rate_delivered); SO(rate_interval_us); SO(packets_out); SO(retrans_out); SO(total_retrans); SO(segs_in);
SO(data_segs_in); SO(segs_out); SO(data_segs_out); SO(lost_out); SO(sacked_out); SO(sk_txhash);
SO(bytes_received); SO(bytes_acked); SO(sk); SO(skb_data); SO(skb_data_end); SO(skb_len); SO(skb_tcp_flags);
#undef SO
static_assert(c::sock_ops::cb_flags == offsetof(bpf_sock_ops, bpf_sock_ops_cb_flags));
// skb_hwtstamp (Linux 6.2) follows skb_tcp_flags, 8-byte aligned; Debian's 6.1 header ends at 216.
static_assert(c::sock_ops::skb_hwtstamp == sizeof(bpf_sock_ops));

static_assert(c::iter_meta::session_id == 8 && c::iter_meta::seq_num == 16);

#if defined(__x86_64__)
constexpr auto kHost = dsl::pt_regs_layout(dsl::Arch::x86_64);
static_assert(kHost.parm[0] == offsetof(pt_regs, rdi) && kHost.parm[1] == offsetof(pt_regs, rsi));
static_assert(kHost.parm[2] == offsetof(pt_regs, rdx) && kHost.parm[3] == offsetof(pt_regs, rcx));
static_assert(kHost.parm[4] == offsetof(pt_regs, r8) && kHost.parm[5] == offsetof(pt_regs, r9));
static_assert(kHost.rc == offsetof(pt_regs, rax) && kHost.sp == offsetof(pt_regs, rsp));
static_assert(kHost.ip == offsetof(pt_regs, rip) && kHost.size == sizeof(pt_regs));
#elif defined(__aarch64__)
constexpr auto kHost = dsl::pt_regs_layout(dsl::Arch::arm64);
static_assert(kHost.sp == offsetof(user_pt_regs, sp) && kHost.ip == offsetof(user_pt_regs, pc));
static_assert(kHost.size == sizeof(user_pt_regs));
#endif
// bpf_perf_event_data: sample_period right after the registers.
static_assert(dsl::perf_event_data_layout(dsl::host_arch()).sample_period == offsetof(bpf_perf_event_data, sample_period));
static_assert(dsl::perf_event_data_layout(dsl::host_arch()).addr == offsetof(bpf_perf_event_data, addr));

constexpr std::string_view kOpenatFormat =
    "name: sys_enter_openat\nID: 634\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n"
    "\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n\n"
    "print fmt: \"dfd: 0x%08lx\", ((unsigned long)(REC->dfd))\n";

TEST(DslContext, ParsesTracepointFormat) {
  auto fields = dsl::parse_tracepoint_format(kOpenatFormat);
  ASSERT_TRUE(fields.has_value()) << fields.error().to_string();
  ASSERT_EQ(fields->size(), 5u);
  EXPECT_EQ((*fields)[1].name, "common_pid");
  EXPECT_EQ((*fields)[1].offset, dsl::ctx::trace_entry::common_pid);
  EXPECT_TRUE((*fields)[1].is_signed);
  EXPECT_EQ((*fields)[3].name, "filename");
  EXPECT_EQ((*fields)[3].offset, 24);
  EXPECT_EQ((*fields)[3].size, 8u);
  EXPECT_EQ((*fields)[4].name, "args");
  EXPECT_EQ((*fields)[4].size, 48u);
}

TEST(DslContext, MalformedFormatNamesTheLine) {
  auto r = dsl::parse_tracepoint_format("format:\n\tfield:int x;\toffset:abc;\tsize:4;\tsigned:1;\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::bad_format);
  EXPECT_NE(r.error().message().find("line 2"), std::string::npos) << r.error().message();
  EXPECT_FALSE(dsl::parse_tracepoint_format("nothing here").has_value());
}

TEST(DslContext, ArgumentIndexesAreChecked) {
  Assembler a;
  auto bad = dsl::load_pt_regs_arg(a, dsl::Arch::x86_64, isa::r2, isa::r1, 7);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_FALSE(dsl::load_arg(a, isa::r2, isa::r1, 12).has_value());
  EXPECT_EQ(a.size(), 0u);
  ASSERT_TRUE(dsl::load_pt_regs_arg(a, dsl::Arch::arm64, isa::r2, isa::r1, 3).has_value());
  EXPECT_EQ(a.insns()[0].off, 16);  // x2
  ASSERT_TRUE(dsl::load_arg(a, isa::r2, isa::r1, 11).has_value());
  EXPECT_EQ(a.insns()[1].off, 88);
}

}  // namespace
