// The TC egress SNAT program at packet level through BPF_PROG_TEST_RUN (SCHED_CLS): a backend's reply with a
// reverse conntrack entry leaves with the VIP as source — compared byte for byte with the same reply built
// from scratch, checksums recomputed independently by the packet parser — for IPv4/IPv6, TCP/UDP, VLAN,
// IP and TCP options; misses, forward entries and every truncated header pass untouched; FIN and RST from
// the backend change the conntrack state, RST removes the flow and emits a close event. Needs root.
#include "lb/dataplane/tc_egress.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "ebpf/packet.hpp"
#include "lb/common/maps.hpp"
#include "lb/control/datapath_maps.hpp"
#include "lb/dataplane/dataplane.hpp"
#include "lb/dataplane/events.hpp"
#include "support/kernel.hpp"

namespace lb {
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

Addr addr_of(std::string_view text) { return parse_ip(text)->addr; }

// One flow: client -> VIP, DNATed to backend. Ports host order.
struct Flow {
  std::string client, vip, backend;
  std::uint16_t client_port, vip_port, backend_port;
  std::uint8_t proto = kProtoTcp;
  std::uint8_t family = kFamilyV4;

  ConntrackKey reverse_key() const {
    return {addr_of(backend), addr_of(client), htons(backend_port), htons(client_port), proto, family, 0};
  }
  ConntrackKey forward_key() const {
    return {addr_of(client), addr_of(vip), htons(client_port), htons(vip_port), proto, family, 0};
  }
};

const packet::Mac kLbMac{2, 0, 0, 0, 0, 1}, kClientMac{2, 0, 0, 0, 0, 2};

struct ReplyShape {
  std::uint8_t tcp_flags = packet::tcp_flags::ack | packet::tcp_flags::psh;
  std::optional<std::uint16_t> vlan;
  std::vector<std::uint8_t> ip_options;
  std::vector<packet::TcpOption> tcp_options;
  std::string payload = "HTTP/1.1 200 OK\r\n\r\nhello";
  std::uint32_t seq = 1000, ack = 2000;
};

// A reply frame from `src`:`sport` to the client, as the backend (or, with the VIP, the LB) sends it.
std::vector<std::uint8_t> reply(const Flow& f, const std::string& src, std::uint16_t sport, const ReplyShape& s = {}) {
  packet::Builder b;
  b.ethernet({.src = kLbMac, .dst = kClientMac, .vlan_id = s.vlan, .vlan_priority = 0, .ethertype = 0});
  if (f.family == kFamilyV4)
    b.ipv4({.src = *packet::parse_ipv4(src), .dst = *packet::parse_ipv4(f.client), .ttl = 63, .id = 77,
            .dont_fragment = true, .tos = 0, .protocol = std::nullopt, .options = s.ip_options});
  else
    b.ipv6(*packet::parse_ipv6(src), *packet::parse_ipv6(f.client));
  if (f.proto == kProtoTcp)
    b.tcp({.src_port = sport, .dst_port = f.client_port, .seq = s.seq, .ack = s.ack, .flags = s.tcp_flags,
           .window = 512, .urgent = 0, .options = s.tcp_options});
  else
    b.udp(sport, f.client_port);
  return *b.payload(s.payload).build();
}

class TcEgress : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto config = parse_config(kYaml, "tc.yaml");
    ASSERT_OK(config);
    auto tables = compile_tables(*config);
    ASSERT_OK(tables);
    backend_id_ = tables->backend_ids.at("web/10.0.1.1:8080");
    auto maps = DataPathMaps::create(*config, tables->maglev_entries);
    ASSERT_OK(maps);
    maps_ = std::make_unique<DataPathMaps>(std::move(*maps));
    ASSERT_OK(maps_->apply(*tables));  // lb_config: events on
    auto code = dataplane::build_tc_egress();
    ASSERT_OK(code);
    auto prog = load_lb_program(ebpf::ProgType::sched_cls, std::move(*code), *maps_, "et_lb_tc");
    ASSERT_OK(prog);
    prog_ = std::move(*prog);
  }

  // Inserts the flow's two entries as the XDP program would.
  void insert(const Flow& f, std::uint8_t forward_flags = 0, std::uint32_t fin_end = 0) {
    ConntrackValue forward{addr_of(f.backend), htons(f.backend_port), static_cast<std::uint8_t>(TcpState::kEstablished),
                           forward_flags, backend_id_, 0, fin_end, 1, 1, 5, 500};
    ConntrackValue reverse{addr_of(f.vip), htons(f.vip_port), static_cast<std::uint8_t>(TcpState::kEstablished),
                           ct_flags::kReverse, backend_id_, 0, 0, 1, 1, 0, 0};
    ASSERT_OK(ct().update(ebpf::as_bytes_of(f.forward_key()), ebpf::as_bytes_of(forward)));
    ASSERT_OK(ct().update(ebpf::as_bytes_of(f.reverse_key()), ebpf::as_bytes_of(reverse)));
  }
  std::optional<ConntrackValue> entry(const ConntrackKey& key) {
    ConntrackValue v;
    if (!ct().lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(v))) return std::nullopt;
    return v;
  }
  ebpf::Map& ct() { return *maps_->find("lb_conntrack"); }

  // Runs the program on `frame`; the verdict must be TC_ACT_OK (0) whatever happens.
  std::vector<std::uint8_t> run(const std::vector<std::uint8_t>& frame) {
    auto r = prog_.test_run({.data_in = frame});
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    if (!r) return {};
    EXPECT_EQ(r->retval, 0u) << "TC_ACT_OK expected";
    return r->data_out;
  }

  // The reply leaves exactly as if the VIP had sent it, with valid checksums by an independent computation.
  void expect_snat(const Flow& f, const ReplyShape& shape = {}) {
    insert(f);
    const auto in = reply(f, f.backend, f.backend_port, shape);
    const auto out = run(in);
    EXPECT_EQ(packet::to_hex(out), packet::to_hex(reply(f, f.vip, f.vip_port, shape)));
    auto parsed = packet::parse(out);
    ASSERT_OK(parsed);
    if (f.family == kFamilyV4) {
      EXPECT_EQ(parsed->ipv4_checksum_ok, std::optional<bool>(true));
    }
    EXPECT_EQ(parsed->l4_checksum_ok, std::optional<bool>(true));
    auto rev = entry(f.reverse_key());
    ASSERT_TRUE(rev);
    EXPECT_EQ(rev->packets, 1u);
    EXPECT_EQ(rev->bytes, in.size());
    EXPECT_GT(rev->last_seen_ns, 1u);
    auto be = maps_->backend_counters(backend_id_);
    ASSERT_OK(be);
    EXPECT_EQ(be->reply_packets, 1u);
    EXPECT_EQ(be->reply_bytes, in.size());
  }

  std::unique_ptr<DataPathMaps> maps_;
  ebpf::Program prog_;
  std::uint32_t backend_id_ = 0;
};

