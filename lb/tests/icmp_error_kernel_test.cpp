// ICMP errors about balanced flows, at packet level through BPF_PROG_TEST_RUN. Each translated error is
// compared byte for byte with the error built from scratch as the other side must see it (its checksums
// computed by the packet builder), and its checksums are verified again by the packet parser:
//   - TC egress: a backend's error about the DNATed packet client → backend gets VIP:vport back in its quote
//     and the VIP as source (a router's error keeps its source);
//   - ingress (XDP and TC hooks): an error sent to the VIP about a reply VIP → client goes to the backend with
//     backend:bport in its quote.
// IPv4 and IPv6, TCP and UDP, quotes cut to the 8 bytes of ports or through the TCP checksum; errors that are
// no error, are about no flow or a flow of the wrong direction, or are cut short pass untouched. Needs root.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "lb/dataplane/dataplane.hpp"
#include "lb/dataplane/tc_egress.hpp"
#include "xdp_fixture.hpp"

namespace lb::test {
namespace {

namespace packet = ebpf::packet;

constexpr std::string_view kYaml = R"(
maglev_table_size: 1009
conntrack: { max_entries: 4096 }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    backends: [ { address: 10.0.1.1, port: 8080 } ]
)";

// One balanced flow: client:cport → vip:vport, DNATed to backend:bport (ports host order).
struct Flow {
  std::string client, vip, backend;
  std::uint16_t cport, vport, bport;
  std::uint8_t proto = kProtoTcp;
  bool v6 = false;
};
const Flow kTcp4{"192.168.1.5", "10.0.0.100", "10.0.1.1", 40000, 80, 8080};
const Flow kUdp4{"192.168.1.5", "10.0.0.100", "10.0.1.1", 40001, 53, 5353, kProtoUdp};
const Flow kTcp6{"2001:db8:c::5", "2001:db8::100", "2001:db8:1::1", 40002, 443, 8443, kProtoTcp, true};
const Flow kUdp6{"2001:db8:c::5", "2001:db8::100", "2001:db8:1::1", 40003, 53, 5353, kProtoUdp, true};

Addr addr(const Flow& f, const std::string& host) {
  return f.v6 ? v6(*packet::parse_ipv6(host)) : mapped(*packet::parse_ipv4(host));
}

// An IP packet (no Ethernet) src:sport → dst:dport of the flow's family and protocol.
std::vector<std::uint8_t> ip_packet(const Flow& f, const std::string& src, std::uint16_t sport, const std::string& dst,
                                    std::uint16_t dport) {
  packet::Builder b;
  if (f.v6) b.ipv6(*packet::parse_ipv6(src), *packet::parse_ipv6(dst));
  else b.ipv4({.src = *packet::parse_ipv4(src), .dst = *packet::parse_ipv4(dst), .ttl = 63, .id = 99});
  if (f.proto == kProtoTcp) b.tcp({.src_port = sport, .dst_port = dport, .seq = 5, .ack = 6, .flags = packet::tcp_flags::ack});
  else b.udp(sport, dport);
  return *b.payload("quoted payload").build();
}

// The first `keep` bytes of a packet's L4 header (and what precedes it); nullopt keeps it whole.
std::vector<std::uint8_t> cut(std::vector<std::uint8_t> ip, const Flow& f, std::optional<std::size_t> keep) {
  if (keep) ip.resize((f.v6 ? 40 : 20) + *keep);
  return ip;
}

// An ICMP (ICMPv6) error frame src → dst quoting `quote`.
std::vector<std::uint8_t> icmp_frame(const Flow& f, const std::string& src, const std::string& dst,
                                     const packet::IcmpSpec& icmp, const std::vector<std::uint8_t>& quote,
                                     std::optional<std::uint16_t> vlan = {}) {
  packet::Builder b;
  b.ethernet({.src = kLbMac, .dst = kClientMac, .vlan_id = vlan});
  if (f.v6) b.ipv6(*packet::parse_ipv6(src), *packet::parse_ipv6(dst));
  else b.ipv4(*packet::parse_ipv4(src), *packet::parse_ipv4(dst));
  return *b.icmp(icmp).payload(quote).build();
}

packet::IcmpSpec port_unreachable(const Flow& f) { return f.v6 ? packet::IcmpSpec{1, 4, 0} : packet::IcmpSpec{3, 3, 0}; }
packet::IcmpSpec too_big(const Flow& f) { return f.v6 ? packet::IcmpSpec{2, 0, 1280} : packet::IcmpSpec{3, 4, 1400}; }

class IcmpErrors : public ::testing::TestWithParam<IngressHook> {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto dp = XdpDataPath::create(kYaml, {}, {.hook = GetParam()});
    ASSERT_OK(dp);
    dp_ = std::make_unique<XdpDataPath>(std::move(*dp));
    auto code = dataplane::build_tc_egress();
    ASSERT_OK(code);
    auto prog = load_lb_program(ebpf::ProgType::sched_cls, std::move(*code), *dp_->maps, "icmp_lb_tc");
    ASSERT_OK(prog);
    egress_ = std::move(*prog);
  }

