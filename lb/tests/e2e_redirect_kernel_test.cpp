// End-to-end tests of ebpf-lb with `forwarding: redirect` (XDP DNAT, then bpf_fib_lookup, new MACs and
// bpf_redirect straight to the backend-facing veth, bypassing the LB kernel's forwarding), for IPv4 and
// IPv6, with native (driver) XDP and with generic XDP; and what the backends see of the IP TTL / hop limit
// in both forwarding modes.
//
// What this kernel needs (6.18, veth): a frame XDP_REDIRECTed to a veth is transmitted with ndo_xdp_xmit,
// which accepts it only when the veth's *peer* receive queue runs NAPI; that needs an XDP program on the
// peer or GRO enabled on the peer (`ethtool -K eth0 gro on` in the backend). Without it veth_xdp_xmit
// drops every redirected frame (observed: the client's requests time out, `ethtool -S l0` counts them in
// rx_queue_0_drops, nothing reaches the backend). Generic XDP redirects an skb through the normal transmit
// path and needs neither. So the RedirectWithGro fixture turns GRO on in the backends
// (TopologyOptions::backend_gro) for native XDP, RedirectWithoutGro leaves it off (generic XDP, and the
// test that shows the drop). A real NIC as redirect target needs nothing of this.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lb/tests/e2e_fixture.hpp"

namespace {

using namespace lb::e2e;

constexpr int kConnections = 60;  // per family
constexpr int kRequests = 60;     // UDP, per family

struct Observed {
  int ttl = -1;  // the TTL / hop limit of the last UDP request as the backend received it
};

class Redirect : public EndToEndFixture {
 protected:
  using EndToEndFixture::EndToEndFixture;

  // TCP and UDP through the VIP of one family with the running balancer: every connection and request
  // answered, replies from the VIP, all three backends used, per-backend counters equal to the answers,
  // and the UDP requests not forwarded by the LB's kernel (only their replies are).
  void exercise(bool v6, Observed& observed) {
    const std::string family = v6 ? "IPv6 " : "IPv4 ";
    const auto http = http_spread(client(), vip(v6), kHttpPort, kConnections);
    ASSERT_EQ(http.failed, 0) << family << describe(http) << "\n" << balancer_->log_tail();
    ASSERT_EQ(http.by_backend.size(), 3U) << family << describe(http);

    const long long forwarded_before = forwarded(v6);
    SpreadResult udp;
    std::map<std::string, std::set<std::uint16_t>> ports;
    for (int i = 0; i < kRequests; ++i) {
      const std::string payload = "r" + std::to_string(i);
      auto reply = udp_exchange(client(), vip(v6), kUdpPort, payload);
      ASSERT_TRUE(reply.has_value()) << family << "request " << i << ": " << reply.error().to_string() << "\n"
                                     << network_state();
      ASSERT_EQ(reply->from, vip(v6)) << family << reply->body;
      ASSERT_EQ(reply->from_port, kUdpPort) << family << reply->body;
      const std::string name = backend_from_body(reply->body);
      observed.ttl = ttl_of(reply->body);
      ASSERT_EQ(reply->body, name + ":ttl=" + std::to_string(observed.ttl) + ":" + payload);
      ++udp.by_backend[name];
      ports[name].insert(reply->local_port);
    }
    const long long forwarded_after = forwarded(v6);
    ASSERT_EQ(udp.by_backend.size(), 3U) << family << describe(udp);
    // Redirected requests bypass ip_forward / ip6_forward; the replies are still forwarded by the kernel.
    // Slack: a request whose backend's neighbour entry is not valid yet takes the kernel path (the program
    // then passes it), at most once per backend.
    ASSERT_GE(forwarded_before, 0) << "no forwarding counter in the LB namespace's /proc/net/snmp" << (v6 ? "6" : "");
    EXPECT_GE(forwarded_after - forwarded_before, kRequests) << family;
    EXPECT_LE(forwarded_after - forwarded_before, kRequests + kBackends)
        << family << "requests were forwarded by the kernel, not redirected by XDP";

    ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
    for (int i = 0; i < kBackends; ++i) {
      const std::string name = topology_->backend_name(i);
      const std::vector<std::string> web{"service=\"" + web_service(v6) + "\"", "backend=\"" + name + "\""};
      const std::vector<std::string> echo{"service=\"" + echo_service(v6) + "\"", "backend=\"" + name + "\""};
      EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", web), hits(http, name)) << family << name;
      EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", echo), ports[name].size()) << family << name;
      EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_packets_total", echo), hits(udp, name)) << family << name;
      EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_reply_packets_total", echo), hits(udp, name)) << family << name;
    }
  }

  // One body for both XDP modes (extra_args picks the mode; `mode` names the TTL / hop limit properties in
  // the test's XML report), so native and generic cannot drift apart in what they check.
  void exercise_both_families(const std::string& mode, std::vector<std::string> extra_args = {}) {
    ASSERT_OK(start_balancer(settings("redirect"), std::move(extra_args)));
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
      Observed observed;
      exercise(v6, observed);
      if (HasFatalFailure()) return;
      RecordProperty("redirect_" + mode + (v6 ? "_hop_limit" : "_ttl"), observed.ttl);
    }
  }
};

