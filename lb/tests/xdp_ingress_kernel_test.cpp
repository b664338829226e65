// ebpf-lb's ingress program through BPF_PROG_TEST_RUN against real maps filled by the control plane's
// table compiler: exact output bytes after DNAT (the expected frame is built independently, so every checksum
// is a full recompute), the backend predicted by the reference flow hash, conntrack entries and counters read
// back from the maps, TCP states, the packet policy for non-service / malformed / fragmented traffic.
// Every test runs twice: the program built for XDP and for TC ingress (sched_cls: skb helpers for the DNAT,
// TC_ACT_OK / TC_ACT_SHOT verdicts), since both hooks must keep the same contract.
#include <gtest/gtest.h>

// Packet specs are written with designated initialisers naming only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "lb/tests/xdp_fixture.hpp"

namespace lb::test {
namespace {

using namespace ebpf::packet;

constexpr std::string_view kYaml = R"(
maglev_table_size: 1009
conntrack: { max_entries: 65536 }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    backends:
      - { address: 10.0.1.1, port: 8080, weight: 3 }
      - { address: 10.0.1.2, port: 8081 }
      - { address: 10.0.1.3, port: 8082 }
  - name: dns
    vip: 10.0.0.53
    port: 53
    protocol: udp
    backends:
      - { address: 10.0.2.1, port: 5353 }
      - { address: 10.0.2.2, port: 5353 }
  - name: web6
    vip: "2001:db8::100"
    port: 443
    backends:
      - { address: "2001:db8:1::1", port: 8443 }
      - { address: "2001:db8:1::2", port: 8444 }
)";

const Ipv4Addr kVip = ip4("10.0.0.100"), kDnsVip = ip4("10.0.0.53"), kClient = ip4("192.0.2.10");

class XdpIngress : public ::testing::TestWithParam<IngressHook> {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto dp = XdpDataPath::create(kYaml, {}, {.hook = GetParam()});
    ASSERT_TRUE(dp.has_value()) << dp.error().to_string();
    dp_ = std::make_unique<XdpDataPath>(std::move(*dp));
    pass_ = pass_code(GetParam());
    drop_ = drop_code(GetParam());
  }
  ebpf::TestRunResult run(const std::vector<std::uint8_t>& frame) {
    auto res = dp_->run(frame);
    EXPECT_TRUE(res.has_value()) << res.error().to_string();
    return res.value_or(ebpf::TestRunResult{});
  }
  std::unique_ptr<XdpDataPath> dp_;
  std::uint32_t pass_ = kXdpPass;  // the hook's "let the stack have it" verdict
  std::uint32_t drop_ = kXdpDrop;
};

INSTANTIATE_TEST_SUITE_P(Hooks, XdpIngress, ::testing::Values(IngressHook::xdp, IngressHook::tc), hook_name);

TEST_P(XdpIngress, ProgramTypeMatchesTheHook) {
  ASSERT_OK_AND_ASSIGN(auto info, dp_->program.info());
  EXPECT_EQ(info.type, GetParam() == IngressHook::tc ? ebpf::ProgType::sched_cls : ebpf::ProgType::xdp);
}

TEST_P(XdpIngress, SynIsDnatedToTheReferenceBackendWithExactBytes) {
  const auto key = flow_key(mapped(kClient), mapped(kVip), 40000, 80, kProtoTcp, kFamilyV4);
  const std::uint32_t want = dp_->expected_backend("web", key);
  ASSERT_NE(want, kNoBackend);
  const BackendValue be = dp_->backend(want);
  auto in = tcp4(kClient, 40000, kVip, 80, tcp_flags::syn, "hello");
  auto out = run(in);
  ASSERT_EQ(out.retval, pass_);
  // The same frame built with the backend as destination: every checksum recomputed from scratch.
  auto expected = tcp4(kClient, 40000, ipv4_of(be.addr), ntohs(be.port), tcp_flags::syn, "hello");
  EXPECT_EQ(out.data_out, expected);
  ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
  EXPECT_EQ(parsed.ipv4_checksum_ok, true);
  EXPECT_EQ(parsed.l4_checksum_ok, true);
}

