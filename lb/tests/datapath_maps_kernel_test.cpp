// The map ABI against the real kernel: every catalogue map is created with its declared sizes, compiled
// tables load, and lookups the data path will make (service key, LPM source route, Maglev slot) return
// what the control plane meant. Needs root (bpf()).
#include "lb/control/datapath_maps.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "lb/common/maps.hpp"
#include "lb/tests/dataplane_fixture.hpp"
#include "support/kernel.hpp"

namespace lb {
namespace {

constexpr std::string_view kYaml = R"(
maglev_table_size: 1009
conntrack: { max_entries: 4096 }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    backends:
      - { address: 10.0.1.1, port: 8080, weight: 3 }
      - { address: 10.0.1.2, port: 8080 }
      - { name: eu-1, address: 10.0.2.1, port: 8080, group: eu }
    source_routes:
      - { cidr: 192.168.0.0/16, group: eu }
      - { cidr: 192.168.7.0/24, group: default }
  - name: web6
    vip: "2001:db8::100"
    port: 443
    backends:
      - { address: "2001:db8:1::1", port: 8443 }
)";

TEST(DataPathMaps, CatalogueMapsLoadAndAnswerLikeTheDataPath) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(config));
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, tables.maglev_entries));
  for (const auto& d : kMaps) {
    auto* map = maps.find(d.name);
    ASSERT_NE(map, nullptr) << d.name;
    EXPECT_EQ(map->type(), d.type) << d.name;
    EXPECT_EQ(map->key_size(), d.key_size) << d.name;
  }
  EXPECT_EQ(maps.find("lb_conntrack")->max_entries(), 4096u);
  EXPECT_EQ(maps.find("lb_maglev")->max_entries(), tables.maglev_entries);
  ASSERT_OK(maps.apply(tables));

  // Service lookup with the key the XDP program builds from a packet to 10.0.0.100:80/tcp.
  ServiceKey key;
  key.vip.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 100};
  key.port = htons(80);
  key.proto = kProtoTcp;
  key.family = kFamilyV4;
  ServiceValue value;
  ASSERT_OK(maps.find("lb_services")->lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(value)));
  EXPECT_EQ(value.maglev_size, 1009u);
  EXPECT_EQ(value.backend_count, 2u);
  key.proto = kProtoUdp;
  auto missing = maps.find("lb_services")->lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(value));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ebpf::Errc::key_not_found);

  // Longest-prefix match: /24 beats /16, other sources and other services miss.
  auto route_for = [&](std::uint32_t service, std::string_view client) -> std::optional<SourceRouteValue> {
    SourceRouteValue rv;
    auto k = make_source_lookup_key(service, *parse_ip(client));
    if (!maps.find("lb_src_routes")->lookup(ebpf::as_bytes_of(k), ebpf::as_writable_bytes_of(rv))) return std::nullopt;
    return rv;
  };
  const auto eu = route_for(0, "192.168.200.9");
  ASSERT_TRUE(eu);
  EXPECT_EQ(eu->maglev_offset, tables.maglev_tables[1].offset);
  EXPECT_EQ(tables.maglev_tables[1].group, "eu");
  const auto narrow = route_for(0, "192.168.7.9");
  ASSERT_TRUE(narrow);
  EXPECT_EQ(narrow->maglev_offset, tables.maglev_tables[2].offset);
  EXPECT_EQ(tables.maglev_tables[2].group, "default");
  EXPECT_FALSE(route_for(0, "10.9.9.9"));
  EXPECT_FALSE(route_for(1, "192.168.200.9"));  // the service id is part of the prefix

  // Maglev slots read back from the kernel equal the built table, at the service's offset.
  for (std::uint32_t i : {0U, 1U, 500U, 1008U}) {
    std::uint32_t index = value.maglev_offset + i, backend = 0;
    ASSERT_OK(maps.find("lb_maglev")->lookup(ebpf::as_bytes_of(index), ebpf::as_writable_bytes_of(backend)));
    EXPECT_EQ(backend, tables.maglev_tables[0].slots[i]);
  }
  BackendValue be;
  const std::uint32_t be_id = tables.maglev_tables[0].slots[0];
  ASSERT_OK(maps.find("lb_backends")->lookup(ebpf::as_bytes_of(be_id), ebpf::as_writable_bytes_of(be)));
  EXPECT_EQ(be.flags, backend_flags::kInUse);
  EXPECT_EQ(be.port, htons(8080));

  // Counters start at zero and sum over CPUs.
  ASSERT_OK_AND_ASSIGN(auto counters, maps.service_counters(0));
  EXPECT_EQ(counters.packets, 0u);
  ASSERT_OK_AND_ASSIGN(auto global, maps.global_counters());
  EXPECT_EQ(global.ct_created, 0u);
}