const Flow kTcp4{"192.168.1.5", "10.0.0.100", "10.0.1.1", 40000, 80, 8080};

TEST_F(TcEgress, Ipv4TcpReplyGetsTheVipAsSource) { expect_snat(kTcp4); }

TEST_F(TcEgress, Ipv4UdpReplyGetsTheVipAsSource) {
  Flow f = kTcp4;
  f.proto = kProtoUdp;
  expect_snat(f);
}

TEST_F(TcEgress, Ipv6TcpAndUdpRepliesGetTheVipAsSource) {
  Flow f{"2001:db8:c::5", "2001:db8::100", "2001:db8:1::1", 40001, 443, 8443, kProtoTcp, kFamilyV6};
  expect_snat(f);
  Flow u = f;
  u.proto = kProtoUdp;
  u.client_port = 40002;
  insert(u);
  const auto out = run(reply(u, u.backend, u.backend_port));
  EXPECT_EQ(packet::to_hex(out), packet::to_hex(reply(u, u.vip, u.vip_port)));
}

TEST_F(TcEgress, VlanTaggedReplyWithIpAndTcpOptions) {
  ReplyShape shape;
  shape.vlan = 42;
  shape.ip_options = {0x94, 0x04, 0x00, 0x00};  // router alert
  shape.tcp_options = {packet::TcpOption::nop(), packet::TcpOption::nop(), packet::TcpOption::timestamps(7, 9)};
  expect_snat(kTcp4, shape);
}