TEST_P(XdpIngress, NewFlowInsertsBothConntrackEntriesAndCounts) {
  const auto key = flow_key(mapped(kClient), mapped(kVip), 40001, 80, kProtoTcp, kFamilyV4);
  const std::uint32_t be_id = dp_->expected_backend("web", key);
  const BackendValue be = dp_->backend(be_id);
  auto in = tcp4(kClient, 40001, kVip, 80, tcp_flags::syn);
  ASSERT_EQ(run(in).retval, pass_);

  auto fwd = dp_->conntrack(key);
  ASSERT_TRUE(fwd.has_value());
  EXPECT_EQ(fwd->nat_addr, be.addr);
  EXPECT_EQ(fwd->nat_port, be.port);
  EXPECT_EQ(fwd->backend_id, be_id);
  EXPECT_EQ(fwd->service_id, dp_->service_id("web"));
  EXPECT_EQ(fwd->state, static_cast<std::uint8_t>(TcpState::kSynSent));
  EXPECT_EQ(fwd->flags, 0);
  EXPECT_EQ(fwd->packets, 1u);
  EXPECT_EQ(fwd->bytes, in.size());
  EXPECT_GT(fwd->created_ns, 0u);
  EXPECT_EQ(fwd->last_seen_ns, fwd->created_ns);

  ConntrackKey rkey = flow_key(be.addr, mapped(kClient), 0, 40001, kProtoTcp, kFamilyV4);
  rkey.sport = be.port;
  auto rev = dp_->conntrack(rkey);
  ASSERT_TRUE(rev.has_value());
  EXPECT_EQ(rev->nat_addr, mapped(kVip));
  EXPECT_EQ(rev->nat_port, net16(80));
  EXPECT_EQ(rev->flags, ct_flags::kReverse);
  EXPECT_EQ(rev->backend_id, be_id);
  EXPECT_EQ(rev->packets, 0u);

  ASSERT_OK_AND_ASSIGN(auto svc, dp_->maps->service_counters(dp_->service_id("web")));
  EXPECT_EQ(svc.packets, 1u);
  EXPECT_EQ(svc.bytes, in.size());
  EXPECT_EQ(svc.new_flows, 1u);
  ASSERT_OK_AND_ASSIGN(auto bec, dp_->maps->backend_counters(be_id));
  EXPECT_EQ(bec.packets, 1u);
  EXPECT_EQ(bec.bytes, in.size());
  EXPECT_EQ(bec.new_flows, 1u);
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.ct_created, 1u);
  EXPECT_EQ(global.not_service, 0u);
}

TEST_P(XdpIngress, EveryPacketOfAFlowGoesToItsBackendEvenAfterTheTableChanges) {
  const auto key = flow_key(mapped(kClient), mapped(kVip), 40002, 80, kProtoTcp, kFamilyV4);
  ASSERT_EQ(run(tcp4(kClient, 40002, kVip, 80, tcp_flags::syn)).retval, pass_);
  auto first = dp_->conntrack(key);
  ASSERT_TRUE(first.has_value());
  // A reload that reshapes the Maglev table (new backend, new weights) must not move the flow.
  const BackendValue be = dp_->backend(first->backend_id);
  std::string yaml(kYaml);
  yaml.replace(yaml.find("weight: 3"), 9, "weight: 1");
  yaml.insert(yaml.find("  - name: dns"), "      - { address: 10.0.1.4, port: 8083, weight: 5 }\n");
  ASSERT_OK(dp_->reload(yaml));
  for (int i = 0; i < 40; ++i) {
    auto out = run(tcp4(kClient, 40002, kVip, 80, tcp_flags::ack | tcp_flags::psh, "data"));
    ASSERT_EQ(out.retval, pass_);
    ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
    EXPECT_EQ(parsed.dst_ipv4, ipv4_of(be.addr)) << "packet " << i;
    EXPECT_EQ(parsed.dst_port, ntohs(be.port));
    EXPECT_EQ(parsed.l4_checksum_ok, true);
  }
  auto ct = dp_->conntrack(key);
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(ct->packets, 41u);
  EXPECT_EQ(ct->state, static_cast<std::uint8_t>(TcpState::kEstablished));
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.ct_created, 1u);
}

