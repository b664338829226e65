// Maps against the real kernel: typed views of the common types (hash, array, per-CPU, LRU, LPM), info,
// pinning, lookup by id, freeze and mmap. Every test reads back what the kernel stored.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "ebpf/map.hpp"
#include "ebpf/system.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

// Removes a pin when the test ends, even if it fails.
struct PinGuard {
  std::string path;
  ~PinGuard() { ::unlink(path.c_str()); }
};

TEST(MapHash, UpdateLookupDeleteRoundTrip) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint32_t, std::uint64_t>::create(test::unique_name("h"), 16)));
  ASSERT_OK(map.update(7, 700));
  ASSERT_OK(map.update(8, 800));
  EXPECT_EQ(map.lookup(7).value(), 700U);
  EXPECT_EQ(map.lookup(8).value(), 800U);

  auto missing = map.lookup(9);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::key_not_found);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);

  auto dup = map.update(7, 1, UpdateFlag::noexist);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Errc::key_exists);
  auto absent = map.update(9, 1, UpdateFlag::exist);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), Errc::key_not_found);

  ASSERT_OK(map.remove(7));
  EXPECT_EQ(map.lookup(7).error().code(), Errc::key_not_found);
  ASSERT_OK_AND_ASSIGN(auto taken, map.lookup_and_delete(8));
  EXPECT_EQ(taken, 800U);
  EXPECT_EQ(map.lookup(8).error().code(), Errc::key_not_found);
}

TEST(MapHash, FullMapReportsNoSpace) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint32_t, std::uint32_t>::create(test::unique_name("f"), 2)));
  ASSERT_OK(map.update(1, 1));
  ASSERT_OK(map.update(2, 2));
  auto full = map.update(3, 3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::no_space);
  EXPECT_EQ(full.error().sys_errno(), E2BIG);
}

TEST(MapHash, NextKeyWalksAllKeys) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint64_t, std::uint8_t>::create(test::unique_name("n"), 8)));
  for (std::uint64_t k : {10, 20, 30}) ASSERT_OK(map.update(k, 1));
  std::set<std::uint64_t> seen;
  std::optional<std::uint64_t> key;
  while (true) {
    auto next = map.next_key(key);
    if (!next) {
      EXPECT_EQ(next.error().code(), Errc::key_not_found);
      break;
    }
    seen.insert(*next);
    key = *next;
  }
  EXPECT_EQ(seen, (std::set<std::uint64_t>{10, 20, 30}));
}

TEST(MapArray, ElementsStartZeroedAndCannotBeDeleted) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, ArrayMap<std::uint64_t>::create(test::unique_name("a"), 4));
  EXPECT_EQ(map.lookup(3).value(), 0U);
  ASSERT_OK(map.update(3, 33));
  EXPECT_EQ(map.lookup(3).value(), 33U);
  auto out_of_range = map.lookup(4);
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().code(), Errc::key_not_found);
  auto del = map.remove(1);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().sys_errno(), EINVAL);
}