TEST(DataPathMaps, ReloadSwitchesTablesAndRemovesStaleEntries) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ASSERT_OK_AND_ASSIGN(auto first, compile_tables(config));
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, first.maglev_entries));
  ASSERT_OK(maps.apply(first));

  auto smaller = config;
  smaller.services.pop_back();                   // web6 goes away
  smaller.services[0].source_routes.pop_back();  // and the /24 route
  smaller.services[0].backends.erase(smaller.services[0].backends.begin() + 1);
  ASSERT_OK_AND_ASSIGN(auto second, compile_tables(smaller, {.generation = 1,
                                                             .previous_service_ids = first.service_ids,
                                                             .previous_backend_ids = first.backend_ids,
                                                             .backend_state = {}}));
  ASSERT_OK(maps.apply(second, &first));

  ServiceValue value;
  ASSERT_OK(maps.find("lb_services")->lookup(ebpf::as_bytes_of(second.services[0].first), ebpf::as_writable_bytes_of(value)));
  EXPECT_EQ(value.maglev_offset, 1009u);  // switched to the other half
  EXPECT_EQ(value.backend_count, 1u);
  auto gone = maps.find("lb_services")->lookup(ebpf::as_bytes_of(first.services[1].first), ebpf::as_writable_bytes_of(value));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ebpf::Errc::key_not_found);
  SourceRouteValue rv;
  auto narrow = make_source_lookup_key(0, *parse_ip("192.168.7.9"));
  ASSERT_OK(maps.find("lb_src_routes")->lookup(ebpf::as_bytes_of(narrow), ebpf::as_writable_bytes_of(rv)));
  EXPECT_EQ(rv.group_id, 1u);  // now only the /16 eu route matches
  BackendValue be;
  const std::uint32_t removed = first.backend_ids.at("web/10.0.1.2:8080");
  ASSERT_OK(maps.find("lb_backends")->lookup(ebpf::as_bytes_of(removed), ebpf::as_writable_bytes_of(be)));
  EXPECT_EQ(be.flags, 0);  // slot no longer in use
  // Every slot of the new region names the surviving default backend.
  const std::uint32_t survivor = first.backend_ids.at("web/10.0.1.1:8080");
  for (std::uint32_t i = 0; i < 1009; i += 97) {
    std::uint32_t index = 1009 + i, backend = 0;
    ASSERT_OK(maps.find("lb_maglev")->lookup(ebpf::as_bytes_of(index), ebpf::as_writable_bytes_of(backend)));
    EXPECT_EQ(backend, survivor);
  }
}

// Traffic's worth of counts (5 packets on every CPU) for every service and backend id of `tables`; returns
// the sum one id then reads.
std::uint64_t fill_counters(DataPathMaps& maps, const CompiledTables& tables) {
  auto fill = [](ebpf::Map& map, std::uint32_t id, std::size_t value_size) {
    std::vector<std::byte> buffer(map.value_buffer_size());
    const std::size_t stride = (value_size + 7) / 8 * 8;
    for (std::size_t off = 0; off < buffer.size(); off += stride) {
      const std::uint64_t packets = 5;  // the first field of both counter records
      std::memcpy(buffer.data() + off, &packets, sizeof(packets));
    }
    EXPECT_TRUE(map.update(ebpf::as_bytes_of(id), buffer));
  };
  for (const auto& [name, id] : tables.service_ids) fill(*maps.find("lb_svc_stats"), id, sizeof(ServiceCounters));
  for (const auto& [name, id] : tables.backend_ids) fill(*maps.find("lb_be_stats"), id, sizeof(BackendCounters));
  return maps.find("lb_be_stats")->value_buffer_size() / ((sizeof(BackendCounters) + 7) / 8 * 8) * 5;
}