// Conntrack is consulted before the service (the XDP contract): removing a service by reload leaves its
// established flows going to their backend until they close or idle out, while new flows to the old VIP
// are no longer a service's.
TEST_P(XdpIngress, EstablishedFlowOutlivesTheRemovalOfItsService) {
  ASSERT_EQ(run(tcp4(kClient, 40011, kVip, 80, tcp_flags::syn)).retval, pass_);
  auto flow = dp_->conntrack(flow_key(mapped(kClient), mapped(kVip), 40011, 80, kProtoTcp, kFamilyV4));
  ASSERT_TRUE(flow.has_value());
  const BackendValue be = dp_->backend(flow->backend_id);
  std::string yaml(kYaml);
  const auto web = yaml.find("  - name: web\n");
  yaml.erase(web, yaml.find("  - name: dns") - web);
  ASSERT_EQ(yaml.find("10.0.0.100"), std::string::npos);
  ASSERT_OK(dp_->reload(yaml));

  auto out = run(tcp4(kClient, 40011, kVip, 80, tcp_flags::ack | tcp_flags::psh, "still here"));
  ASSERT_EQ(out.retval, pass_);
  ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
  EXPECT_EQ(parsed.dst_ipv4, ipv4_of(be.addr));
  EXPECT_EQ(parsed.dst_port, ntohs(be.port));
  EXPECT_TRUE(parsed.l4_checksum_ok);

  const auto fresh = tcp4(kClient, 40012, kVip, 80, tcp_flags::syn);
  auto passed = run(fresh);
  EXPECT_EQ(passed.retval, pass_);
  EXPECT_EQ(passed.data_out, fresh);  // untouched
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.not_service, 1u);
  EXPECT_EQ(global.ct_created, 1u);
}

TEST_P(XdpIngress, TcpStatesFromFlagsAndRstRemovesBothEntries) {
  const auto key = flow_key(mapped(kClient), mapped(kVip), 40003, 80, kProtoTcp, kFamilyV4);
  auto state = [&] { return dp_->conntrack(key).value_or(ConntrackValue{}).state; };
  ASSERT_EQ(run(tcp4(kClient, 40003, kVip, 80, tcp_flags::syn)).retval, pass_);
  EXPECT_EQ(state(), static_cast<std::uint8_t>(TcpState::kSynSent));
  ASSERT_EQ(run(tcp4(kClient, 40003, kVip, 80, tcp_flags::syn)).retval, pass_);  // retransmitted SYN
  EXPECT_EQ(state(), static_cast<std::uint8_t>(TcpState::kSynSent));
  ASSERT_EQ(run(tcp4(kClient, 40003, kVip, 80, tcp_flags::ack)).retval, pass_);
  EXPECT_EQ(state(), static_cast<std::uint8_t>(TcpState::kEstablished));
  ASSERT_EQ(run(tcp4(kClient, 40003, kVip, 80, tcp_flags::fin | tcp_flags::ack)).retval, pass_);
  EXPECT_EQ(state(), static_cast<std::uint8_t>(TcpState::kFinWait));
  EXPECT_EQ(dp_->conntrack(key)->flags, ct_flags::kFinFromClient);

  // The backend's FIN is recorded by TC egress; simulate it, then the client's FIN makes it "closing".
  auto value = *dp_->conntrack(key);
  value.flags = ct_flags::kFinFromBackend;
  value.state = static_cast<std::uint8_t>(TcpState::kFinWait);
  ASSERT_OK(dp_->put_conntrack(key, value));
  ASSERT_EQ(run(tcp4(kClient, 40003, kVip, 80, tcp_flags::fin | tcp_flags::ack)).retval, pass_);
  EXPECT_EQ(state(), static_cast<std::uint8_t>(TcpState::kClosing));

  const BackendValue be = dp_->backend(value.backend_id);
  ConntrackKey rkey = flow_key(be.addr, mapped(kClient), 0, 40003, kProtoTcp, kFamilyV4);
  rkey.sport = be.port;
  ASSERT_TRUE(dp_->conntrack(rkey).has_value());
  auto out = run(tcp4(kClient, 40003, kVip, 80, tcp_flags::rst));
  ASSERT_EQ(out.retval, pass_);
  ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
  EXPECT_EQ(parsed.dst_ipv4, ipv4_of(be.addr)) << "the RST itself still reaches the backend";
  EXPECT_FALSE(dp_->conntrack(key).has_value());
  EXPECT_FALSE(dp_->conntrack(rkey).has_value());
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.ct_closed, 1u);
  // Without an entry, a non-SYN passes untouched and creates nothing.
  auto ack = tcp4(kClient, 40003, kVip, 80, tcp_flags::ack);
  out = run(ack);
  EXPECT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out, ack);
  EXPECT_FALSE(dp_->conntrack(key).has_value());
}

