// End-to-end tests of ebpf-lb: the demo topology (client, LB, three backends in network namespaces), real
// nginx backends and UDP echo servers, the real ebpf-lb executable started in the LB namespace, and real
// TCP/UDP clients. Each test asserts on what the backends answered (their own names) and on the balancer's
// Prometheus counters; every wait is bounded; the fixture removes processes, namespaces and pins also when
// an assertion fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/client.hpp"
#include "lb/demo/topology.hpp"
#include "lb/demo/traffic.hpp"
#include "lb/tests/e2e_fixture.hpp"
#include "support/kernel.hpp"

namespace {

using namespace lb::demo;
using namespace lb::e2e;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The IPv4 topology with plain UDP echo replies ("name:payload").
class EndToEnd : public EndToEndFixture {
 protected:
  EndToEnd() : EndToEndFixture({.offload = false, .prefix = "etlb"}, {.udp_echo = true, .ipv6_echo = false, .report_ttl = false}) {}

  // Backends 1..3 with `weights`; `health` is the HTTP service's health check type.
  BalancerSettings settings(const std::vector<std::uint32_t>& weights, const std::string& health = "none") const {
    BalancerSettings s;
    s.pin_dir = "/sys/fs/bpf/" + topology_->lb_netns();
    DemoService web{.name = "web", .vip = Topology::kVip, .port = kHttpPort, .protocol = "tcp", .scheduler = "maglev",
                    .health_check = health, .backends = {}};
    DemoService echo{.name = "echo", .vip = Topology::kVip, .port = kUdpPort, .protocol = "udp", .scheduler = "maglev",
                     .health_check = "none", .backends = {}};
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const int b = static_cast<int>(i);
      web.backends.push_back({topology_->backend_name(b), Topology::backend_address(b), kHttpPort, weights[i]});
      echo.backends.push_back({topology_->backend_name(b), Topology::backend_address(b), kUdpPort, weights[i]});
    }
    s.services = {web, echo};
    return s;
  }

  // The admin API id of the backend named `name` in service "web".
  std::string backend_id(const std::string& name) {
    auto backends = balancer_->admin("GET", "/backends");
    if (!backends) return {};
    const std::string& body = backends->body;
    const auto at = body.find("\"service\":\"web\",\"name\":\"" + name + "\"");
    if (at == std::string::npos) return {};
    const auto id = body.rfind("\"id\":", at);
    return body.substr(id + 5, body.find(',', id) - id - 5);
  }

};

// Without a balancer the topology routes (client -> backend addresses) but nothing answers on the VIP:
// the VIP answers below only because of ebpf-lb.
TEST_F(EndToEnd, TopologyRoutesAndTheVipIsDeadWithoutTheBalancer) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto response, http_fetch(client(), Topology::backend_address(i), kHttpPort, "GET", "/"));
    EXPECT_EQ(response.body, topology_->backend_name(i) + "\n");
    ASSERT_OK_AND_ASSIGN(auto echo, udp_request(client(), Topology::backend_address(i), kUdpPort, "hi"));
    EXPECT_EQ(echo, topology_->backend_name(i) + ":hi");
  }
  auto dead = http_fetch(client(), Topology::kVip, kHttpPort, "GET", "/", {}, 300ms);
  EXPECT_FALSE(dead.has_value());
}

// New TCP connections and UDP flows through the VIP all succeed and split by weight 1:2:1.
TEST_F(EndToEnd, ConnectionsThroughTheVipSpreadByWeight) {
  ASSERT_OK(start_balancer(settings({1, 2, 1})));
  constexpr int kConnections = 400;
  const auto http = http_spread(client(), Topology::kVip, kHttpPort, kConnections);
  ASSERT_EQ(http.failed, 0) << describe(http) << "\n" << balancer_->log_tail();
  // Expected 100/200/100; one standard deviation is ~9-10 connections, the tolerance is about 4 of them.
  EXPECT_NEAR(hits(http, "backend-1"), 100, 40) << describe(http);
  EXPECT_NEAR(hits(http, "backend-2"), 200, 40) << describe(http);
  EXPECT_NEAR(hits(http, "backend-3"), 100, 40) << describe(http);

  const auto udp = udp_spread(client(), Topology::kVip, kUdpPort, 200);
  ASSERT_EQ(udp.failed, 0) << describe(udp);
  EXPECT_NEAR(hits(udp, "backend-2"), 100, 30) << describe(udp);
  EXPECT_GT(hits(udp, "backend-1"), 20) << describe(udp);
  EXPECT_GT(hits(udp, "backend-3"), 20) << describe(udp);

  // The balancer counted exactly the flows the backends saw.
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  for (const auto& [name, n] : http.by_backend)
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", {"service=\"web\"", "backend=\"" + name + "\""}), n)
        << name;
  EXPECT_GT(metric_sum(metrics, "ebpf_lb_backend_reply_bytes_total", {"service=\"web\""}), 0);
}