class RedirectWithGro : public Redirect {
 protected:
  RedirectWithGro() : Redirect({.backends = kBackends, .offload = false, .prefix = "etrlb", .backend_gro = true}) {}
};

class RedirectWithoutGro : public Redirect {
 protected:
  RedirectWithoutGro() : Redirect({.backends = kBackends, .offload = false, .prefix = "etglb", .backend_gro = false}) {}
};

// Native XDP (ebpf-lb's default `--xdp-mode auto` picks driver mode on veth), backends with GRO on.
TEST_F(RedirectWithGro, NativeXdpRedirectsTcpAndUdpOfBothFamiliesToEveryBackend) { exercise_both_families("native"); }

// Generic (skb) XDP: the redirect works without GRO (NAPI) on the backends' veths.
TEST_F(RedirectWithoutGro, GenericXdpRedirectsTcpAndUdpOfBothFamiliesToEveryBackend) {
  exercise_both_families("generic", {"--xdp-mode", "generic"});
}

// The TTL / hop limit a backend receives. The client sends 64 (its namespace's default TTL and hop limit).
// With `pass` the LB kernel forwards and decrements it once: the backend sees 63, for both families.
// With `redirect` the kernel's forwarding is bypassed, so a router's duty falls to the data path:
// bpf_fib_lookup only looks the route and neighbour up, it never checks or decrements the TTL. emit_redirect
// decrements it (IPv4 with the header checksum update ip_decrease_ttl makes) and hands a packet with TTL
// 1 to the kernel, which answers ICMP time exceeded instead of forwarding it. Before that fix the backend
// saw 64 and a TTL-1 request was answered.
TEST_F(RedirectWithGro, BackendsSeeTheTtlDecrementedOnceInBothForwardingModes) {
  ASSERT_OK(start_balancer(settings("pass")));
  for (bool v6 : {false, true}) {
    for (int i = 0; i < 6; ++i) {
      auto reply = udp_exchange(client(), vip(v6), kUdpPort, "t");
      ASSERT_TRUE(reply.has_value()) << reply.error().to_string() << "\n" << network_state();
      EXPECT_EQ(ttl_of(reply->body), 63) << (v6 ? "IPv6 " : "IPv4 ") << reply->body;
    }
  }
  balancer_.reset();  // stop `pass`, remove its pins; then the same traffic with `redirect`
  ASSERT_OK(start_balancer(settings("redirect")));
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    for (int i = 0; i < 6; ++i) {
      ASSERT_OK_AND_ASSIGN(auto reply, udp_exchange(client(), vip(v6), kUdpPort, "t"));
      EXPECT_EQ(ttl_of(reply.body), 63) << reply.body;  // once, and the IPv4 checksum still verifies
    }
    // TTL 2 arrives as 1; TTL 1 is not forwarded (the kernel answers time exceeded, which an unconnected
    // UDP socket does not report: no reply at all).
    ASSERT_OK_AND_ASSIGN(auto last_hop, udp_exchange(client(), vip(v6), kUdpPort, "t", 1000ms, 2));
    EXPECT_EQ(ttl_of(last_hop.body), 1) << last_hop.body;
    EXPECT_FALSE(udp_exchange(client(), vip(v6), kUdpPort, "t", 300ms, 1).has_value()) << "a TTL-1 request was forwarded";
  }
}

// Why the topology option exists: native XDP redirect into a veth whose peer runs no NAPI drops the frame.
// Once the LB has valid neighbour entries for the backends (bpf_fib_lookup succeeds only then; before, the
// program passes the packet to the kernel, which resolves them), requests to the VIP go unanswered and are
// not forwarded by the kernel either; `ethtool -K eth0 gro on` in the backends (NAPI on the peer) alone
// makes the very same balancer deliver them.
TEST_F(RedirectWithoutGro, NativeXdpRedirectIntoAVethNeedsNapiOnItsPeer) {
  for (int i = 0; i < kBackends; ++i)  // neighbour entries in the LB, through its kernel forwarding
    for (bool v6 : {false, true}) {
      const std::string backend = v6 ? Topology::backend_address6(i) : Topology::backend_address(i);
      ASSERT_OK(udp_exchange(client(), backend, kUdpPort, "warm"));
    }
  ASSERT_OK(start_balancer(settings("redirect")));  // native XDP
  for (bool v6 : {false, true}) {
    const long long before = forwarded(v6);
    for (int i = 0; i < 3; ++i) {
      auto lost = udp_exchange(client(), vip(v6), kUdpPort, "lost", 300ms);
      EXPECT_FALSE(lost.has_value()) << (v6 ? "IPv6 " : "IPv4 ") << "answered without NAPI on the peer: " << lost->body;
    }
    EXPECT_EQ(forwarded(v6), before) << "the requests took the kernel's forwarding path instead of the redirect";
  }
  for (int i = 0; i < kBackends; ++i)
    ASSERT_OK(topology_->exec(topology_->backend_netns(i), {"ethtool", "-K", "eth0", "gro", "on"}));
  for (bool v6 : {false, true}) {
    for (int i = 0; i < 6; ++i) {
      auto reply = udp_exchange(client(), vip(v6), kUdpPort, "ok");
      ASSERT_TRUE(reply.has_value()) << reply.error().to_string() << "\n" << network_state();
      EXPECT_EQ(reply->from, vip(v6));
    }
  }
}

}  // namespace
