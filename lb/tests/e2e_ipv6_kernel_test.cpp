// End-to-end tests of ebpf-lb over IPv6 (forwarding `pass`): the demo topology with its IPv6 addresses
// (client fd77::2, backends fd77:<i>::2, VIP fd77:100::1), real nginx and UDP echo backends, the real ebpf-lb
// executable and real TCP/UDP clients. Each test asserts on what the backends answered (their names), on
// the source address of the replies (the VIP: TC egress SNAT) and on the balancer's Prometheus counters.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "lb/tests/e2e_fixture.hpp"

namespace {

using namespace lb::e2e;

class EndToEndIpv6 : public EndToEndFixture {
 protected:
  EndToEndIpv6() : EndToEndFixture({.backends = kBackends, .offload = false, .prefix = "et6lb"}) {}
};

// The topology alone routes IPv6 (client -> every backend, through the LB's kernel forwarding, which
// decrements the hop limit once: 64 -> 63), while nothing answers on the IPv6 VIP: it answers below only
// because of ebpf-lb.
TEST_F(EndToEndIpv6, TopologyRoutesIpv6AndTheVipIsDeadWithoutTheBalancer) {
  for (int i = 0; i < kBackends; ++i) {
    const std::string backend = Topology::backend_address6(i);
    ASSERT_OK_AND_ASSIGN(auto response, http_fetch(client(), backend, kHttpPort, "GET", "/"));
    EXPECT_EQ(response.body, topology_->backend_name(i) + "\n");
    ASSERT_OK_AND_ASSIGN(auto echo, udp_exchange(client(), backend, kUdpPort, "hi"));
    EXPECT_EQ(echo.body, topology_->backend_name(i) + ":ttl=63:hi");
    EXPECT_EQ(echo.from, backend);
  }
  EXPECT_FALSE(http_fetch(client(), Topology::kVip6, kHttpPort, "GET", "/", {}, 300ms).has_value());
  EXPECT_FALSE(udp_exchange(client(), Topology::kVip6, kUdpPort, "hi", 300ms).has_value());
}

// New TCP connections to [fd77:100::1]:80 all succeed and spread over the three backends; the balancer's
// per-backend new-flow counters equal what the backends answered. A TCP connection completes only when the
// SYN-ACK comes from the address the client connected to, so every success already proves the SNAT to
// the VIP; the UDP test below checks the reply source explicitly.
TEST_F(EndToEndIpv6, TcpConnectionsThroughTheIpv6VipSpreadAndAreCounted) {
  ASSERT_OK(start_balancer(settings("pass")));
  constexpr int kConnections = 240;
  const auto http = http_spread(client(), Topology::kVip6, kHttpPort, kConnections);
  ASSERT_EQ(http.failed, 0) << describe(http) << "\n" << balancer_->log_tail();
  ASSERT_EQ(http.by_backend.size(), 3U) << describe(http);
  for (int i = 0; i < kBackends; ++i)  // expected 80 each (Maglev, equal weights); sd ~7
    EXPECT_NEAR(hits(http, topology_->backend_name(i)), kConnections / 3, 40) << describe(http);

  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  for (const auto& [name, n] : http.by_backend) {
    const std::vector<std::string> labels{"service=\"web6\"", "backend=\"" + name + "\""};
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", labels), n) << name;
    // Requests and replies of every connection went through the programs: at least SYN, request, ACK, FIN.
    EXPECT_GE(metric_sum(metrics, "ebpf_lb_backend_packets_total", labels), 3.0 * n) << name;
    EXPECT_GE(metric_sum(metrics, "ebpf_lb_backend_reply_packets_total", labels), 3.0 * n) << name;
  }
  EXPECT_GT(metric_sum(metrics, "ebpf_lb_backend_reply_bytes_total", {"service=\"web6\""}), 0);
  // Nothing was counted on the IPv4 services of the same ports, and no reply left without its SNAT entry.
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", {"service=\"web\""}), 0);
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_conntrack_reverse_miss_total"), 0) << balancer_->log_tail();
}