// Killing a backend's server: after the health check's fall threshold (2 x 200 ms) every new connection
// goes to the other two; the admin API shows the backend unhealthy.
TEST_F(EndToEnd, KilledBackendFailsOverAfterTheFallThreshold) {
  ASSERT_OK(start_balancer(settings({1, 1, 1}, "http")));
  const auto before = http_spread(client(), Topology::kVip, kHttpPort, 60);
  ASSERT_EQ(before.failed, 0) << describe(before);
  ASSERT_GT(hits(before, "backend-2"), 0) << describe(before);

  nginx_[1]->kill_hard();
  const auto killed_at = Clock::now();
  // Bounded wait: 2 failed checks at 200 ms intervals, with generous slack for a loaded machine.
  bool failed_over = false;
  SpreadResult after;
  while (!failed_over && Clock::now() - killed_at < 10s) {
    after = http_spread(client(), Topology::kVip, kHttpPort, 30, 500ms);
    failed_over = after.failed == 0 && hits(after, "backend-2") == 0;
  }
  ASSERT_TRUE(failed_over) << "still failing 10 s after the kill: " << describe(after);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  // Two consecutive failed checks take at least one interval (the kill may land just before a check).
  EXPECT_GE(took.count(), 150) << "failover faster than the fall threshold (2 checks, 200 ms apart) can allow";
  const auto settled = http_spread(client(), Topology::kVip, kHttpPort, 60);
  EXPECT_EQ(settled.failed, 0) << describe(settled);
  EXPECT_EQ(hits(settled, "backend-2"), 0) << describe(settled);
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_up", {"service=\"web\"", "backend=\"backend-2\""}), 0);
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_up", {"service=\"web\"", "backend=\"backend-1\""}), 1);
}

