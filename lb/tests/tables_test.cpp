// Config -> map contents: keys in network order, flags, Maglev regions, source routes, stable ids.
#include "lb/control/tables.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "support/kernel.hpp"

namespace lb {
namespace {

constexpr std::string_view kYaml = R"(
maglev_table_size: 1009
forwarding: redirect
conntrack: { tcp_idle_timeout: 2m, udp_idle_timeout: 500ms }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    persistence: source_ip
    rate_limits: { service_per_second: 1000, source_per_second: 10, source_burst: 20 }
    backends:
      - { address: 10.0.1.1, port: 8080, weight: 2 }
      - { address: 10.0.1.2, port: 8080 }
      - { name: eu-1, address: 10.0.2.1, port: 8080, group: eu }
    source_routes:
      - { cidr: 192.168.0.0/16, group: eu }
  - name: dns
    vip: "2001:db8::53"
    port: 53
    protocol: udp
    scheduler: random
    backends:
      - { address: "2001:db8:1::1", port: 5353 }
)";

Config config() {
  auto parsed = parse_config(kYaml, "tables.yaml");
  EXPECT_TRUE(parsed) << parsed.error().to_string();
  return *parsed;
}

TEST(Tables, ServiceEntries) {
  ASSERT_OK_AND_ASSIGN(auto t, compile_tables(config()));
  ASSERT_EQ(t.services.size(), 2u);
  const auto& [key, value] = t.services[0];
  EXPECT_EQ(key.family, kFamilyV4);
  EXPECT_EQ(key.proto, kProtoTcp);
  EXPECT_EQ(key.port, htons(80));
  EXPECT_EQ(key.vip.bytes[10], 0xff);
  EXPECT_EQ(key.vip.bytes[12], 10);
  EXPECT_EQ(key.vip.bytes[15], 100);
  EXPECT_EQ(value.id, 0u);
  EXPECT_EQ(value.flags, service_flags::kPersistSource | service_flags::kHasSourceRoutes |
                             service_flags::kRateLimitService | service_flags::kRateLimitSource);
  EXPECT_EQ(value.maglev_size, 1009u);
  EXPECT_EQ(value.backend_count, 2u);  // the "default" group only: eu-1 serves routed clients
  EXPECT_EQ(value.svc_rate, 1000u);
  EXPECT_EQ(value.svc_burst, 1000u);  // burst defaults to the rate
  EXPECT_EQ(value.src_burst, 20u);
  const auto& [key6, value6] = t.services[1];
  EXPECT_EQ(key6.family, kFamilyV6);
  EXPECT_EQ(key6.proto, kProtoUdp);
  EXPECT_EQ(key6.vip.bytes[0], 0x20);
  EXPECT_EQ(key6.vip.bytes[15], 0x53);
  EXPECT_EQ(value6.flags, service_flags::kSchedRandom);
}

TEST(Tables, BackendsAndMaglevRegions) {
  ASSERT_OK_AND_ASSIGN(auto t, compile_tables(config()));
  ASSERT_EQ(t.backends.size(), 4u);
  const auto& [id, be] = t.backends[0];
  EXPECT_EQ(t.backend_names.at(id), "web/10.0.1.1:8080");
  EXPECT_EQ(be.port, htons(8080));
  EXPECT_EQ(be.weight, 2u);
  EXPECT_EQ(be.flags, backend_flags::kInUse);
  // Three tables (web main, web eu, dns main), two regions each.
  ASSERT_EQ(t.maglev_tables.size(), 3u);
  EXPECT_EQ(t.maglev_entries, 3u * 2 * 1009);
  EXPECT_EQ(t.maglev_tables[0].offset, 0u);
  EXPECT_EQ(t.maglev_tables[1].offset, 2u * 1009);
  EXPECT_EQ(t.maglev_tables[2].offset, 4u * 1009);
  EXPECT_EQ(t.maglev_tables[1].group, "eu");
  const auto eu_id = t.backend_ids.at("web/eu-1");
  EXPECT_TRUE(std::all_of(t.maglev_tables[1].slots.begin(), t.maglev_tables[1].slots.end(),
                          [&](auto slot) { return slot == eu_id; }));
  EXPECT_EQ(std::count(t.maglev_tables[0].slots.begin(), t.maglev_tables[0].slots.end(), eu_id), 0);
  // Weight 2 vs 1: two thirds of the main table.
  const auto heavy = std::count(t.maglev_tables[0].slots.begin(), t.maglev_tables[0].slots.end(), id);
  EXPECT_NEAR(static_cast<double>(heavy) / 1009, 2.0 / 3.0, 0.01);
  // The other generation uses the other half of every region.
  ASSERT_OK_AND_ASSIGN(auto odd, compile_tables(config(), {.generation = 1}));
  EXPECT_EQ(odd.maglev_tables[0].offset, 1009u);
  EXPECT_EQ(odd.services[0].second.maglev_offset, 1009u);
  EXPECT_EQ(odd.maglev_tables[0].slots, t.maglev_tables[0].slots);
}

TEST(Tables, SourceRoutesAndDataPathConfig) {
  ASSERT_OK_AND_ASSIGN(auto t, compile_tables(config()));
  ASSERT_EQ(t.source_routes.size(), 1u);
  const auto& [key, value] = t.source_routes[0];
  EXPECT_EQ(key.prefixlen, 32u + 96 + 16);
  EXPECT_EQ(key.service_id, htonl(0));
  EXPECT_EQ(key.addr.bytes[12], 192);
  EXPECT_EQ(key.addr.bytes[13], 168);
  EXPECT_EQ(value.maglev_offset, t.maglev_tables[1].offset);
  EXPECT_EQ(value.backend_count, 1u);
  EXPECT_EQ(t.datapath.tcp_idle_ns, 120'000'000'000ULL);
  EXPECT_EQ(t.datapath.udp_idle_ns, 500'000'000ULL);
  EXPECT_EQ(t.datapath.tcp_transitory_ns, 30'000'000'000ULL);  // default
  EXPECT_EQ(t.datapath.flags, config_flags::kRedirect | config_flags::kEvents);
  auto quiet = config();
  quiet.flow_events = false;
  ASSERT_OK_AND_ASSIGN(auto without_events, compile_tables(quiet));
  EXPECT_EQ(without_events.datapath.flags, config_flags::kRedirect);
}

TEST(Tables, UnhealthyAndDrainedBackendsLeaveTheTable) {
  CompileOptions options;
  options.backend_state["web/10.0.1.1:8080"] = {.healthy = false, .draining = false};
  options.backend_state["web/eu-1"] = {.healthy = true, .draining = true};
  ASSERT_OK_AND_ASSIGN(auto t, compile_tables(config(), options));
  const auto sick = t.backend_ids.at("web/10.0.1.1:8080");
  EXPECT_EQ(std::count(t.maglev_tables[0].slots.begin(), t.maglev_tables[0].slots.end(), sick), 0);
  EXPECT_EQ(t.services[0].second.backend_count, 1u);
  EXPECT_EQ(t.backends[0].second.flags, backend_flags::kInUse | backend_flags::kUnhealthy);
  // The eu group has nothing left: its table is empty and the route says so (drop, no_backend).
  EXPECT_TRUE(t.maglev_tables[1].slots.empty());
  EXPECT_EQ(t.source_routes[0].second.maglev_size, 0u);
  EXPECT_EQ(t.backends[2].second.flags, backend_flags::kInUse | backend_flags::kDraining);
}

TEST(Tables, IdsSurviveReorderingWhenPreviousAssignmentIsGiven) {
  ASSERT_OK_AND_ASSIGN(auto first, compile_tables(config()));
  auto reordered = config();
  std::swap(reordered.services[0], reordered.services[1]);
  std::reverse(reordered.services[1].backends.begin(), reordered.services[1].backends.end());
  reordered.services[1].backends.erase(reordered.services[1].backends.begin() + 1);  // drop 10.0.1.2
  ASSERT_OK_AND_ASSIGN(auto second, compile_tables(reordered, {.generation = 1,
                                                               .previous_service_ids = first.service_ids,
                                                               .previous_backend_ids = first.backend_ids,
                                                               .backend_state = {}}));
  EXPECT_EQ(second.service_ids, (std::map<std::string, std::uint32_t>{{"dns", 1}, {"web", 0}}));
  EXPECT_EQ(second.backend_ids.at("web/10.0.1.1:8080"), first.backend_ids.at("web/10.0.1.1:8080"));
  EXPECT_EQ(second.backend_ids.at("web/eu-1"), first.backend_ids.at("web/eu-1"));
  EXPECT_FALSE(second.backend_ids.contains("web/10.0.1.2:8080"));
  // Without the previous assignment, ids follow the new order.
  ASSERT_OK_AND_ASSIGN(auto fresh, compile_tables(reordered));
  EXPECT_EQ(fresh.service_ids.at("dns"), 0u);
}

}  // namespace
}  // namespace lb