  // The flow's two entries, as the ingress program inserts them.
  void insert(const Flow& f) {
    const std::uint8_t family = f.v6 ? kFamilyV6 : kFamilyV4;
    ConntrackValue forward{addr(f, f.backend), net16(f.bport), 0, 0, 1, 0, 0, 0, 0, 0, 0};
    ConntrackValue reverse{addr(f, f.vip), net16(f.vport), 0, ct_flags::kReverse, 1, 0, 0, 0, 0, 0, 0};
    ASSERT_OK(dp_->put_conntrack(flow_key(addr(f, f.client), addr(f, f.vip), f.cport, f.vport, f.proto, family), forward));
    ASSERT_OK(dp_->put_conntrack(flow_key(addr(f, f.backend), addr(f, f.client), f.bport, f.cport, f.proto, family), reverse));
  }

  std::vector<std::uint8_t> run(const ebpf::Program& prog, const std::vector<std::uint8_t>& frame, std::uint32_t verdict) {
    auto r = prog.test_run({.data_in = frame});
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    if (!r) return {};
    EXPECT_EQ(r->retval, verdict);
    return r->data_out;
  }
  std::vector<std::uint8_t> egress(const std::vector<std::uint8_t>& frame) { return run(egress_, frame, kTcActOk); }
  std::vector<std::uint8_t> ingress(const std::vector<std::uint8_t>& frame) {
    return run(dp_->program, frame, pass_code(GetParam()));
  }

  std::uint64_t translated() {
    auto g = dp_->maps->global_counters();
    EXPECT_TRUE(g.has_value());
    return g ? g->icmp_translated : 0;
  }

  // `out` equals `want`, and the parser finds every checksum in it valid (the quote's when it is whole).
  // The one's complement sum of everything after the Ethernet header is that of `in`: a CHECKSUM_COMPLETE
  // skb's csum stays valid without an update.
  static void expect_translated(const std::vector<std::uint8_t>& in, const std::vector<std::uint8_t>& out,
                                const std::vector<std::uint8_t>& want, bool whole) {
    EXPECT_EQ(packet::to_hex(out), packet::to_hex(want));
    ASSERT_EQ(in.size(), out.size());
    EXPECT_EQ(packet::internet_checksum(std::span(in).subspan(14)), packet::internet_checksum(std::span(out).subspan(14)));
    auto parsed = packet::parse(out);
    ASSERT_OK(parsed);
    EXPECT_EQ(parsed->l4_checksum_ok, std::optional<bool>(true)) << "ICMP checksum";
    if (parsed->ip_version == 4) {
      EXPECT_EQ(parsed->ipv4_checksum_ok, std::optional<bool>(true));
    }
    if (!whole) return;
    auto quote = packet::parse(parsed->payload, {.ethernet = false});
    ASSERT_OK(quote);
    if (quote->ip_version == 4) {
      EXPECT_EQ(quote->ipv4_checksum_ok, std::optional<bool>(true));
    }
    EXPECT_EQ(quote->l4_checksum_ok, std::optional<bool>(true)) << "quoted L4 checksum";
  }

  std::unique_ptr<XdpDataPath> dp_;
  ebpf::Program egress_;
};

// The backend answers client → backend:bport; the client must see an error from the VIP about client → VIP:vport.
TEST_P(IcmpErrors, BackendErrorsReachTheClientAsTheVipsWithTheOriginalQuote) {
  std::uint64_t count = 0;
  for (const Flow& f : {kTcp4, kUdp4, kTcp6, kUdp6}) {
    insert(f);
    const auto sent = ip_packet(f, f.client, f.cport, f.backend, f.bport);
    const auto original = ip_packet(f, f.client, f.cport, f.vip, f.vport);
    // Whole quote (as Linux sends), then cut to the ports + UDP checksum, then through the TCP checksum.
    for (std::optional<std::size_t> keep : {std::optional<std::size_t>{}, std::optional<std::size_t>{8},
                                            std::optional<std::size_t>{18}}) {
      if (keep == 18u && f.proto != kProtoTcp) continue;
      for (const auto& icmp : {port_unreachable(f), too_big(f)}) {
        SCOPED_TRACE(f.client + " proto " + std::to_string(f.proto) + " keep " + std::to_string(keep.value_or(0)) +
                     " type " + std::to_string(icmp.type));
        const auto in = icmp_frame(f, f.backend, f.client, icmp, cut(sent, f, keep));
        expect_translated(in, egress(in), icmp_frame(f, f.vip, f.client, icmp, cut(original, f, keep)), !keep);
        EXPECT_EQ(translated(), ++count);
      }
    }
  }
}

