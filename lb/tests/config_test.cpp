// Configuration: the example parses to the expected values; every class of mistake is reported with
// file:line:column and key path; overrides and reloads never half-apply.
#include "lb/control/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "support/kernel.hpp"

namespace lb {
namespace {

using namespace std::chrono_literals;

// Parses text expected to fail; returns the message.
std::string failure(std::string_view yaml, ebpf::Errc expected = ebpf::Errc::invalid_argument) {
  auto result = parse_config(yaml, "t.yaml");
  if (result) return "<parsed successfully>";
  EXPECT_EQ(result.error().code(), expected) << result.error().to_string();
  EXPECT_EQ(result.error().operation(), "config");
  return result.error().message();
}

constexpr std::string_view kMinimal = R"(services:
  - name: web
    vip: 10.0.0.1
    port: 80
    backends:
      - address: 10.0.1.1
        port: 8080
)";

TEST(Config, ExampleFileParses) {
  ASSERT_OK_AND_ASSIGN(auto config, load_config_file(LB_SOURCE_DIR "/examples/ebpf-lb.yaml"));
  EXPECT_EQ(config.interfaces.ingress, "eth0");
  EXPECT_EQ(config.interfaces.egress, "eth1");
  EXPECT_EQ(config.forwarding, ForwardingMode::pass);
  EXPECT_EQ(config.maglev_table_size, 65537u);
  EXPECT_EQ(config.conntrack.max_entries, 1048576u);
  EXPECT_EQ(config.conntrack.tcp_idle_timeout, 5min);
  EXPECT_EQ(config.conntrack.udp_idle_timeout, 60s);
  EXPECT_EQ(config.admin.listen.to_string(), "127.0.0.1:9180");
  ASSERT_EQ(config.services.size(), 3u);
  const auto& web = config.services[0];
  EXPECT_EQ(web.vip.to_string(), "10.0.0.100:80");
  EXPECT_EQ(web.protocol, Protocol::tcp);
  EXPECT_EQ(web.rate_limits.source_per_second, 200u);
  EXPECT_EQ(web.health_check.type, HealthCheckType::http);
  EXPECT_EQ(web.health_check.path, "/healthz");
  EXPECT_EQ(web.health_check.timeout, 1s);
  EXPECT_EQ(web.health_check.fall, 3u);
  ASSERT_EQ(web.backends.size(), 5u);
  EXPECT_EQ(web.backends[2].weight, 50u);
  EXPECT_EQ(web.backends[0].name, "10.0.1.1:8080");
  EXPECT_EQ(web.backends[3].name, "eu-1");
  EXPECT_EQ(web.backends[3].group, "eu");
  ASSERT_EQ(web.source_routes.size(), 1u);
  EXPECT_EQ(web.source_routes[0].cidr.to_string(), "192.168.0.0/16");
  EXPECT_EQ(config.services[1].scheduler, Scheduler::random);
  EXPECT_EQ(config.services[1].persistence, Persistence::source_ip);
  EXPECT_EQ(config.services[1].protocol, Protocol::udp);
  EXPECT_EQ(config.services[2].vip.to_string(), "[2001:db8::100]:443");
  EXPECT_EQ(config.services[2].backends[1].weight, 3u);
}

TEST(Config, DefaultsApply) {
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kMinimal, "m.yaml"));
  EXPECT_EQ(config.source, "m.yaml");
  EXPECT_EQ(config.pin_dir, "/sys/fs/bpf/ebpf-lb");
  EXPECT_EQ(config.admin.listen.port, kDefaultAdminPort);
  EXPECT_TRUE(config.admin.listen.address.is_loopback());
  EXPECT_EQ(config.services[0].scheduler, Scheduler::maglev);
  EXPECT_EQ(config.services[0].health_check.type, HealthCheckType::tcp);
  EXPECT_EQ(config.services[0].backends[0].weight, 1u);
  EXPECT_EQ(config.services[0].backends[0].group, "default");
  EXPECT_TRUE(config.flow_events);
  EXPECT_EQ(config.drain_timeout, std::chrono::minutes(5));
  std::string quiet = "flow_events: false\ndrain_timeout: none\n";
  quiet += kMinimal;
  ASSERT_OK_AND_ASSIGN(auto without_events, parse_config(quiet, "q.yaml"));
  EXPECT_FALSE(without_events.flow_events);
  EXPECT_EQ(without_events.drain_timeout.count(), 0);
}

