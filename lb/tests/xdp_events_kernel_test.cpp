// Flow events of the ingress program, built for XDP and for TC ingress: an open event for a new flow and a
// close event (with the flow's packets and bytes) for an RST or a SYN reusing a closing flow's port, read
// from the real lb_events ring buffer; none when kEvents is off.
#include <gtest/gtest.h>

// Packet specs are written with designated initialisers naming only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <vector>

#include "ebpf/ringbuf.hpp"
#include "lb/tests/xdp_fixture.hpp"

namespace lb::test {
namespace {

using namespace ebpf::packet;

constexpr std::string_view kYaml = R"(
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    backends:
      - { address: 10.0.1.1, port: 8080 }
)";

std::vector<FlowEvent> drain(ebpf::RingBuffer& ring) {
  std::vector<FlowEvent> events;
  auto n = ring.consume<FlowEvent>([&](const FlowEvent& e) { events.push_back(e); }, ebpf::SizeCheck::exact);
  EXPECT_TRUE(n.has_value()) << n.error().to_string();
  return events;
}

class XdpEvents : public ::testing::TestWithParam<IngressHook> {};
INSTANTIATE_TEST_SUITE_P(Hooks, XdpEvents, ::testing::Values(IngressHook::xdp, IngressHook::tc), hook_name);

TEST_P(XdpEvents, OpenAndCloseEventsDescribeTheFlow) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto dp, XdpDataPath::create(kYaml, {}, {.hook = GetParam()}));
  ASSERT_OK_AND_ASSIGN(auto ring, ebpf::RingBuffer::open(dp.maps->find("lb_events")->fd()));
  const auto client = ip4("192.0.2.1"), vip = ip4("10.0.0.100");
  auto syn = tcp4(client, 33333, vip, 80, tcp_flags::syn);
  auto data = tcp4(client, 33333, vip, 80, tcp_flags::ack, "0123456789");
  auto rst = tcp4(client, 33333, vip, 80, tcp_flags::rst);
  ASSERT_OK(dp.run(syn));
  auto open = drain(ring);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].type, static_cast<std::uint8_t>(FlowEventType::kOpen));
  EXPECT_EQ(open[0].family, kFamilyV4);
  EXPECT_EQ(open[0].proto, kProtoTcp);
  EXPECT_EQ(open[0].service_id, dp.service_id("web"));
  EXPECT_EQ(open[0].backend_id, dp.backend_id("web/10.0.1.1:8080"));
  EXPECT_EQ(open[0].sport, net16(33333));
  EXPECT_EQ(open[0].dport, net16(80));
  EXPECT_EQ(open[0].src, mapped(client));
  EXPECT_EQ(open[0].dst, mapped(vip));
  EXPECT_GT(open[0].timestamp_ns, 0u);

  ASSERT_OK(dp.run(data));
  ASSERT_OK(dp.run(rst));
  auto close = drain(ring);
  ASSERT_EQ(close.size(), 1u);
  EXPECT_EQ(close[0].type, static_cast<std::uint8_t>(FlowEventType::kClose));
  EXPECT_EQ(close[0].close_reason, static_cast<std::uint8_t>(CloseReason::kRst));
  EXPECT_EQ(close[0].packets, 3u);
  EXPECT_EQ(close[0].bytes, syn.size() + data.size() + rst.size());
  EXPECT_GE(close[0].timestamp_ns, open[0].timestamp_ns);
}