TEST_F(TcEgress, UdpWithoutChecksumKeepsAZeroChecksum) {
  Flow f = kTcp4;
  f.proto = kProtoUdp;
  insert(f);
  auto in = reply(f, f.backend, f.backend_port);
  auto want = reply(f, f.vip, f.vip_port);
  constexpr std::size_t kUdpCsum = 14 + 20 + 6;
  in[kUdpCsum] = in[kUdpCsum + 1] = want[kUdpCsum] = want[kUdpCsum + 1] = 0;
  EXPECT_EQ(packet::to_hex(run(in)), packet::to_hex(want));
}

TEST_F(TcEgress, MissesAndForwardEntriesPassUntouchedAndMissesAreCounted) {
  const auto in = reply(kTcp4, kTcp4.backend, kTcp4.backend_port);
  EXPECT_EQ(run(in), in);  // no entry at all
  auto global = maps_->global_counters();
  ASSERT_OK(global);
  EXPECT_EQ(global->ct_reverse_miss, 1u);
  // A packet whose key is a forward entry (client -> VIP leaving here) is not a reply: untouched.
  insert(kTcp4);
  packet::Builder b;
  b.ethernet(kLbMac, kClientMac).ipv4(*packet::parse_ipv4(kTcp4.client), *packet::parse_ipv4(kTcp4.vip));
  const auto forward = *b.tcp(kTcp4.client_port, kTcp4.vip_port, packet::tcp_flags::ack).build();
  EXPECT_EQ(run(forward), forward);
  // ICMP and ARP-like non-IP frames: untouched, not counted as misses.
  packet::Builder icmp;
  icmp.ethernet(kLbMac, kClientMac).ipv4(*packet::parse_ipv4(kTcp4.backend), *packet::parse_ipv4(kTcp4.client));
  const auto ping = *icmp.icmp_echo({.reply = true, .id = 1, .seq = 1}).build();
  EXPECT_EQ(run(ping), ping);
  global = maps_->global_counters();
  ASSERT_OK(global);
  EXPECT_EQ(global->ct_reverse_miss, 1u);
}

TEST_F(TcEgress, EveryTruncatedHeaderPassesUntouched) {
  for (const auto& f : {kTcp4, Flow{"2001:db8:c::5", "2001:db8::100", "2001:db8:1::1", 40001, 443, 8443, kProtoUdp,
                                    kFamilyV6}}) {
    insert(f);
    ReplyShape shape;
    shape.vlan = 7;
    shape.payload.clear();
    const auto full = reply(f, f.backend, f.backend_port, shape);
    // test_run needs at least an Ethernet header; everything shorter than the last header is "truncated".
    for (std::size_t len = 14; len < full.size(); ++len) {
      const std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
      EXPECT_EQ(run(cut), cut) << "length " << len;
    }
    auto rev = entry(f.reverse_key());
    ASSERT_TRUE(rev);
    EXPECT_EQ(rev->packets, 0u) << "a truncated frame was counted as a reply";
    // The complete headers are rewritten.
    EXPECT_EQ(packet::to_hex(run(full)), packet::to_hex(reply(f, f.vip, f.vip_port, shape)));
  }
}