TEST(MapPerCpu, ArrayHoldsOneValuePerPossibleCpu) {
  EBPF_REQUIRE_KERNEL();
  auto cpus = possible_cpus().value();
  ASSERT_OK_AND_ASSIGN(auto map, PerCpuArrayMap<std::uint32_t>::create(test::unique_name("pa"), 2));
  PerCpuValues<std::uint32_t> values(cpus);
  for (std::uint32_t cpu = 0; cpu < cpus; ++cpu) values.set(cpu, 10 * (cpu + 1));
  ASSERT_OK(map.update(1, values));
  ASSERT_OK_AND_ASSIGN(auto back, map.lookup(1));
  ASSERT_EQ(back.size(), cpus);
  std::uint32_t expected_sum = 0;
  for (std::uint32_t cpu = 0; cpu < cpus; ++cpu) {
    EXPECT_EQ(back[cpu], 10 * (cpu + 1));
    expected_sum += 10 * (cpu + 1);
  }
  EXPECT_EQ(map.sum(1).value(), expected_sum);
  // The byte API insists on the full per-CPU buffer.
  std::uint32_t key = 1;
  std::vector<std::byte> small(4);
  auto r = map.map().lookup(as_bytes_of(key), small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_NE(r.error().message().find("per-CPU value buffer size " + std::to_string(8 * cpus)), std::string::npos)
      << r.error().to_string();
}

TEST(MapPerCpu, HashAndLruHashUpdateAllCpus) {
  EBPF_REQUIRE_KERNEL();
  for (bool lru : {false, true}) {
    ASSERT_OK_AND_ASSIGN(auto map,
                         (PerCpuHashMap<std::uint32_t, std::uint64_t>::create(test::unique_name("ph"), 8, 0, lru)));
    EXPECT_EQ(map.map().type(), lru ? MapType::lru_percpu_hash : MapType::percpu_hash);
    ASSERT_OK(map.update_all(5, 3));
    ASSERT_OK_AND_ASSIGN(auto values, map.lookup(5));
    EXPECT_EQ(values.size(), possible_cpus().value());
    EXPECT_EQ(values.sum(), 3U * possible_cpus().value());
    int entries = 0;
    for (const auto& [key, per_cpu] : map.entries()) {
      EXPECT_EQ(key, 5U);
      EXPECT_EQ(per_cpu.sum(), 3U * possible_cpus().value());
      ++entries;
    }
    EXPECT_EQ(entries, 1);
  }
}

TEST(MapLru, EvictsWhenFull) {
  EBPF_REQUIRE_KERNEL();
  // A small common-LRU map: the kernel keeps per-CPU free lists, so capacity is approximate; inserting far
  // more keys than max_entries must succeed and leave at most max_entries entries.
  constexpr std::uint32_t kMax = 64;
  ASSERT_OK_AND_ASSIGN(auto map, (LruHashMap<std::uint32_t, std::uint32_t>::create(test::unique_name("lru"), kMax)));
  for (std::uint32_t k = 0; k < 10 * kMax; ++k) ASSERT_OK(map.update(k, k * 2));
  std::uint32_t count = 0;
  for (auto [key, value] : map.entries()) {
    EXPECT_EQ(value, key * 2);
    ++count;
  }
  EXPECT_GT(count, 0U);
  EXPECT_LE(count, kMax);
  EXPECT_EQ(map.lookup(0).error().code(), Errc::key_not_found) << "the oldest key should have been evicted";
  EXPECT_EQ(map.lookup(10 * kMax - 1).value(), (10 * kMax - 1) * 2) << "the newest key must be present";
}

TEST(MapLpm, LongestPrefixWinsForIpv4AndIpv6) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto v4, (LpmTrie<LpmKey4, std::uint32_t>::create(test::unique_name("l4"), 16)));
  EXPECT_TRUE(v4.map().flags() & map_flags::no_prealloc);
  ASSERT_OK(v4.update(LpmKey4::parse("0.0.0.0/0").value(), 1));
  ASSERT_OK(v4.update(LpmKey4::parse("10.0.0.0/8").value(), 8));
  ASSERT_OK(v4.update(LpmKey4::parse("10.1.0.0/16").value(), 16));
  ASSERT_OK(v4.update(LpmKey4::parse("10.1.2.3/32").value(), 32));
  EXPECT_EQ(v4.lookup(LpmKey4::parse("10.1.2.3").value()).value(), 32U);
  EXPECT_EQ(v4.lookup(LpmKey4::parse("10.1.2.4").value()).value(), 16U);
  EXPECT_EQ(v4.lookup(LpmKey4::parse("10.200.0.1").value()).value(), 8U);
  EXPECT_EQ(v4.lookup(LpmKey4::parse("192.168.1.1").value()).value(), 1U);
  ASSERT_OK(v4.remove(LpmKey4::parse("0.0.0.0/0").value()));
  EXPECT_EQ(v4.lookup(LpmKey4::parse("192.168.1.1").value()).error().code(), Errc::key_not_found);

  ASSERT_OK_AND_ASSIGN(auto v6, (LpmTrie<LpmKey6, std::uint32_t>::create(test::unique_name("l6"), 16)));
  ASSERT_OK(v6.update(LpmKey6::parse("2001:db8::/32").value(), 32));
  ASSERT_OK(v6.update(LpmKey6::parse("2001:db8:1::/48").value(), 48));
  EXPECT_EQ(v6.lookup(LpmKey6::parse("2001:db8:1::5").value()).value(), 48U);
  EXPECT_EQ(v6.lookup(LpmKey6::parse("2001:db8:2::5").value()).value(), 32U);
  EXPECT_EQ(v6.lookup(LpmKey6::parse("2001:db9::1").value()).error().code(), Errc::key_not_found);
  // Iteration over an LPM trie uses the get_next_key fallback (no batch support).
  int seen = 0;
  for (auto [key, value] : v6.entries()) {
    EXPECT_EQ(key.prefixlen, value);
    ++seen;
  }
  EXPECT_EQ(seen, 2);
}