// A client reusing its source port meets the reverse entry its earlier flow left behind when the LRU evicted
// only that flow's forward entry: the new flow takes it over. A reverse entry that translates to another VIP
// belongs to another flow: the new flow is refused (conntrack_full) and the other entry stays intact.
TEST_P(XdpIngress, NewFlowTakesOverItsOwnStaleReverseEntryButNotAnotherFlows) {
  const auto key = flow_key(mapped(kClient), mapped(kDnsVip), 6000, 53, kProtoUdp, kFamilyV4);
  const std::uint32_t be_id = dp_->expected_backend("dns", key);
  const BackendValue be = dp_->backend(be_id);
  ConntrackKey rkey = flow_key(be.addr, mapped(kClient), 0, 6000, kProtoUdp, kFamilyV4);
  rkey.sport = be.port;
  const ConntrackValue stale{mapped(kDnsVip), net16(53), 0, ct_flags::kReverse, be_id, 0, 0, 1, 1, 7, 700};
  ASSERT_OK(dp_->put_conntrack(rkey, stale));
  auto out = run(udp4(kClient, 6000, kDnsVip, 53, "again"));
  ASSERT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out, udp4(kClient, 6000, ipv4_of(be.addr), ntohs(be.port), "again"));
  ASSERT_TRUE(dp_->conntrack(key).has_value());
  auto rev = dp_->conntrack(rkey);
  ASSERT_TRUE(rev.has_value());
  EXPECT_EQ(rev->packets, 0u) << "the stale entry was not replaced";
  EXPECT_GT(rev->created_ns, 1u);

  // Same reverse key, but it translates back to the web VIP: another flow's. Refused, nothing changed.
  const auto other_key = flow_key(mapped(kClient), mapped(kDnsVip), 6001, 53, kProtoUdp, kFamilyV4);
  const BackendValue other_be = dp_->backend(dp_->expected_backend("dns", other_key));
  ConntrackKey other_rkey = flow_key(other_be.addr, mapped(kClient), 0, 6001, kProtoUdp, kFamilyV4);
  other_rkey.sport = other_be.port;
  const ConntrackValue foreign{mapped(kVip), net16(80), 0, ct_flags::kReverse, 0, 0, 0, 1, 1, 7, 700};
  ASSERT_OK(dp_->put_conntrack(other_rkey, foreign));
  ASSERT_EQ(run(udp4(kClient, 6001, kDnsVip, 53, "collide")).retval, drop_);
  EXPECT_FALSE(dp_->conntrack(other_key).has_value()) << "the refused flow's forward entry was left behind";
  auto kept = dp_->conntrack(other_rkey);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->nat_addr, mapped(kVip));
  EXPECT_EQ(kept->packets, 7u);
  ASSERT_OK_AND_ASSIGN(auto svc, dp_->maps->service_counters(dp_->service_id("dns")));
  EXPECT_EQ(svc.drops[static_cast<std::size_t>(DropReason::kConntrackFull)], 1u);
  EXPECT_EQ(svc.new_flows, 1u);
}

TEST_P(XdpIngress, UdpFlowIsDnatedAndKeepsItsChecksumValid) {
  const auto key = flow_key(mapped(kClient), mapped(kDnsVip), 5555, 53, kProtoUdp, kFamilyV4);
  const BackendValue be = dp_->backend(dp_->expected_backend("dns", key));
  auto out = run(udp4(kClient, 5555, kDnsVip, 53, "query"));
  ASSERT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out, udp4(kClient, 5555, ipv4_of(be.addr), ntohs(be.port), "query"));
  auto ct = dp_->conntrack(key);
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(ct->state, static_cast<std::uint8_t>(TcpState::kNone));
  // A UDP checksum of 0 ("none") stays 0.
  auto zero = udp4(kClient, 5556, kDnsVip, 53, "query");
  zero[14 + 20 + 6] = zero[14 + 20 + 7] = 0;
  const BackendValue be2 = dp_->backend(dp_->expected_backend("dns", flow_key(mapped(kClient), mapped(kDnsVip), 5556, 53, kProtoUdp, kFamilyV4)));
  out = run(zero);
  ASSERT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out[14 + 20 + 6], 0);
  EXPECT_EQ(out.data_out[14 + 20 + 7], 0);
  ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
  EXPECT_EQ(parsed.dst_ipv4, ipv4_of(be2.addr));
  EXPECT_EQ(parsed.ipv4_checksum_ok, true);
}