// Keeps `pool` exchanging requests on every connection in a background thread while `event` runs, then
// once more afterwards; returns the errors of broken connections.
template <class Event>
std::vector<std::string> exchange_across(KeepAlivePool& pool, Event event) {
  std::atomic<bool> done{false};
  std::vector<std::string> errors;
  int rounds = 0;
  std::thread traffic([&] {
    while (!done) {
      auto round = pool.exchange();
      errors.insert(errors.end(), round.errors.begin(), round.errors.end());
      ++rounds;
    }
  });
  event();
  std::this_thread::sleep_for(300ms);  // traffic after the event, on the new state
  done = true;
  traffic.join();
  auto last = pool.exchange();
  errors.insert(errors.end(), last.errors.begin(), last.errors.end());
  EXPECT_GT(rounds, 2) << "the connections barely exchanged data during the event";
  return errors;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

constexpr int kOpenConnections = 30;

// SIGHUP with a changed backend set (backend-3 removed, backend-1's weight tripled): every established
// connection keeps working with its backend, including those on the removed one; new connections follow
// the new set only.
TEST_F(EndToEnd, ReloadBreaksNoEstablishedConnection) {
  ASSERT_OK(start_balancer(settings({1, 1, 1})));
  ASSERT_OK_AND_ASSIGN(auto pool, KeepAlivePool::open(client(), Topology::kVip, kHttpPort, kOpenConnections));
  ASSERT_GT(pool.by_backend().count("backend-3"), 0U) << "no open connection on the backend to be removed";
  auto next = settings({3, 1});
  const auto errors = exchange_across(pool, [&] {
    EXPECT_OK(balancer_->write_config(next));
    EXPECT_OK(balancer_->reload(4));  // 2 backends x 2 services
  });
  EXPECT_EQ(pool.broken_total(), 0) << join_lines(errors);
  const auto fresh = http_spread(client(), Topology::kVip, kHttpPort, 60);
  EXPECT_EQ(fresh.failed, 0) << describe(fresh);
  EXPECT_EQ(hits(fresh, "backend-3"), 0) << describe(fresh);
  EXPECT_GT(hits(fresh, "backend-1"), hits(fresh, "backend-2")) << describe(fresh);
}

// Draining a backend: its established connections continue; no new connection reaches it; undrain
// restores it.
TEST_F(EndToEnd, DrainKeepsEstablishedConnectionsAndStopsNewOnes) {
  ASSERT_OK(start_balancer(settings({1, 1, 1})));
  ASSERT_OK_AND_ASSIGN(auto pool, KeepAlivePool::open(client(), Topology::kVip, kHttpPort, kOpenConnections));
  ASSERT_GT(pool.by_backend().count("backend-1"), 0U);
  const std::string id = backend_id("backend-1");
  ASSERT_FALSE(id.empty()) << "backend-1 not in /backends";
  const auto errors = exchange_across(pool, [&] {
    auto drained = balancer_->admin("POST", "/backends/" + id + "/drain");
    ASSERT_OK(drained);
    EXPECT_EQ(drained->status, 200) << drained->body;
  });
  EXPECT_EQ(pool.broken_total(), 0) << join_lines(errors);
  const auto fresh = http_spread(client(), Topology::kVip, kHttpPort, 60);
  EXPECT_EQ(fresh.failed, 0) << describe(fresh);
  EXPECT_EQ(hits(fresh, "backend-1"), 0) << describe(fresh);
  ASSERT_OK_AND_ASSIGN(auto undrained, balancer_->admin("POST", "/backends/" + id + "/undrain"));
  EXPECT_EQ(undrained.status, 200) << undrained.body;
  const auto restored = http_spread(client(), Topology::kVip, kHttpPort, 60);
  EXPECT_GT(hits(restored, "backend-1"), 0) << describe(restored);
}

// ebpf-lb stopped with --keep-pins and started again (adopting the pinned maps) while connections are
// open: every one keeps working with its backend.
TEST_F(EndToEnd, RestartBreaksNoEstablishedConnection) {
  ASSERT_OK(start_balancer(settings({1, 1, 1}), {"--keep-pins"}));
  ASSERT_OK_AND_ASSIGN(auto pool, KeepAlivePool::open(client(), Topology::kVip, kHttpPort, kOpenConnections));
  const auto errors = exchange_across(pool, [&] {
    ASSERT_OK_AND_ASSIGN(int status, balancer_->stop());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << status << "\n" << balancer_->log_tail();
    EXPECT_TRUE(std::filesystem::exists(balancer_->settings().pin_dir)) << "--keep-pins left no pins";
    EXPECT_OK(balancer_->restart({"--keep-pins"}));
  });
  EXPECT_EQ(pool.broken_total(), 0) << join_lines(errors) << balancer_->log_tail();
  const auto fresh = http_spread(client(), Topology::kVip, kHttpPort, 30);
  EXPECT_EQ(fresh.failed, 0) << describe(fresh);
}

// A conntrack map of 1024 entries (512 flows) and 1500 new UDP flows: LRU eviction is counted and every
// request is still answered, and TCP still works afterwards.
TEST_F(EndToEnd, FullConntrackEvictsCountsAndKeepsServing) {
  auto s = settings({1, 1, 1});
  s.conntrack_max = 1024;
  ASSERT_OK(start_balancer(s));
  constexpr int kFlows = 1500;
  const auto udp = udp_spread(client(), Topology::kVip, kUdpPort, kFlows);
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  // Under this churn the LRU evicts forward entries of finished one-shot flows while their (replied, so
  // referenced) reverse entries stay; a client that reuses a source port then meets its own stale reverse
  // entry, which the data path takes over. Before it did, 9-23 of 1500 requests were refused as conntrack_full.
  const double reverse_miss = metric_sum(metrics, "ebpf_lb_conntrack_reverse_miss_total");
  RecordProperty("reverse_miss", std::to_string(static_cast<long>(reverse_miss)));
  RecordProperty("udp_failed", std::to_string(udp.failed));
  RecordProperty("conntrack_full_drops", std::to_string(static_cast<long>(
      metric_sum(metrics, "ebpf_lb_service_drops_total", {"reason=\"conntrack_full\""}))));
  EXPECT_LE(udp.failed, 3) << describe(udp) << "; reverse misses " << reverse_miss;
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_conntrack_max_entries"), 1024);
  EXPECT_LE(metric_sum(metrics, "ebpf_lb_conntrack_entries"), 1024);
  // Ephemeral source ports may repeat, so a few requests reuse a live flow instead of creating one.
  EXPECT_GE(metric_sum(metrics, "ebpf_lb_conntrack_created_total"), kFlows * 9 / 10);
  EXPECT_GT(metric_sum(metrics, "ebpf_lb_conntrack_lru_evicted_estimate"), 0) << balancer_->log_tail();
  const auto tcp = http_spread(client(), Topology::kVip, kHttpPort, 30);
  EXPECT_EQ(tcp.failed, 0) << describe(tcp);
}

}  // namespace