TEST_F(TcEgress, FinFromTheBackendMovesBothEntriesTowardsClosing) {
  insert(kTcp4);
  ReplyShape fin;
  fin.tcp_flags = packet::tcp_flags::fin | packet::tcp_flags::ack;
  run(reply(kTcp4, kTcp4.backend, kTcp4.backend_port, fin));
  auto fwd = entry(kTcp4.forward_key());
  auto rev = entry(kTcp4.reverse_key());
  ASSERT_TRUE(fwd && rev);
  EXPECT_EQ(fwd->state, static_cast<std::uint8_t>(TcpState::kFinWait));
  EXPECT_EQ(fwd->flags, ct_flags::kFinFromBackend);
  EXPECT_EQ(rev->flags, ct_flags::kReverse | ct_flags::kFinFromBackend);
  EXPECT_EQ(fwd->fin_end, fin.seq + fin.payload.size() + 1) << "the ack that covers this FIN";
  // The client had already sent its FIN, ending at 2000, which this FIN (ack 2000) acknowledges: both sides
  // closing.
  Flow other = kTcp4;
  other.client_port = 40100;
  insert(other, ct_flags::kFinFromClient, 2000);
  run(reply(other, other.backend, other.backend_port, fin));
  fwd = entry(other.forward_key());
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->state, static_cast<std::uint8_t>(TcpState::kClosing));
  // The backend's FIN was the second: the client's next packet is the last ACK.
  EXPECT_EQ(fwd->flags, ct_flags::kFinFromClient | ct_flags::kFinFromBackend | ct_flags::kLastAckFromClient);
  rev = entry(other.reverse_key());
  ASSERT_TRUE(rev);
  EXPECT_EQ(rev->flags, ct_flags::kReverse | ct_flags::kFinFromBackend | ct_flags::kLastAckFromClient);
  // The FINs crossed: the client's ends at 2001, this one acknowledges only 2000. Both sides still owe an
  // ACK: closing, but no last-ACK flag, so the client's next packet does not end the flow.
  Flow crossed = kTcp4;
  crossed.client_port = 40101;
  insert(crossed, ct_flags::kFinFromClient, 2001);
  run(reply(crossed, crossed.backend, crossed.backend_port, fin));
  fwd = entry(crossed.forward_key());
  rev = entry(crossed.reverse_key());
  ASSERT_TRUE(fwd && rev);
  EXPECT_EQ(fwd->state, static_cast<std::uint8_t>(TcpState::kClosing));
  EXPECT_EQ(fwd->flags, ct_flags::kFinFromClient | ct_flags::kFinFromBackend);
  EXPECT_EQ(rev->state, static_cast<std::uint8_t>(TcpState::kClosing));
  EXPECT_EQ(rev->flags, ct_flags::kReverse | ct_flags::kFinFromBackend);
  // The first flow's client then closed too (ingress: closing, the backend sends the last ACK). A
  // retransmission of the backend's FIN must not make the client's next packet a "last ACK" as well.
  fwd = entry(kTcp4.forward_key());
  ASSERT_TRUE(fwd);
  fwd->flags |= ct_flags::kFinFromClient | ct_flags::kLastAckFromBackend;
  fwd->state = static_cast<std::uint8_t>(TcpState::kClosing);
  ASSERT_OK(ct().update(ebpf::as_bytes_of(kTcp4.forward_key()), ebpf::as_bytes_of(*fwd)));
  run(reply(kTcp4, kTcp4.backend, kTcp4.backend_port, fin));
  fwd = entry(kTcp4.forward_key());
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->flags, ct_flags::kFinFromClient | ct_flags::kFinFromBackend | ct_flags::kLastAckFromBackend);
}