TEST(Config, ErrorsNameFileLineColumnAndKey) {
  EXPECT_EQ(failure("services:\n  - name: web\n    vip: 10.0.0.1\n    port: 70000\n    backends: []\n"),
            "t.yaml:4:11: services[0].port: must be 1..65535, got 70000");
  EXPECT_EQ(failure("services:\n  - name: web\n    vip: 10.0.0.300\n    port: 80\n    backends: []\n"),
            "t.yaml:3:10: services[0].vip: '10.0.0.300': not an IPv4 or IPv6 address");
  EXPECT_EQ(failure("conntrack:\n  max_entrys: 5\n"),
            "t.yaml:2:3: conntrack.max_entrys: unknown key (expected one of: max_entries, tcp_idle_timeout, "
            "tcp_transitory_timeout, udp_idle_timeout)");
  EXPECT_EQ(failure("forwarding: bounce\n"), "t.yaml:1:13: forwarding: 'bounce' is not one of: pass, redirect");
  EXPECT_EQ(failure("flow_events: sometimes\n"), "t.yaml:1:14: flow_events: 'sometimes' is not one of: true, false");
  EXPECT_EQ(failure("drain_timeout: soon\n"), "t.yaml:1:16: drain_timeout: expected a duration such as 500ms, 2s, 5m, got 'soon'");
  EXPECT_EQ(failure("maglev_table_size: 65536\n"),
            "t.yaml:1:20: maglev_table_size: 65536 is not prime (next prime: 65537)");
  EXPECT_EQ(failure("conntrack:\n  udp_idle_timeout: 5 fortnights\n"),
            "t.yaml:2:21: conntrack.udp_idle_timeout: unknown duration unit ' fortnights' (use ms, s, m or h)");
  std::string yaml(kMinimal);
  yaml += "        weight: lots\n";
  EXPECT_EQ(failure(yaml), "t.yaml:8:17: services[0].backends[0].weight: expected a non-negative integer, got 'lots'");
  EXPECT_EQ(failure("services:\n  - name: web\n    port: 80\n    backends: []\n"),
            "t.yaml:2:5: services[0]: missing required key 'vip'");
}

TEST(Config, SyntaxErrorIsBadFormatWithLocation) {
  auto message = failure("services:\n  - name: [unclosed\n", ebpf::Errc::bad_format);
  EXPECT_TRUE(message.starts_with("t.yaml:")) << message;
  EXPECT_NE(message.find("YAML syntax error"), std::string::npos) << message;
}

TEST(Config, CrossChecks) {
  std::string mixed(kMinimal);
  mixed += "      - address: \"2001:db8::1\"\n        port: 8080\n";
  EXPECT_EQ(failure(mixed), "t.yaml:8:9: services[0].backends[1]: address family differs from the VIP 10.0.0.1 "
                            "(no IPv4/IPv6 translation)");
  std::string dup(kMinimal);
  dup += "      - address: 10.0.1.1\n        port: 8080\n";
  EXPECT_EQ(failure(dup), "t.yaml:8:9: services[0].backends[1]: duplicate backend name '10.0.1.1:8080'");
  std::string route(kMinimal);
  route += "    source_routes:\n      - { cidr: 10.1.0.0/16, group: eu }\n";
  EXPECT_EQ(failure(route), "t.yaml:9:9: services[0].source_routes[0].group: no backend of this service is in group 'eu'");
  EXPECT_EQ(failure("services:\n  - {name: a, vip: 10.0.0.1, port: 80, backends: [{address: 10.0.1.1, port: 1, weight: 0}]}\n"),
            "t.yaml:2:5: services[0].backends: every backend has weight 0");
  std::string twice(kMinimal);
  twice += "  - name: web2\n    vip: 10.0.0.1\n    port: 80\n    backends: [{address: 10.0.1.2, port: 1}]\n";
  EXPECT_EQ(failure(twice), "t.yaml:8:5: services[1]: duplicate service 10.0.0.1:80/tcp");
  EXPECT_EQ(failure("admin:\n  listen: 0.0.0.0:9180\n"),
            "t.yaml: admin.listen: 0.0.0.0:9180 is not a loopback address; set admin.token to expose the API");
  EXPECT_EQ(failure("admin:\n  token: short\n"), "t.yaml:2:10: admin.token: must be at least 16 characters");
  EXPECT_EQ(failure("services:\n  - {name: a, vip: 10.0.0.1, port: 80, backends: [{address: 10.0.1.1, port: 1}],\n"
                    "     source_routes: [{cidr: 10.0.0.1/8, group: default}]}\n"),
            "t.yaml:3:29: services[0].source_routes[0].cidr: '10.0.0.1/8': host bits are set (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(failure("services:\n  - {name: a, vip: 10.0.0.1, port: 80, backends: [{address: 10.0.1.1, port: 1}],\n"
                    "     health_check: {interval: 1s, timeout: 2s}}\n"),
            "t.yaml:3:44: services[0].health_check.timeout: must not exceed the interval");
}

