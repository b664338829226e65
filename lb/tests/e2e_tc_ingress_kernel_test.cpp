// End-to-end tests of ebpf-lb with its DNAT program at TC ingress (`--ingress-hook tc` / `ingress_hook: tc`):
// the demo topology (client, LB, three nginx backends in network namespaces, all veth), the real ebpf-lb
// executable, real TCP connections through the VIP. Asserts what the backends answered (their names), which
// hook the program sits on (TC ingress, XDP empty), and that nothing is left on the interface or in bpffs
// after the balancer stops — also after a restart that switched from XDP to TC through the configuration
// file. Every wait is bounded; the fixture removes processes, namespaces and pins also on failure.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/netlink.hpp"
#include "ebpf/program.hpp"
#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/client.hpp"
#include "lb/demo/topology.hpp"
#include "lb/demo/traffic.hpp"
#include "lb/tests/e2e_fixture.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace {

using namespace lb::demo;
using namespace lb::e2e;
using namespace std::chrono_literals;
using ebpf::TcDirection;

// What is attached to the LB's client-facing interface, read from inside its namespace.
struct Hooks {
  std::uint32_t xdp = 0;                 // XDP program id, 0 = none
  std::vector<std::string> tc_ingress;   // program names, tcx and classic filters
  std::vector<std::string> tc_egress;
};

std::vector<std::string> tc_names(std::uint32_t ifindex, TcDirection direction) {
  std::vector<std::uint32_t> ids;
  if (auto q = ebpf::query_tcx(ifindex, direction)) ids = q->prog_ids;
  if (auto filters = ebpf::query_tc(ifindex, direction))
    for (const auto& f : *filters) ids.push_back(f.prog_id);
  std::vector<std::string> names;
  for (auto id : ids) {
    auto prog = ebpf::Program::from_id(id);
    names.push_back(prog ? std::string(prog->name()) : "?");
  }
  return names;
}

// HTTP backends only; a prefix of its own, as the other end-to-end tests may run at the same time.
class EndToEndTcIngress : public EndToEndFixture {
 protected:
  EndToEndTcIngress() : EndToEndFixture({.offload = false, .prefix = "ettc"}, {.udp_echo = false}) {}

  BalancerSettings web_settings() const {
    BalancerSettings s;
    s.pin_dir = "/sys/fs/bpf/" + topology_->lb_netns();
    DemoService web{.name = "web", .vip = Topology::kVip, .port = kHttpPort, .protocol = "tcp", .scheduler = "maglev",
                    .health_check = "none", .backends = {}};
    for (int b = 0; b < 3; ++b) web.backends.push_back({topology_->backend_name(b), Topology::backend_address(b), kHttpPort, 1});
    s.services = {web};
    return s;
  }

  ebpf::Result<void> start_balancer(std::vector<std::string> extra_args) {
    return EndToEndFixture::start_balancer(web_settings(), std::move(extra_args));
  }

  Hooks hooks() const {
    Hooks h;
    auto scope = ebpf::test::NetnsScope::enter_path(Topology::path(topology_->lb_netns()));
    EXPECT_TRUE(scope.has_value());
    if (!scope) return h;
    auto ifindex = ebpf::netlink::interface_index(web_settings().ingress);
    EXPECT_TRUE(ifindex.has_value());
    if (!ifindex) return h;
    if (auto xdp = ebpf::query_xdp(*ifindex)) h.xdp = xdp->prog_id;
    h.tc_ingress = tc_names(*ifindex, TcDirection::ingress);
    h.tc_egress = tc_names(*ifindex, TcDirection::egress);
    return h;
  }

  void expect_nothing_left() const {
    const Hooks h = hooks();
    EXPECT_EQ(h.xdp, 0u);
    EXPECT_TRUE(h.tc_ingress.empty()) << h.tc_ingress.size() << " program(s) left on TC ingress";
    EXPECT_TRUE(h.tc_egress.empty()) << h.tc_egress.size() << " program(s) left on TC egress";
    EXPECT_FALSE(std::filesystem::exists(web_settings().pin_dir)) << "pins left in " << web_settings().pin_dir;
  }

};

TEST_F(EndToEndTcIngress, ConnectionsThroughTheVipSpreadAndNothingIsLeftAfterStop) {
  ASSERT_OK(start_balancer({"--ingress-hook", "tc"}));
  const Hooks attached = hooks();
  EXPECT_EQ(attached.xdp, 0u) << "the tc hook attaches no XDP program";
  EXPECT_EQ(attached.tc_ingress, std::vector<std::string>{"ebpf_lb_tc_in"});
  EXPECT_EQ(attached.tc_egress, std::vector<std::string>{"ebpf_lb_tc"});

  constexpr int kConnections = 300;
  const auto http = http_spread(client(), Topology::kVip, kHttpPort, kConnections);
  ASSERT_EQ(http.failed, 0) << describe(http) << "\n" << balancer_->log_tail();
  // Equal weights: 100 each expected; one standard deviation is ~8 connections.
  for (const char* name : {"backend-1", "backend-2", "backend-3"}) EXPECT_NEAR(hits(http, name), 100, 40) << describe(http);
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  for (const auto& [name, n] : http.by_backend)
    EXPECT_EQ(metric_sum(metrics, "ebpf_lb_backend_new_flows_total", {"service=\"web\"", "backend=\"" + name + "\""}), n) << name;

  ASSERT_OK_AND_ASSIGN(auto status, balancer_->stop());
  EXPECT_EQ(status, 0) << balancer_->log_tail();
  expect_nothing_left();
}

// An upgrade restart (--keep-pins) whose configuration now says `ingress_hook: tc`: the new process attaches
// at TC ingress and removes the previous run's XDP link; connections work before and after; a plain stop
// then leaves nothing.
TEST_F(EndToEndTcIngress, RestartSwitchingFromXdpToTcByTheConfigLeavesOnlyTheTcProgram) {
  ASSERT_OK(start_balancer({"--keep-pins"}));
  EXPECT_NE(hooks().xdp, 0u);
  EXPECT_TRUE(hooks().tc_ingress.empty());
  const auto before = http_spread(client(), Topology::kVip, kHttpPort, 30);
  ASSERT_EQ(before.failed, 0) << describe(before);
  ASSERT_OK_AND_ASSIGN(auto status, balancer_->stop());
  ASSERT_EQ(status, 0) << balancer_->log_tail();
  EXPECT_NE(hooks().xdp, 0u) << "--keep-pins leaves the XDP program running";

  std::ofstream(balancer_->config_path(), std::ios::app) << "ingress_hook: tc\n";
  ASSERT_OK(balancer_->restart({}));
  const Hooks switched = hooks();
  EXPECT_EQ(switched.xdp, 0u) << "the previous run's XDP program is still attached";
  EXPECT_EQ(switched.tc_ingress, std::vector<std::string>{"ebpf_lb_tc_in"});
  EXPECT_EQ(switched.tc_egress, std::vector<std::string>{"ebpf_lb_tc"});
  const auto after = http_spread(client(), Topology::kVip, kHttpPort, 60);
  ASSERT_EQ(after.failed, 0) << describe(after) << "\n" << balancer_->log_tail();
  EXPECT_EQ(after.by_backend.size(), 3u) << describe(after);

  ASSERT_OK_AND_ASSIGN(status, balancer_->stop());
  EXPECT_EQ(status, 0) << balancer_->log_tail();
  expect_nothing_left();
}

}  // namespace
