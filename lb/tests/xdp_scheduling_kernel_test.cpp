// Backend selection of the XDP ingress program through BPF_PROG_TEST_RUN: weighted Maglev matches the
// reference flow hash flow by flow, removing one of 100 backends moves < 1% of the others' flows, source
// routes (LPM), both token buckets, the random scheduler with source persistence, drained/unhealthy backends.
#include <gtest/gtest.h>

// Packet specs are written with designated initialisers naming only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <map>

#include "lb/tests/xdp_fixture.hpp"

namespace lb::test {
namespace {

using namespace ebpf::packet;

const Ipv4Addr kVip = ip4("10.0.0.100");

std::unique_ptr<XdpDataPath> make(std::string_view yaml, const CompileOptions& compile = {}) {
  auto dp = XdpDataPath::create(yaml, compile);
  EXPECT_TRUE(dp.has_value()) << dp.error().to_string();
  return dp ? std::make_unique<XdpDataPath>(std::move(*dp)) : nullptr;
}

// Client address number i (10.200.x.y) and the destination of its UDP flow after the program, or nullopt.
Ipv4Addr client(std::uint32_t i) { return {10, 200, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}; }
std::optional<Ipv4Addr> send_udp(const XdpDataPath& dp, const Ipv4Addr& src, std::uint16_t sport) {
  auto out = dp.run(udp4(src, sport, kVip, 53));
  if (!out || out->retval != kXdpPass) return std::nullopt;
  auto parsed = parse(out->data_out);
  if (!parsed) return std::nullopt;
  return parsed->dst_ipv4;
}

constexpr std::string_view kWeighted = R"(
maglev_table_size: 1009
services:
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    backends:
      - { address: 10.0.1.1, port: 53, weight: 3 }
      - { address: 10.0.1.2, port: 53 }
      - { address: 10.0.1.3, port: 53 }
)";

TEST(XdpScheduling, WeightedMaglevFollowsTheReferenceHashAndTheWeights) {
  EBPF_REQUIRE_KERNEL();
  auto dp = make(kWeighted);
  ASSERT_TRUE(dp);
  constexpr int kFlows = 3000;
  std::map<std::uint32_t, int> got;
  for (int i = 0; i < kFlows; ++i) {
    const auto src = client(static_cast<std::uint32_t>(i % 600));
    const auto sport = static_cast<std::uint16_t>(20000 + i);
    const auto key = flow_key(mapped(src), mapped(kVip), sport, 53, kProtoUdp, kFamilyV4);
    const std::uint32_t want = dp->expected_backend("dns", key);
    auto dst = send_udp(*dp, src, sport);
    ASSERT_TRUE(dst.has_value());
    ASSERT_EQ(*dst, ipv4_of(dp->backend(want).addr)) << "flow " << i;
    ++got[want];
  }
  // Weights 3:1:1 → 60% / 20% / 20%, within 5 points for 3000 flows.
  for (const auto& [id, count] : got) {
    const double share = static_cast<double>(count) / kFlows;
    const double expected = dp->backend(id).weight == 3 ? 0.6 : 0.2;
    EXPECT_NEAR(share, expected, 0.05) << "backend " << id;
    ASSERT_OK_AND_ASSIGN(auto counters, dp->maps->backend_counters(id));
    EXPECT_EQ(counters.new_flows, static_cast<std::uint64_t>(count));
  }
  EXPECT_EQ(got.size(), 3u);
}

std::string hundred_backends(int skip) {
  std::string yaml = "maglev_table_size: 65537\nservices:\n  - name: dns\n    vip: 10.0.0.100\n    port: 53\n    protocol: udp\n"
                     "    backends:\n";
  for (int i = 0; i < 100; ++i)
    if (i != skip) yaml += "      - { address: 10.1." + std::to_string(i / 50) + "." + std::to_string(i % 50 + 1) + ", port: 53 }\n";
  return yaml;
}

TEST(XdpScheduling, RemovingOneOfHundredBackendsMovesUnderOnePercentOfTheOthersFlows) {
  EBPF_REQUIRE_KERNEL();
  auto before = make(hundred_backends(-1));
  auto after = make(hundred_backends(37));
  ASSERT_TRUE(before && after);
  const Ipv4Addr removed{10, 1, 0, 38};
  int others = 0, moved = 0;
  for (int i = 0; i < 6000; ++i) {
    const auto src = client(static_cast<std::uint32_t>(i));
    const auto sport = static_cast<std::uint16_t>(30000 + i % 1000);
    auto a = send_udp(*before, src, sport), b = send_udp(*after, src, sport);
    ASSERT_TRUE(a && b);
    ASSERT_NE(*b, removed);
    if (*a == removed) continue;
    ++others;
    if (*a != *b) ++moved;
  }
  EXPECT_GT(others, 5800);
  EXPECT_LT(static_cast<double>(moved) / others, 0.01) << moved << " of " << others << " moved";
}

TEST(XdpScheduling, SourceRoutesPickTheGroupByLongestPrefix) {
  EBPF_REQUIRE_KERNEL();
  auto dp = make(R"(
maglev_table_size: 251
services:
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    backends:
      - { address: 10.0.1.1, port: 53 }
      - { address: 10.0.1.2, port: 53 }
      - { address: 10.0.9.1, port: 53, group: eu }
    source_routes:
      - { cidr: 192.168.0.0/16, group: eu }
      - { cidr: 192.168.7.0/24, group: default }
)");
  ASSERT_TRUE(dp);
  for (std::uint16_t port = 1000; port < 1050; ++port) {
    EXPECT_EQ(send_udp(*dp, ip4("192.168.1.5"), port), ip4("10.0.9.1"));
    auto inner = send_udp(*dp, ip4("192.168.7.5"), port);  // the /24 wins: default group
    ASSERT_TRUE(inner.has_value());
    EXPECT_NE(*inner, ip4("10.0.9.1"));
    auto other = send_udp(*dp, ip4("172.16.0.1"), port);
    ASSERT_TRUE(other.has_value());
    EXPECT_NE(*other, ip4("10.0.9.1"));
  }
}

TEST(XdpScheduling, ServiceAndSourceTokenBucketsDropNewFlowsOnly) {
  EBPF_REQUIRE_KERNEL();
  auto dp = make(R"(
services:
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    rate_limits: { service_per_second: 1, service_burst: 5, source_per_second: 1, source_burst: 2 }
    backends:
      - { address: 10.0.1.1, port: 53 }
)");
  ASSERT_TRUE(dp);
  const auto id = dp->service_id("dns");
  // One source: its bucket (burst 2) empties first.
  EXPECT_TRUE(send_udp(*dp, ip4("10.9.0.1"), 1));
  EXPECT_TRUE(send_udp(*dp, ip4("10.9.0.1"), 2));
  EXPECT_FALSE(send_udp(*dp, ip4("10.9.0.1"), 3));
  EXPECT_TRUE(send_udp(*dp, ip4("10.9.0.1"), 1)) << "an established flow is not rate limited";
  // Other sources: the service bucket (burst 5) is checked first, so the refused third flow above took one
  // of its tokens too: 2 more new flows fit.
  EXPECT_TRUE(send_udp(*dp, ip4("10.9.0.2"), 1));
  EXPECT_TRUE(send_udp(*dp, ip4("10.9.0.3"), 1));
  EXPECT_FALSE(send_udp(*dp, ip4("10.9.0.4"), 1));
  EXPECT_FALSE(send_udp(*dp, ip4("10.9.0.5"), 1));
  ASSERT_OK_AND_ASSIGN(auto svc, dp->maps->service_counters(id));
  EXPECT_EQ(svc.drops[static_cast<std::size_t>(DropReason::kRateLimitSource)], 1u);
  EXPECT_EQ(svc.drops[static_cast<std::size_t>(DropReason::kRateLimitService)], 2u);
  EXPECT_EQ(svc.new_flows, 4u);
}

TEST(XdpScheduling, RandomSchedulerWithPersistenceKeepsEachClientOnOneBackend) {
  EBPF_REQUIRE_KERNEL();
  std::string yaml(kWeighted);
  yaml.insert(yaml.find("    backends:"), "    scheduler: random\n");
  auto dp = make(yaml);
  ASSERT_TRUE(dp);
  std::map<std::uint32_t, int> used;
  for (std::uint32_t c = 0; c < 30; ++c) {
    auto first = send_udp(*dp, client(c), 10000);
    ASSERT_TRUE(first.has_value());
    for (std::uint16_t port = 10001; port < 10010; ++port) ASSERT_EQ(send_udp(*dp, client(c), port), first) << "client " << c;
    ++used[(*first)[3]];
  }
  EXPECT_GE(used.size(), 2u) << "30 clients drawn at random all landed on one backend";
}

TEST(XdpScheduling, DrainedAndUnhealthyBackendsKeepFlowsButGetNoNewOnes) {
  EBPF_REQUIRE_KERNEL();
  auto dp = make(kWeighted);
  ASSERT_TRUE(dp);
  // Find an existing flow on 10.0.1.2, then mark that backend unhealthy directly in lb_backends.
  std::uint16_t port = 1;
  while (send_udp(*dp, ip4("10.7.0.1"), port) != ip4("10.0.1.2")) ASSERT_LT(++port, 500);
  const std::uint32_t id = dp->backend_id("dns/10.0.1.2:53");
  BackendValue be = dp->backend(id);
  be.flags |= backend_flags::kUnhealthy;
  ASSERT_OK(dp->set_backend(id, be));
  EXPECT_EQ(send_udp(*dp, ip4("10.7.0.1"), port), ip4("10.0.1.2")) << "existing flow continues";
  for (std::uint16_t p = 2000; p < 2300; ++p) EXPECT_NE(send_udp(*dp, ip4("10.7.0.2"), p), ip4("10.0.1.2"));
  // Draining through the control plane (tables rebuilt without it): same rule.
  CompileOptions drain;
  drain.backend_state["dns/10.0.1.2:53"] = {.healthy = true, .draining = true};
  be.flags &= static_cast<std::uint8_t>(~backend_flags::kUnhealthy);
  ASSERT_OK(dp->set_backend(id, be));
  ASSERT_OK(dp->reload(kWeighted, drain));
  EXPECT_EQ(send_udp(*dp, ip4("10.7.0.1"), port), ip4("10.0.1.2"));
  for (std::uint16_t p = 3000; p < 3300; ++p) EXPECT_NE(send_udp(*dp, ip4("10.7.0.3"), p), ip4("10.0.1.2"));
}

}  // namespace
}  // namespace lb::test