// A client reusing its source port after the flow began closing: the SYN ends the old flow (close event,
// reason FIN, with the old flow's counts) and opens a new one with fresh state; a retransmitted SYN of the
// new connection does neither.
TEST_P(XdpEvents, ASynOnAClosingFlowClosesItAndOpensANewOne) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto dp, XdpDataPath::create(kYaml, {}, {.hook = GetParam()}));
  ASSERT_OK_AND_ASSIGN(auto ring, ebpf::RingBuffer::open(dp.maps->find("lb_events")->fd()));
  const auto client = ip4("192.0.2.1"), vip = ip4("10.0.0.100");
  const auto key = flow_key(mapped(client), mapped(vip), 33334, 80, kProtoTcp, kFamilyV4);
  auto syn = tcp4(client, 33334, vip, 80, tcp_flags::syn);
  auto ack = tcp4(client, 33334, vip, 80, tcp_flags::ack);
  auto fin = tcp4(client, 33334, vip, 80, tcp_flags::fin | tcp_flags::ack);
  for (const auto* frame : {&syn, &ack, &fin}) ASSERT_OK(dp.run(*frame));
  ASSERT_EQ(dp.conntrack(key).value_or(ConntrackValue{}).state, static_cast<std::uint8_t>(TcpState::kFinWait));
  // The backend's FIN (recorded by TC egress): both sides closing.
  auto closing = *dp.conntrack(key);
  closing.flags |= ct_flags::kFinFromBackend;
  closing.state = static_cast<std::uint8_t>(TcpState::kClosing);
  ASSERT_OK(dp.put_conntrack(key, closing));
  EXPECT_EQ(drain(ring).size(), 1u);  // the first open

  ASSERT_OK_AND_ASSIGN(auto out, dp.run(syn));
  EXPECT_NE(out.data_out, syn) << "the new connection's SYN is DNATed";
  auto events = drain(ring);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, static_cast<std::uint8_t>(FlowEventType::kClose));
  EXPECT_EQ(events[0].close_reason, static_cast<std::uint8_t>(CloseReason::kFin));
  EXPECT_EQ(events[0].packets, 3u) << "the old flow's packets, not the new SYN";
  EXPECT_EQ(events[1].type, static_cast<std::uint8_t>(FlowEventType::kOpen));
  const auto reopened = dp.conntrack(key);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->state, static_cast<std::uint8_t>(TcpState::kSynSent));
  EXPECT_EQ(reopened->flags, 0);
  EXPECT_EQ(reopened->packets, 1u);
  ASSERT_OK_AND_ASSIGN(auto global, dp.maps->global_counters());
  EXPECT_EQ(global.ct_created, 2u);
  EXPECT_EQ(global.ct_closed, 1u);

  ASSERT_OK(dp.run(syn));  // retransmitted
  EXPECT_EQ(drain(ring).size(), 0u);
  ASSERT_OK_AND_ASSIGN(global, dp.maps->global_counters());
  EXPECT_EQ(global.ct_created, 2u);
  EXPECT_EQ(dp.conntrack(key).value_or(ConntrackValue{}).packets, 2u);
}