TEST(Config, CommandLineOverrides) {
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kMinimal, "m.yaml"));
  CliOverrides flags{.interface = "veth7", .vip = "10.0.0.9:53/udp", .backends = {"10.0.5.1:53*3", "10.0.5.2:53"}};
  ASSERT_OK(apply_overrides(config, flags));
  EXPECT_EQ(config.interfaces.ingress, "veth7");
  EXPECT_EQ(config.interfaces.egress, "veth7");
  ASSERT_EQ(config.services.size(), 2u);
  const auto& cli = config.services[1];
  EXPECT_EQ(cli.name, "cli");
  EXPECT_EQ(cli.protocol, Protocol::udp);
  EXPECT_EQ(cli.vip.to_string(), "10.0.0.9:53");
  ASSERT_EQ(cli.backends.size(), 2u);
  EXPECT_EQ(cli.backends[0].weight, 3u);
  EXPECT_EQ(cli.backends[1].endpoint.to_string(), "10.0.5.2:53");
}

TEST(Config, BadOverrideLeavesConfigUntouched) {
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kMinimal, "m.yaml"));
  const auto before = describe(config);
  auto bad_weight = apply_overrides(config, {.interface = "veth7", .vip = "10.0.0.9:53", .backends = {"10.0.5.1:53*x"}});
  ASSERT_FALSE(bad_weight);
  EXPECT_EQ(bad_weight.error().operation(), "--backend");
  EXPECT_EQ(bad_weight.error().message(), "'10.0.5.1:53*x': weight must be 0..65535");
  auto clash = apply_overrides(config, {.interface = std::nullopt, .vip = "10.0.0.1:80", .backends = {"10.0.5.1:80"}});
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().message().find("duplicate service 10.0.0.1:80/tcp"), std::string::npos);
  auto orphan = apply_overrides(config, {.interface = std::nullopt, .vip = std::nullopt, .backends = {"10.0.5.1:80"}});
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().message(), "needs --vip to say which service the backends belong to");
  EXPECT_EQ(describe(config), before);
}

// A temporary file removed on scope exit, even when the test fails.
struct TempFile {
  std::string path = "/tmp/lb_config_test_" + std::to_string(::getpid()) + ".yaml";
  void write(std::string_view text) { std::ofstream(path) << text; }
  ~TempFile() { std::remove(path.c_str()); }
};

TEST(Config, InvalidReloadKeepsTheActiveConfig) {
  TempFile file;
  file.write(kMinimal);
  ASSERT_OK_AND_ASSIGN(auto initial, load_config_file(file.path));
  ConfigStore store(std::move(initial), {.interface = "lb0", .vip = std::nullopt, .backends = {}});
  auto first = store.current();

  file.write(std::string(kMinimal) + "        weight: 5\n");
  ASSERT_OK_AND_ASSIGN(auto reloaded, store.reload());
  EXPECT_EQ(reloaded->services[0].backends[0].weight, 5u);
  EXPECT_EQ(reloaded->interfaces.ingress, "lb0");  // the command line still wins
  EXPECT_EQ(store.current(), reloaded);
  EXPECT_EQ(first->services[0].backends[0].weight, 1u);  // old snapshots stay valid for their readers

  file.write(std::string(kMinimal) + "        weight: -5\n");
  auto bad = store.reload();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find(":8:17: services[0].backends[0].weight"), std::string::npos);
  EXPECT_EQ(store.current(), reloaded);  // unchanged

  auto missing = store.reload("/nonexistent/lb.yaml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  EXPECT_EQ(store.current(), reloaded);
}

TEST(Address, ParseAndFormat) {
  ASSERT_OK_AND_ASSIGN(auto v4, parse_ip("192.0.2.7"));
  EXPECT_EQ(v4.family, kFamilyV4);
  EXPECT_EQ(v4.addr.bytes[10], 0xff);
  EXPECT_EQ(v4.addr.bytes[15], 7);
  EXPECT_EQ(v4.to_string(), "192.0.2.7");
  ASSERT_OK_AND_ASSIGN(auto ep, parse_endpoint("[2001:db8::1]:443"));
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.to_string(), "[2001:db8::1]:443");
  EXPECT_FALSE(parse_endpoint("2001:db8::1:443"));
  EXPECT_FALSE(parse_endpoint("10.0.0.1:0"));
  ASSERT_OK_AND_ASSIGN(auto cidr, parse_cidr("10.1.0.0/16"));
  EXPECT_EQ(cidr.mapped_prefix_len(), 112u);
  EXPECT_TRUE(cidr.contains(*parse_ip("10.1.200.3")));
  EXPECT_FALSE(cidr.contains(*parse_ip("10.2.0.1")));
  EXPECT_FALSE(cidr.contains(*parse_ip("::ffff:10.1.0.1")));  // same bytes, but an IPv6 address
  ASSERT_OK_AND_ASSIGN(auto v6net, parse_cidr("2001:db8::/32"));
  EXPECT_TRUE(v6net.contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6net.contains(*parse_ip("10.1.0.1")));
  auto bad = parse_cidr("10.0.0.0/33");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "'10.0.0.0/33': prefix length exceeds 32");
}

}  // namespace
}  // namespace lb