TEST_P(XdpIngress, VlanIpOptionsAndTcpOptionsAreDnatedExactly) {
  TcpSpec tcp{.src_port = 41000, .dst_port = 80, .seq = 5, .flags = tcp_flags::syn};
  tcp.options = {TcpOption::mss(1460), TcpOption::sack_permitted(), TcpOption::timestamps(1, 0), TcpOption::window_scale(7)};
  auto build = [&](const Ipv4Addr& dst, std::uint16_t dport) {
    TcpSpec t = tcp;
    t.dst_port = dport;
    return Builder()
        .ethernet({.src = kClientMac, .dst = kLbMac, .vlan_id = 42})
        .ipv4({.src = kClient, .dst = dst, .id = 99, .options = {0x94, 0x04, 0, 0, 1, 1, 1, 1}})
        .tcp(t)
        .payload("options")
        .build()
        .value();
  };
  const auto key = flow_key(mapped(kClient), mapped(kVip), 41000, 80, kProtoTcp, kFamilyV4);
  const BackendValue be = dp_->backend(dp_->expected_backend("web", key));
  auto out = run(build(kVip, 80));
  ASSERT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out, build(ipv4_of(be.addr), ntohs(be.port)));
}

TEST_P(XdpIngress, Ipv6FlowIsDnatedExactly) {
  const auto client = *parse_ipv6("2001:db8:ff::7"), vip = *parse_ipv6("2001:db8::100");
  auto build = [&](const Ipv6Addr& dst, std::uint16_t dport) {
    return Builder().ethernet(kClientMac, kLbMac).ipv6(client, dst).tcp(50000, dport, tcp_flags::syn).payload("six").build().value();
  };
  const auto key = flow_key(v6(client), v6(vip), 50000, 443, kProtoTcp, kFamilyV6);
  const BackendValue be = dp_->backend(dp_->expected_backend("web6", key));
  auto out = run(build(vip, 443));
  ASSERT_EQ(out.retval, pass_);
  EXPECT_EQ(out.data_out, build(ipv6_of(be.addr), ntohs(be.port)));
  ASSERT_OK_AND_ASSIGN(auto parsed, parse(out.data_out));
  EXPECT_TRUE(parsed.l4_checksum_ok);
  ASSERT_TRUE(dp_->conntrack(key).has_value());
}

TEST_P(XdpIngress, NonServiceTrafficPassesUntouchedAndIsCounted) {
  std::vector<std::vector<std::uint8_t>> frames = {
      tcp4(kClient, 1234, kVip, 81, tcp_flags::syn),          // wrong port
      udp4(kClient, 1234, kVip, 80),                          // wrong protocol
      tcp4(kClient, 1234, ip4("10.0.0.101"), 80, tcp_flags::syn),  // other address
      Builder().ethernet(kClientMac, kLbMac).ipv4(kClient, kVip).icmp_echo({}).build().value(),  // ICMP
      Builder().ethernet({.src = kClientMac, .dst = kLbMac, .ethertype = 0x0806}).payload(std::string(28, 'a')).build().value(),
  };
  for (const auto& frame : frames) {
    auto out = run(frame);
    EXPECT_EQ(out.retval, pass_);
    EXPECT_EQ(out.data_out, frame);
  }
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.not_service, frames.size());
  EXPECT_EQ(global.malformed, 0u);  // complete headers: not malformed, just not a service
  EXPECT_EQ(global.ct_created, 0u);
}