// Ids are reused lowest-free-first: a backend or service added by a reload may get a removed one's id, and
// must start from zero counts, while ids that keep their owner keep their counts.
TEST(DataPathMaps, ReloadZeroesCountersOfReassignedIdsOnly) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ASSERT_OK_AND_ASSIGN(auto first, compile_tables(config));
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, first.maglev_entries * 2));
  ASSERT_OK(maps.apply(first));
  const std::uint64_t filled = fill_counters(maps, first);

  // web loses 10.0.1.2 and gains 10.0.1.9; web6 is replaced by dns.
  auto next = config;
  auto& web = next.services[0].backends;
  web.erase(web.begin() + 1);
  auto added = web.front();
  added.endpoint.address = *parse_ip("10.0.1.9");
  added.name = "10.0.1.9:8080";
  web.push_back(added);
  next.services[1].name = "dns";
  next.services[1].vip.port = 53;
  ASSERT_OK_AND_ASSIGN(auto second, compile_tables(next, {.generation = 1,
                                                          .previous_service_ids = first.service_ids,
                                                          .previous_backend_ids = first.backend_ids,
                                                          .backend_state = {}}));
  const std::uint32_t reused = second.backend_ids.at("web/10.0.1.9:8080");
  ASSERT_EQ(reused, first.backend_ids.at("web/10.0.1.2:8080"));  // the premise: the removed one's id
  ASSERT_EQ(second.service_ids.at("dns"), first.service_ids.at("web6"));
  ASSERT_OK(maps.apply(second, &first));

  ASSERT_OK_AND_ASSIGN(auto fresh, maps.backend_counters(reused));
  EXPECT_EQ(fresh.packets, 0u);
  ASSERT_OK_AND_ASSIGN(auto kept, maps.backend_counters(second.backend_ids.at("web/10.0.1.1:8080")));
  EXPECT_EQ(kept.packets, filled);
  ASSERT_OK_AND_ASSIGN(auto dns, maps.service_counters(second.service_ids.at("dns")));
  EXPECT_EQ(dns.packets, 0u);
  ASSERT_OK_AND_ASSIGN(auto still_web, maps.service_counters(second.service_ids.at("web")));
  EXPECT_EQ(still_web.packets, filled);
}

// A start on adopted maps with the configuration reordered and a backend added: every surviving service and
// backend gets its previous id back (conntrack entries name them by id), with its counts; the newcomer gets a
// free id and zero counts.
TEST(DataPathMaps, AdoptedMapsGiveBackThePreviousRunsIds) {
  EBPF_REQUIRE_KERNEL();
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ASSERT_OK_AND_ASSIGN(auto first, compile_tables(config));
  std::uint64_t filled = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, first.maglev_entries * 2, {.dir = dir.path(), .adopt = true}));
    ASSERT_OK(maps.apply(first));
    filled = fill_counters(maps, first);
  }
  auto next = config;
  std::swap(next.services[0], next.services[1]);  // web6 first: fresh ids would swap the services'
  auto& web = next.services[1].backends;
  auto added = web.front();
  added.endpoint.address = *parse_ip("10.0.1.9");
  added.name = "10.0.1.9:8080";
  web.insert(web.begin(), added);
  std::reverse(web.begin() + 1, web.end());
  ASSERT_OK_AND_ASSIGN(auto fresh, compile_tables(next));
  ASSERT_NE(fresh.service_ids.at("web"), first.service_ids.at("web"));  // the premise
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(next, first.maglev_entries * 2, {.dir = dir.path(), .adopt = true}));
  ASSERT_OK_AND_ASSIGN(auto recovered, maps.recover_ids(fresh));
  ASSERT_OK_AND_ASSIGN(auto second, compile_tables(next, {.generation = 1,
                                                          .previous_service_ids = recovered.service_ids,
                                                          .previous_backend_ids = recovered.backend_ids,
                                                          .backend_state = {}}));
  EXPECT_EQ(second.service_ids, first.service_ids);
  for (const auto& [name, id] : first.backend_ids) EXPECT_EQ(second.backend_ids.at(name), id) << name;
  ASSERT_OK(maps.apply(second));
  for (const auto& [name, id] : first.backend_ids) {
    ASSERT_OK_AND_ASSIGN(auto kept, maps.backend_counters(id));
    EXPECT_EQ(kept.packets, filled) << name;
  }
  ASSERT_OK_AND_ASSIGN(auto newcomer, maps.backend_counters(second.backend_ids.at("web/10.0.1.9:8080")));
  EXPECT_EQ(newcomer.packets, 0u);
  ASSERT_OK_AND_ASSIGN(auto web_counts, maps.service_counters(second.service_ids.at("web")));
  EXPECT_EQ(web_counts.packets, filled);
}