// Both FINs seen, the backend's second (egress recorded kLastAckFromClient): the client's last ACK is still
// DNATed, then both entries go with a close event "fin". When the client's FIN is the second one, ingress
// hands the last ACK to egress instead: the reply-side entry learns it, and client packets close nothing.
TEST_P(XdpEvents, TheLastAckAfterBothFinsEndsTheFlow) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto dp, XdpDataPath::create(kYaml, {}, {.hook = GetParam()}));
  ASSERT_OK_AND_ASSIGN(auto ring, ebpf::RingBuffer::open(dp.maps->find("lb_events")->fd()));
  const auto client = ip4("192.0.2.1"), vip = ip4("10.0.0.100");
  auto keys = [&](std::uint16_t port) {
    return std::pair{flow_key(mapped(client), mapped(vip), port, 80, kProtoTcp, kFamilyV4),
                     flow_key(mapped(ip4("10.0.1.1")), mapped(client), 8080, port, kProtoTcp, kFamilyV4)};
  };
  auto patch = [&](const ConntrackKey& key, std::uint8_t add_flags, TcpState state, std::uint32_t fin_end = 0) {
    auto v = dp.conntrack(key).value_or(ConntrackValue{});
    v.flags |= add_flags;
    v.state = static_cast<std::uint8_t>(state);
    if (fin_end != 0) v.fin_end = fin_end;
    return dp.put_conntrack(key, v);
  };
  {
    const auto [forward, reverse] = keys(33335);
    for (auto flags : {tcp_flags::syn, tcp_flags::ack}) ASSERT_OK(dp.run(tcp4(client, 33335, vip, 80, flags)));
    // The client's FIN comes first, with 3 bytes of data at seq 1000: the ack that covers it is 1004.
    ASSERT_OK(dp.run(tcp4(client, 33335, vip, 80, tcp_flags::fin | tcp_flags::ack, "bye")));
    EXPECT_EQ(dp.conntrack(forward).value_or(ConntrackValue{}).fin_end, 1004u);
    ASSERT_OK(patch(forward, ct_flags::kFinFromBackend | ct_flags::kLastAckFromClient, TcpState::kClosing));
    drain(ring);
    const auto last_ack = tcp4(client, 33335, vip, 80, tcp_flags::ack);
    ASSERT_OK_AND_ASSIGN(auto out, dp.run(last_ack));
    EXPECT_NE(out.data_out, last_ack) << "the last ACK still reaches the backend";
    EXPECT_FALSE(dp.conntrack(forward).has_value());
    EXPECT_FALSE(dp.conntrack(reverse).has_value());
    auto events = drain(ring);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].close_reason, static_cast<std::uint8_t>(CloseReason::kFin));
    EXPECT_EQ(events[0].packets, 4u);
    ASSERT_OK_AND_ASSIGN(auto global, dp.maps->global_counters());
    EXPECT_EQ(global.ct_closed, 1u);
  }
  // The client's FIN is the second; egress saw the backend's FIN, recorded as ending at `backend_fin_end`.
  // Acknowledged (ack 77 covers 77): the backend's next packet is the last ACK, and the reply-side entry learns
  // it. Crossed (the backend's FIN ends at 78, the client's acknowledges only 77): both sides still owe an ACK,
  // so no packet may end the flow. Either way a client ACK after its FIN (a duplicate) closes nothing.
  struct SecondFin {
    std::uint16_t port;
    std::uint32_t backend_fin_end;
    std::uint8_t last_ack_flag;
  };
  for (const SecondFin c : {SecondFin{33336, 77, ct_flags::kLastAckFromBackend}, SecondFin{33337, 78, 0}}) {
    SCOPED_TRACE(c.port);
    const auto [forward, reverse] = keys(c.port);
    for (auto flags : {tcp_flags::syn, tcp_flags::ack}) ASSERT_OK(dp.run(tcp4(client, c.port, vip, 80, flags)));
    ASSERT_OK(patch(forward, ct_flags::kFinFromBackend, TcpState::kFinWait, c.backend_fin_end));
    ASSERT_OK(patch(reverse, ct_flags::kFinFromBackend, TcpState::kFinWait));
    ASSERT_OK(dp.run(tcp4(client, c.port, vip, 80, tcp_flags::fin | tcp_flags::ack)));
    const auto fwd = dp.conntrack(forward), rev = dp.conntrack(reverse);
    ASSERT_TRUE(fwd && rev);
    EXPECT_EQ(fwd->state, static_cast<std::uint8_t>(TcpState::kClosing));
    EXPECT_EQ(fwd->flags, ct_flags::kFinFromClient | ct_flags::kFinFromBackend | c.last_ack_flag);
    EXPECT_EQ(rev->state, static_cast<std::uint8_t>(TcpState::kClosing));
    EXPECT_EQ(rev->flags, ct_flags::kReverse | ct_flags::kFinFromClient | ct_flags::kFinFromBackend | c.last_ack_flag);
    ASSERT_OK(dp.run(tcp4(client, c.port, vip, 80, tcp_flags::ack)));
    EXPECT_TRUE(dp.conntrack(forward).has_value());
    EXPECT_TRUE(dp.conntrack(reverse).has_value());
  }
}

TEST_P(XdpEvents, NoEventsWhenTheConfigSwitchIsOff) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto dp, XdpDataPath::create(kYaml, {}, {.hook = GetParam()}));
  DataPathConfig cfg = dp.tables.datapath;
  cfg.flags &= ~config_flags::kEvents;
  const std::uint32_t zero = 0;
  ASSERT_OK(dp.maps->find("lb_config")->update(ebpf::as_bytes_of(zero), ebpf::as_bytes_of(cfg)));
  ASSERT_OK_AND_ASSIGN(auto ring, ebpf::RingBuffer::open(dp.maps->find("lb_events")->fd()));
  ASSERT_OK(dp.run(tcp4(ip4("192.0.2.1"), 1, ip4("10.0.0.100"), 80, tcp_flags::syn)));
  EXPECT_EQ(drain(ring).size(), 0u);
  ASSERT_OK_AND_ASSIGN(auto global, dp.maps->global_counters());
  EXPECT_EQ(global.ct_created, 1u);
  EXPECT_EQ(global.events_lost, 0u);
}

}  // namespace
}  // namespace lb::test