TEST_P(XdpIngress, EveryTruncationPassesUntouchedWithoutState) {
  TcpSpec tcp{.src_port = 42000, .dst_port = 80, .flags = tcp_flags::syn};
  tcp.options = {TcpOption::mss(1400)};
  auto v4 = Builder().ethernet({.src = kClientMac, .dst = kLbMac, .vlan_id = 5}).ipv4({.src = kClient, .dst = kVip, .options = {1, 1, 1, 1}}).tcp(tcp).build();
  auto v6 = Builder().ethernet(kClientMac, kLbMac).ipv6(*parse_ipv6("2001:db8:ff::9"), *parse_ipv6("2001:db8::100")).tcp(42000, 443, tcp_flags::syn).build();
  auto udp = udp4(kClient, 42000, kDnsVip, 53, "");
  ASSERT_OK(v4);
  ASSERT_OK(v6);
  std::size_t cut_frames = 0, refused = 0;
  for (const auto* frame : {&*v4, &*v6, &udp}) {
    // Headers end where the TCP header's first 20 bytes / the UDP header end; shorter frames are malformed.
    const std::size_t l4_end = frame->size() - (frame == &*v4 ? 4 : 0);  // v4 TCP has 4 option bytes
    for (std::size_t len = 14; len < l4_end; ++len) {  // test_run refuses frames below ETH_HLEN
      std::vector<std::uint8_t> cut(frame->begin(), frame->begin() + static_cast<std::ptrdiff_t>(len));
      auto tried = dp_->run(cut);
      // The skb test run refuses frames whose untagged IP header is incomplete before the program runs
      // (EINVAL); XDP's takes them all, and no such skb reaches TC ingress on a real interface.
      if (GetParam() == IngressHook::tc && !tried && tried.error().sys_errno() == EINVAL) {
        const std::size_t ip_header_end = frame == &*v6 ? 14 + 40 : frame == &udp ? 14 + 20 : 0;
        EXPECT_LT(len, ip_header_end) << "the skb test run refused a frame with a complete IP header";
        ++refused;
        continue;
      }
      ASSERT_TRUE(tried.has_value()) << "length " << len << ": " << tried.error().to_string();
      const auto& out = *tried;
      ASSERT_EQ(out.retval, pass_) << "length " << cut.size();
      ASSERT_EQ(out.data_out, cut) << "length " << cut.size();
      ++cut_frames;
    }
  }
  EXPECT_GT(cut_frames, refused) << "most truncated frames must reach the program";
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  // Counted as malformed, apart from traffic that is merely not ours.
  EXPECT_EQ(global.malformed, cut_frames);
  EXPECT_EQ(global.not_service, 0u);
  EXPECT_EQ(global.ct_created, 0u);
}

TEST_P(XdpIngress, FirstFragmentToAServiceIsDroppedAndCounted) {
  auto frame = udp4(kClient, 6000, kDnsVip, 53, "fragment");
  frame[14 + 6] = 0x20;  // MF, offset 0 (the IPv4 checksum is not checked by the data path)
  frame[14 + 7] = 0x00;
  EXPECT_EQ(run(frame).retval, drop_);
  ASSERT_OK_AND_ASSIGN(auto svc, dp_->maps->service_counters(dp_->service_id("dns")));
  EXPECT_EQ(svc.drops[static_cast<std::size_t>(DropReason::kUnsupported)], 1u);
  frame[14 + 7] = 0x08;  // a later fragment: no ports, not a flow → passes
  EXPECT_EQ(run(frame).retval, pass_);
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.not_service, 1u);
  EXPECT_EQ(global.ct_created, 0u);
}

TEST_P(XdpIngress, IdleFlowExpiresAndIsReplacedByANewOne) {
  const auto key = flow_key(mapped(kClient), mapped(kDnsVip), 7000, 53, kProtoUdp, kFamilyV4);
  ASSERT_EQ(run(udp4(kClient, 7000, kDnsVip, 53)).retval, pass_);
  auto v = dp_->conntrack(key);
  ASSERT_TRUE(v.has_value());
  // Age the entry past udp_idle (60 s by default) and give it a marker the new entry will not have.
  v->last_seen_ns -= 61'000'000'000ULL;
  v->created_ns = 1;
  v->packets = 1000;
  ASSERT_OK(dp_->put_conntrack(key, *v));
  ASSERT_EQ(run(udp4(kClient, 7000, kDnsVip, 53)).retval, pass_);
  auto fresh = dp_->conntrack(key);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->packets, 1u);
  EXPECT_GT(fresh->created_ns, 1u);
  ASSERT_OK_AND_ASSIGN(auto global, dp_->maps->global_counters());
  EXPECT_EQ(global.ct_expired, 1u);
  EXPECT_EQ(global.ct_created, 2u);
}

}  // namespace
}  // namespace lb::test
