// Unit tests of the end-to-end helpers that need no kernel: the generated ebpf-lb configuration (checked by
// the control plane's own parser), Prometheus parsing, backend names from response bodies, and argument
// checks made before any namespace is created.
#include <gtest/gtest.h>

#include "lb/control/config.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/topology.hpp"
#include "lb/demo/traffic.hpp"

namespace {

using namespace lb::demo;

BalancerSettings two_backends() {
  BalancerSettings s;
  s.pin_dir = "/sys/fs/bpf/unit-test";
  s.conntrack_max = 2048;
  s.services = {{.name = "web", .vip = "10.77.100.1", .port = 80, .protocol = "tcp", .scheduler = "maglev",
                 .health_check = "http",
                 .backends = {{"b1", "10.77.1.2", 80, 3}, {"b2", "10.77.2.2", 80, 1}}}};
  return s;
}

TEST(DemoConfig, GeneratedYamlIsWhatTheControlPlaneReads) {
  auto yaml = balancer_yaml(two_backends());
  ASSERT_TRUE(yaml.has_value()) << yaml.error().to_string();
  auto config = lb::parse_config(*yaml, "t.yaml");
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  EXPECT_EQ(config->interfaces.ingress, "l0");
  EXPECT_EQ(config->pin_dir, "/sys/fs/bpf/unit-test");
  EXPECT_EQ(config->conntrack.max_entries, 2048U);
  ASSERT_EQ(config->services.size(), 1U);
  const auto& web = config->services[0];
  EXPECT_EQ(web.health_check.type, lb::HealthCheckType::http);
  EXPECT_EQ(web.health_check.fall, 2U);
  EXPECT_EQ(web.health_check.interval.count(), 200);
  ASSERT_EQ(web.backends.size(), 2U);
  EXPECT_EQ(web.backends[0].name, "b1");
  EXPECT_EQ(web.backends[0].weight, 3U);
  EXPECT_EQ(web.backends[1].endpoint.to_string(), "10.77.2.2:80");
}

TEST(DemoConfig, InvalidSettingsAreRefusedWithTheParsersMessage) {
  auto s = two_backends();
  s.pin_dir.clear();
  auto no_pins = balancer_yaml(s);
  ASSERT_FALSE(no_pins.has_value());
  EXPECT_EQ(no_pins.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_NE(no_pins.error().to_string().find("pin_dir"), std::string::npos);

  s = two_backends();
  s.services[0].backends[1].port = 0;
  auto bad_port = balancer_yaml(s);
  ASSERT_FALSE(bad_port.has_value());
  EXPECT_EQ(bad_port.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_NE(bad_port.error().to_string().find("backends[1].port"), std::string::npos) << bad_port.error().to_string();
}

TEST(DemoMetrics, PrometheusSamplesAreSummedByLabels) {
  const auto samples = parse_prometheus(
      "# HELP x y\n# TYPE ebpf_lb_backend_bytes_total counter\n"
      "ebpf_lb_backend_bytes_total{service=\"web\",backend=\"b1\"} 100\n"
      "ebpf_lb_backend_bytes_total{service=\"web\",backend=\"b2\"} 50\n"
      "ebpf_lb_backend_bytes_total{service=\"dns\",backend=\"b1\"} 7\n"
      "ebpf_lb_conntrack_entries 12\n");
  EXPECT_EQ(samples.size(), 4U);
  EXPECT_EQ(metric_sum(samples, "ebpf_lb_backend_bytes_total"), 157);
  EXPECT_EQ(metric_sum(samples, "ebpf_lb_backend_bytes_total", {"service=\"web\""}), 150);
  EXPECT_EQ(metric_sum(samples, "ebpf_lb_backend_bytes_total", {"service=\"web\"", "backend=\"b2\""}), 50);
  EXPECT_EQ(metric_sum(samples, "ebpf_lb_conntrack_entries"), 12);
  EXPECT_EQ(metric_sum(samples, "ebpf_lb_conntrack"), 0);  // a prefix is not a metric
}

TEST(DemoTraffic, BackendNameFromBodies) {
  EXPECT_EQ(backend_from_body("backend-2\n"), "backend-2");
  EXPECT_EQ(backend_from_body("backend-3:ping"), "backend-3");
  EXPECT_EQ(backend_from_body(""), "");
}

TEST(DemoTopology, BadArgumentsAreRefusedBeforeAnyNamespaceIsMade) {
  auto none = Topology::create({.backends = 0, .offload = false, .prefix = "etu"});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_NE(none.error().to_string().find("backends must be 1..90"), std::string::npos);
  auto unnamed = Topology::create({.backends = 3, .offload = false, .prefix = ""});
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code(), ebpf::Errc::invalid_argument);
}

}  // namespace