TEST(MapInfo, ReportsWhatWasCreated) {
  EBPF_REQUIRE_KERNEL();
  auto name = test::unique_name("info");
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::hash, .name = name, .key_size = 12,
                                               .value_size = 20, .max_entries = 33,
                                               .flags = map_flags::no_prealloc | map_flags::rdonly_prog}));
  ASSERT_OK_AND_ASSIGN(auto info, map.info());
  EXPECT_EQ(info.type, MapType::hash);
  EXPECT_EQ(info.name, name);
  EXPECT_EQ(info.key_size, 12U);
  EXPECT_EQ(info.value_size, 20U);
  EXPECT_EQ(info.max_entries, 33U);
  EXPECT_EQ(info.flags, map_flags::no_prealloc | map_flags::rdonly_prog);
  EXPECT_GT(info.id, 0U);
  EXPECT_EQ(map.id().value(), info.id);

  ASSERT_OK_AND_ASSIGN(auto bloom, Map::create({.type = MapType::bloom_filter, .name = test::unique_name("bx"),
                                                 .value_size = 4, .max_entries = 10, .map_extra = 3}));
  EXPECT_EQ(bloom.info().value().map_extra, 3U);
}

TEST(MapOpen, FromIdAndCloneShareTheMap) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint32_t, std::uint32_t>::create(test::unique_name("id"), 4)));
  ASSERT_OK(map.update(1, 11));
  auto id = map.map().id().value();
  ASSERT_OK_AND_ASSIGN(auto by_id, Map::from_id(id));
  EXPECT_EQ(by_id.type(), MapType::hash);
  EXPECT_EQ(by_id.name(), map.map().name());
  std::uint32_t key = 1, value = 0;
  ASSERT_OK(by_id.lookup(as_bytes_of(key), as_writable_bytes_of(value)));
  EXPECT_EQ(value, 11U);
  ASSERT_OK_AND_ASSIGN(auto copy, map.map().clone());
  EXPECT_NE(copy.fd(), map.fd());
  EXPECT_EQ(copy.id().value(), id);
}

TEST(MapPin, PinOpenPinnedUnpin) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint32_t, std::uint32_t>::create(test::unique_name("pin"), 4)));
  ASSERT_OK(map.update(2, 22));
  PinGuard guard{"/sys/fs/bpf/" + test::unique_name("pin")};
  ASSERT_OK(map.map().pin(guard.path));
  {
    ASSERT_OK_AND_ASSIGN(auto opened, Map::open_pinned(guard.path));
    EXPECT_EQ(opened.id().value(), map.map().id().value());
    ASSERT_OK_AND_ASSIGN(auto view, (HashMap<std::uint32_t, std::uint32_t>::from(std::move(opened))));
    EXPECT_EQ(view.lookup(2).value(), 22U);
  }
  auto again = map.map().pin(guard.path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().sys_errno(), EEXIST);
  ASSERT_OK(Map::unpin(guard.path));
  EXPECT_NE(::access(guard.path.c_str(), F_OK), 0);
  auto gone = Map::open_pinned(guard.path);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Errc::not_found);
  EXPECT_NE(gone.error().message().find(guard.path), std::string::npos);
  EXPECT_EQ(Map::unpin(guard.path).error().code(), Errc::not_found);
}

TEST(MapFreeze, UpdatesFromUserSpaceFailWithEperm) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, ArrayMap<std::uint32_t>::create(test::unique_name("fz"), 2));
  ASSERT_OK(map.update(0, 5));
  ASSERT_OK(map.map().freeze());
  auto r = map.update(0, 6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::permission);
  EXPECT_EQ(r.error().sys_errno(), EPERM);
  EXPECT_EQ(map.lookup(0).value(), 5U);
}

TEST(MapMmap, ArrayWritesAreVisibleThroughLookup) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, ArrayMap<std::uint64_t>::create(test::unique_name("mm"), 16, map_flags::mmapable));
  ASSERT_OK_AND_ASSIGN(auto mapping, map.map().mmap());
  EXPECT_EQ(mapping.size(), page_size());
  auto values = mapping.as<std::uint64_t>();
  values[3] = 0xfeedULL;
  EXPECT_EQ(map.lookup(3).value(), 0xfeedULL);
  ASSERT_OK(map.update(5, 55));
  EXPECT_EQ(values[5], 55U);

  ASSERT_OK_AND_ASSIGN(auto plain, ArrayMap<std::uint64_t>::create(test::unique_name("nm"), 16));
  auto refused = plain.map().mmap();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::invalid_argument);
  EXPECT_NE(refused.error().message().find("mmapable"), std::string::npos);
}

TEST(MapMmap, FrozenArrayMapsReadOnly) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, ArrayMap<std::uint32_t>::create(test::unique_name("mr"), 4, map_flags::mmapable));
  ASSERT_OK(map.update(1, 9));
  ASSERT_OK(map.map().freeze());
  auto writable = map.map().mmap(true);
  ASSERT_FALSE(writable);
  EXPECT_EQ(writable.error().code(), Errc::permission);
  ASSERT_OK_AND_ASSIGN(auto readonly, map.map().mmap(false));
  EXPECT_EQ(readonly.as<std::uint32_t>()[2], 9U);  // 4-byte values sit at an 8-byte stride
}

}  // namespace
}  // namespace ebpf