TEST(DataPathMaps, PinnedMapsAreAdoptedWhenCompatibleAndReplacedOtherwise) {
  EBPF_REQUIRE_KERNEL();
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ConntrackKey key;
  key.sport = htons(40000);
  key.proto = kProtoTcp;
  key.family = kFamilyV4;
  ConntrackValue value;
  value.backend_id = 7;
  value.packets = 42;
  {
    ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096, {.dir = dir.path(), .adopt = true}));
    for (const auto& origin : maps.origins()) EXPECT_FALSE(origin.adopted) << origin.name;
    EXPECT_EQ(dir.entries(), kMaps.size());
    ASSERT_OK(maps.find("lb_conntrack")->update(ebpf::as_bytes_of(key), ebpf::as_bytes_of(value)));
  }
  // A second "process": every map comes back from its pin, the flow with it.
  {
    ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096, {.dir = dir.path(), .adopt = true}));
    for (const auto& origin : maps.origins()) EXPECT_TRUE(origin.adopted) << origin.name << ": " << origin.reason;
    ConntrackValue read;
    ASSERT_OK(maps.find("lb_conntrack")->lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(read)));
    EXPECT_EQ(read.backend_id, 7u);
    EXPECT_EQ(read.packets, 42u);
  }
  // A different conntrack size cannot be adopted: that map is replaced (empty), the others carry over.
  auto bigger = config;
  bigger.conntrack.max_entries = 8192;
  {
    ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(bigger, 4096, {.dir = dir.path(), .adopt = true}));
    EXPECT_FALSE(maps.adopted("lb_conntrack"));
    EXPECT_TRUE(maps.adopted("lb_services"));
    for (const auto& origin : maps.origins()) {
      if (origin.name == "lb_conntrack") {
        EXPECT_EQ(origin.reason, "max_entries 4096 != 8192");
      }
    }
    EXPECT_EQ(maps.find("lb_conntrack")->max_entries(), 8192u);
    ConntrackValue read;
    auto missing = maps.find("lb_conntrack")->lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(read));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ebpf::Errc::key_not_found);
    ASSERT_OK_AND_ASSIGN(auto reopened, ebpf::Map::open_pinned(dir.path() + "/lb_conntrack"));
    EXPECT_EQ(reopened.max_entries(), 8192u);  // the pin now names the new map
  }
  // adopt = false replaces everything; unpin_all leaves no trace.
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(bigger, 4096, {.dir = dir.path(), .adopt = false}));
  for (const auto& origin : maps.origins()) {
    EXPECT_FALSE(origin.adopted) << origin.name;
    EXPECT_EQ(origin.reason, "adoption disabled") << origin.name;
  }
  ASSERT_OK(maps.unpin_all());
  EXPECT_FALSE(dir.exists());
}

TEST(DataPathMaps, PruneRemovesServicesRoutesAndBackendsOfAnOlderConfiguration) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(kYaml, "k.yaml"));
  ASSERT_OK_AND_ASSIGN(auto old_tables, compile_tables(config));
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, old_tables.maglev_entries));
  ASSERT_OK(maps.apply(old_tables));
  auto smaller = config;
  smaller.services.pop_back();                   // web6 and
  smaller.services[0].source_routes.pop_back();  // the /24 route were left behind by the "previous run"
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(smaller));
  ASSERT_OK_AND_ASSIGN(auto removed, maps.prune(tables));
  EXPECT_EQ(removed, 3u);  // web6, the route and web6's backend slot
  BackendValue be;
  const std::uint32_t web6_backend = old_tables.backend_ids.at("web6/[2001:db8:1::1]:8443");
  ASSERT_OK(maps.find("lb_backends")->lookup(ebpf::as_bytes_of(web6_backend), ebpf::as_writable_bytes_of(be)));
  EXPECT_EQ(be.flags, 0);
  const std::uint32_t kept = tables.backend_ids.at("web/10.0.1.1:8080");
  ASSERT_OK(maps.find("lb_backends")->lookup(ebpf::as_bytes_of(kept), ebpf::as_writable_bytes_of(be)));
  EXPECT_EQ(be.flags, backend_flags::kInUse);
  ServiceValue sv;
  EXPECT_FALSE(maps.find("lb_services")->lookup(ebpf::as_bytes_of(old_tables.services[1].first), ebpf::as_writable_bytes_of(sv)));
  EXPECT_OK(maps.find("lb_services")->lookup(ebpf::as_bytes_of(old_tables.services[0].first), ebpf::as_writable_bytes_of(sv)));
  ASSERT_OK_AND_ASSIGN(auto again, maps.prune(tables));
  EXPECT_EQ(again, 0u);
}

}  // namespace
}  // namespace lb