// UDP requests to [fd77:100::1]:5353, each from a new socket: every reply comes from the VIP and port (read
// with recvfrom on an unconnected socket), the backends answering spread, the counters agree. A new socket
// is a new flow unless the kernel happens to pick a source port again (then conntrack keeps its backend),
// so new flows are compared with the distinct source ports each backend saw.
TEST_F(EndToEndIpv6, UdpRepliesComeFromTheIpv6VipAndAreCounted) {
  ASSERT_OK(start_balancer(settings("pass")));
  constexpr int kRequests = 150;
  SpreadResult spread;
  std::map<std::string, std::set<std::uint16_t>> ports;
  for (int i = 0; i < kRequests; ++i) {
    const std::string payload = "req" + std::to_string(i);
    auto reply = udp_exchange(client(), Topology::kVip6, kUdpPort, payload);
    ASSERT_TRUE(reply.has_value()) << "request " << i << ": " << reply.error().to_string() << "\n" << network_state();
    ASSERT_EQ(reply->from, Topology::kVip6) << reply->body;
    ASSERT_EQ(reply->from_port, kUdpPort) << reply->body;
    const std::string name = backend_from_body(reply->body);
    // Through the kernel's forwarding (`pass`): the hop limit arrives decremented once.
    ASSERT_EQ(reply->body, name + ":ttl=63:" + payload);
    ++spread.by_backend[name];
    ports[name].insert(reply->local_port);
  }
  ASSERT_EQ(spread.by_backend.size(), 3U) << describe(spread);
  for (int i = 0; i < kBackends; ++i)
    EXPECT_GT(hits(spread, topology_->backend_name(i)), kRequests / 6) << describe(spread);
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  for (const auto& [name, n] : spread.by_backend) {
    const std::vector<std::string> labels{"service=\"echo6\"", "backend=\"" + name + "\""};
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", labels), ports[name].size()) << name;
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_packets_total", labels), n) << name;
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_reply_packets_total", labels), n) << name;
  }
}

// Both families at once on one balancer: IPv4 and IPv6 clients of the same ports reach the same backends
// through their own VIPs, and each family's flows are counted on its own services.
TEST_F(EndToEndIpv6, Ipv4AndIpv6ServicesWorkSideBySide) {
  ASSERT_OK(start_balancer(settings("pass")));
  constexpr int kEach = 45;
  for (int round = 0; round < 3; ++round) {
    for (bool v6 : {false, true}) {
      const auto http = http_spread(client(), vip(v6), kHttpPort, kEach / 3);
      ASSERT_EQ(http.failed, 0) << (v6 ? "IPv6 " : "IPv4 ") << describe(http);
      ASSERT_OK_AND_ASSIGN(auto reply, udp_exchange(client(), vip(v6), kUdpPort, "x"));
      EXPECT_EQ(reply.from, vip(v6));
    }
  }
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  for (bool v6 : {false, true}) {
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", {"service=\"" + web_service(v6) + "\""}), kEach);
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_packets_total", {"service=\"" + echo_service(v6) + "\""}), 3);
  }
}

// Long-lived IPv6 keep-alive connections survive a reload that removes one backend (its established flows
// keep their backend: conntrack comes first); new IPv6 connections no longer reach the removed backend.
TEST_F(EndToEndIpv6, Ipv6EstablishedConnectionsSurviveAReloadThatRemovesTheirBackend) {
  auto s = settings("pass");
  ASSERT_OK(start_balancer(s));
  ASSERT_OK_AND_ASSIGN(auto pool, KeepAlivePool::open(client(), Topology::kVip6, kHttpPort, 24));
  ASSERT_GT(pool.by_backend().count("backend-3"), 0U) << "no open connection on the backend to be removed";
  for (auto& service : s.services) service.backends.pop_back();  // backend-3 leaves every service
  ASSERT_OK(balancer_->write_config(s));
  ASSERT_OK(balancer_->reload(8));  // 4 services x 2 backends
  for (int round = 0; round < 3; ++round) {
    const auto result = pool.exchange();
    EXPECT_EQ(result.broken, 0) << (result.errors.empty() ? "" : result.errors.front());
  }
  EXPECT_EQ(pool.broken_total(), 0);
  const auto fresh = http_spread(client(), Topology::kVip6, kHttpPort, 45);
  EXPECT_EQ(fresh.failed, 0) << describe(fresh);
  EXPECT_EQ(hits(fresh, "backend-3"), 0) << describe(fresh);
}

}  // namespace