TEST_P(IcmpErrors, ARoutersErrorKeepsItsSourceButGetsTheOriginalQuote) {
  for (const Flow& f : {kTcp4, kUdp6}) {
    insert(f);
    const std::string router = f.v6 ? "2001:db8:1::fe" : "10.0.1.254";
    const auto in = icmp_frame(f, router, f.client, too_big(f), ip_packet(f, f.client, f.cport, f.backend, f.bport));
    expect_translated(in, egress(in), icmp_frame(f, router, f.client, too_big(f), ip_packet(f, f.client, f.cport, f.vip, f.vport)),
                      true);
  }
  EXPECT_EQ(translated(), 2u);
}

// Something on the client's side answers a reply VIP:vport → client; the backend that sent it must get it.
TEST_P(IcmpErrors, ErrorsSentToTheVipGoToTheBackendWithItsOwnQuote) {
  std::uint64_t count = 0;
  for (const Flow& f : {kTcp4, kUdp4, kTcp6, kUdp6}) {
    insert(f);
    const std::string router = f.v6 ? "2001:db8:c::1" : "192.168.1.1";
    const auto reply = ip_packet(f, f.vip, f.vport, f.client, f.cport);
    const auto sent_by_backend = ip_packet(f, f.backend, f.bport, f.client, f.cport);
    for (const std::string& from : {router, f.client}) {
      SCOPED_TRACE(from);
      const auto in = icmp_frame(f, from, f.vip, too_big(f), reply);
      expect_translated(in, ingress(in), icmp_frame(f, from, f.backend, too_big(f), sent_by_backend), true);
      EXPECT_EQ(translated(), ++count);
    }
  }
}

TEST_P(IcmpErrors, WhatIsNoErrorAboutABalancedFlowPassesUntouched) {
  insert(kTcp4);
  const Flow& f = kTcp4;
  const auto sent = ip_packet(f, f.client, f.cport, f.backend, f.bport);
  std::vector<std::vector<std::uint8_t>> frames = {
      icmp_frame(f, f.backend, f.client, {5, 1, 0}, sent),  // redirect: not an error to translate
      icmp_frame(f, f.backend, f.client, {0, 0, 0x10001}, sent),  // echo reply
      // about a flow that does not exist (other client port)
      icmp_frame(f, f.backend, f.client, port_unreachable(f), ip_packet(f, f.client, 1, f.backend, f.bport)),
      // quoting the flow's un-NATed direction: the reversed quote is the forward entry, not a reverse one
      icmp_frame(f, f.backend, f.client, port_unreachable(f), ip_packet(f, f.vip, f.vport, f.client, f.cport)),
  };
  auto fragment = icmp_frame(f, f.backend, f.client, port_unreachable(f), sent);
  fragment[14 + 6] |= 0x20;  // More Fragments: the quote may be incomplete
  frames.push_back(fragment);
  for (const auto& frame : frames) EXPECT_EQ(packet::to_hex(egress(frame)), packet::to_hex(frame));
  // At ingress too, an error quoting a packet of no flow passes untouched.
  EXPECT_EQ(packet::to_hex(ingress(frames[2])), packet::to_hex(frames[2]));
  EXPECT_EQ(translated(), 0u);
}

TEST_P(IcmpErrors, EveryErrorCutShortOfTheQuotedPortsPassesUntouched) {
  for (const Flow& f : {kTcp4, kUdp6}) {
    insert(f);
    // VLAN-tagged: the kernel refuses to run an untagged IP frame shorter than its IP header.
    const auto full = icmp_frame(f, f.backend, f.client, port_unreachable(f), ip_packet(f, f.client, f.cport, f.backend, f.bport), 7);
    const std::size_t minimum = 18 + (f.v6 ? 40 : 20) + 8 + (f.v6 ? 40 : 20) + 8;
    EXPECT_NE(egress(full), full) << "the whole VLAN-tagged error is translated";
    for (std::size_t len = 14; len < minimum; ++len) {
      const std::vector<std::uint8_t> frame(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
      EXPECT_EQ(egress(frame), frame) << "length " << len;
    }
  }
  EXPECT_EQ(translated(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, IcmpErrors, ::testing::Values(IngressHook::xdp, IngressHook::tc), hook_name);

}  // namespace
}  // namespace lb::test