// The client closed second (ingress recorded kLastAckFromBackend on the reply-side entry): the backend's
// last ACK is translated, then both entries go with a close event "fin", as after an RST.
TEST_F(TcEgress, TheBackendsLastAckAfterBothFinsEndsTheFlow) {
  std::vector<FlowEvent> events;
  auto reader = FlowEventReader::open(maps_->find("lb_events")->fd(), [&](const FlowEvent& e) { events.push_back(e); });
  ASSERT_OK(reader);
  insert(kTcp4, ct_flags::kFinFromClient | ct_flags::kFinFromBackend);
  auto rev = *entry(kTcp4.reverse_key());
  rev.state = static_cast<std::uint8_t>(TcpState::kClosing);
  rev.flags |= ct_flags::kFinFromClient | ct_flags::kFinFromBackend | ct_flags::kLastAckFromBackend;
  ASSERT_OK(ct().update(ebpf::as_bytes_of(kTcp4.reverse_key()), ebpf::as_bytes_of(rev)));
  ReplyShape ack;
  ack.tcp_flags = packet::tcp_flags::ack;
  ack.payload.clear();
  const auto in = reply(kTcp4, kTcp4.backend, kTcp4.backend_port, ack);
  EXPECT_EQ(packet::to_hex(run(in)), packet::to_hex(reply(kTcp4, kTcp4.vip, kTcp4.vip_port, ack)));
  EXPECT_FALSE(entry(kTcp4.forward_key()));
  EXPECT_FALSE(entry(kTcp4.reverse_key()));
  ASSERT_OK_AND_ASSIGN(auto global, maps_->global_counters());
  EXPECT_EQ(global.ct_closed, 1u);
  ASSERT_OK_AND_ASSIGN(auto delivered, (*reader)->poll(std::chrono::milliseconds(1000)));
  ASSERT_EQ(delivered, 1u);
  EXPECT_EQ(events[0].type, static_cast<std::uint8_t>(FlowEventType::kClose));
  EXPECT_EQ(events[0].close_reason, static_cast<std::uint8_t>(CloseReason::kFin));
  EXPECT_EQ(events[0].packets, 5u + 1u);
}

TEST_F(TcEgress, RstFromTheBackendRemovesTheFlowAndEmitsACloseEvent) {
  std::vector<FlowEvent> events;
  auto reader = FlowEventReader::open(maps_->find("lb_events")->fd(), [&](const FlowEvent& e) { events.push_back(e); });
  ASSERT_OK(reader);
  insert(kTcp4);
  ReplyShape rst;
  rst.tcp_flags = packet::tcp_flags::rst;
  rst.payload.clear();
  const auto in = reply(kTcp4, kTcp4.backend, kTcp4.backend_port, rst);
  EXPECT_EQ(packet::to_hex(run(in)), packet::to_hex(reply(kTcp4, kTcp4.vip, kTcp4.vip_port, rst)));
  EXPECT_FALSE(entry(kTcp4.forward_key()));
  EXPECT_FALSE(entry(kTcp4.reverse_key()));
  auto global = maps_->global_counters();
  ASSERT_OK(global);
  EXPECT_EQ(global->ct_closed, 1u);
  ASSERT_OK_AND_ASSIGN(auto delivered, (*reader)->poll(std::chrono::milliseconds(1000)));
  ASSERT_EQ(delivered, 1u);
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.type, static_cast<std::uint8_t>(FlowEventType::kClose));
  EXPECT_EQ(e.close_reason, static_cast<std::uint8_t>(CloseReason::kRst));
  EXPECT_EQ(e.family, kFamilyV4);
  EXPECT_EQ(e.proto, kProtoTcp);
  EXPECT_EQ(e.backend_id, backend_id_);
  EXPECT_EQ(e.src, addr_of(kTcp4.client));
  EXPECT_EQ(e.dst, addr_of(kTcp4.vip));
  EXPECT_EQ(ntohs(e.sport), kTcp4.client_port);
  EXPECT_EQ(ntohs(e.dport), kTcp4.vip_port);
  EXPECT_EQ(e.packets, 5u + 1u);              // forward 5 + this reply
  EXPECT_EQ(e.bytes, 500u + in.size());
  EXPECT_GT(e.timestamp_ns, 0u);
  // A second RST (the entries are gone) is a plain miss: no second close.
  run(in);
  global = maps_->global_counters();
  ASSERT_OK(global);
  EXPECT_EQ(global->ct_closed, 1u);
}

}  // namespace
}  // namespace lb
