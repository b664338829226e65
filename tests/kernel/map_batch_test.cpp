// Batch operations and iteration against the real kernel: 10k-entry round trips, the per-element fallback for
// map types without batch support, and iteration while entries are deleted (same thread and another thread).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <numeric>
#include <thread>
#include <vector>

#include "ebpf/map.hpp"
#include "ebpf/system.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr std::uint32_t kEntries = 10'000;

using U32Hash = HashMap<std::uint32_t, std::uint64_t>;

Result<U32Hash> filled_hash(std::uint32_t entries) {
  auto map = EBPF_TRY(U32Hash::create(test::unique_name("bh"), entries));
  std::vector<std::uint32_t> keys(entries);
  std::iota(keys.begin(), keys.end(), 0U);
  std::vector<std::uint64_t> values(entries);
  for (std::uint32_t i = 0; i < entries; ++i) values[i] = std::uint64_t{i} * 3 + 1;
  auto n = EBPF_TRY(map.update_batch(keys, values));
  if (n != entries) return Error(Errc::io, "fill", "update_batch stored " + std::to_string(n));
  return map;
}

TEST(MapBatch, TenThousandEntriesRoundTrip) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(kEntries));
  EXPECT_EQ(map.lookup(9'999).value(), 9'999U * 3 + 1);

  // Read everything back through the raw batch API with a small buffer (several calls, partial chunks).
  std::vector<std::uint32_t> keys(97);
  std::vector<std::uint64_t> values(97);
  std::map<std::uint32_t, std::uint64_t> seen;
  BatchCursor cursor;
  int calls = 0;
  while (!cursor.done()) {
    ASSERT_OK_AND_ASSIGN(auto n, map.lookup_batch(cursor, keys, values));
    ASSERT_LE(n, keys.size());
    for (std::uint32_t i = 0; i < n; ++i) EXPECT_TRUE(seen.emplace(keys[i], values[i]).second) << "duplicate";
    ASSERT_LT(++calls, 10'000) << "batch lookup does not terminate";
  }
  ASSERT_EQ(seen.size(), kEntries);
  for (auto [key, value] : seen) ASSERT_EQ(value, std::uint64_t{key} * 3 + 1);

  // Delete half in one batch, then confirm exactly the other half remains.
  std::vector<std::uint32_t> evens;
  for (std::uint32_t k = 0; k < kEntries; k += 2) evens.push_back(k);
  EXPECT_EQ(map.delete_batch(evens).value(), evens.size());
  std::uint32_t remaining = 0;
  for (auto [key, value] : map.entries()) {
    EXPECT_EQ(key % 2, 1U);
    EXPECT_EQ(value, std::uint64_t{key} * 3 + 1);
    ++remaining;
  }
  EXPECT_EQ(remaining, kEntries / 2);
}

TEST(MapBatch, LookupAndDeleteBatchDrainsTheMap) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(1000));
  Map& raw = map.map();
  std::vector<std::uint32_t> keys(128);
  std::vector<std::uint64_t> values(128);
  BatchCursor cursor;
  std::uint64_t drained = 0;
  while (!cursor.done()) {
    ASSERT_OK_AND_ASSIGN(auto n, raw.lookup_and_delete_batch(cursor, std::as_writable_bytes(std::span(keys)),
                                                             std::as_writable_bytes(std::span(values))));
    for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(values[i], std::uint64_t{keys[i]} * 3 + 1);
    drained += n;
  }
  EXPECT_EQ(drained, 1000U);
  EXPECT_EQ(map.next_key().error().code(), Errc::key_not_found) << "the map must be empty";
}

TEST(MapBatch, ArrayAndPerCpuArrayBatches) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto array, ArrayMap<std::uint32_t>::create(test::unique_name("ba"), 300));
  std::vector<std::uint32_t> keys(300), values(300);
  std::iota(keys.begin(), keys.end(), 0U);
  for (auto k : keys) values[k] = k * k;
  EXPECT_EQ(array.update_batch(keys, values).value(), 300U);
  std::uint32_t count = 0;
  for (auto [key, value] : array.entries(64)) {
    EXPECT_EQ(value, key * key);
    ++count;
  }
  EXPECT_EQ(count, 300U);

  ASSERT_OK_AND_ASSIGN(auto per_cpu, PerCpuArrayMap<std::uint64_t>::create(test::unique_name("bp"), 50));
  auto cpus = possible_cpus().value();
  for (std::uint32_t k = 0; k < 50; ++k) ASSERT_OK(per_cpu.update_all(k, k));
  count = 0;
  for (const auto& [key, per] : per_cpu.entries(16)) {
    ASSERT_EQ(per.size(), cpus);
    EXPECT_EQ(per.sum(), std::uint64_t{key} * cpus);
    ++count;
  }
  EXPECT_EQ(count, 50U);
}

TEST(MapBatch, LpmTrieBatchesAndIteration) {
  EBPF_REQUIRE_KERNEL();
  using Trie = LpmTrie<LpmKey4, std::uint32_t>;
  ASSERT_OK_AND_ASSIGN(auto trie, Trie::create(test::unique_name("bl"), 512));
  std::vector<LpmKey4> keys;
  std::vector<std::uint32_t> values;
  for (std::uint32_t i = 0; i < 256; ++i) {
    keys.push_back(LpmKey4{.prefixlen = 24, .addr = {10, 0, static_cast<std::uint8_t>(i), 0}});
    values.push_back(i);
  }
  EXPECT_EQ(trie.update_batch(keys, values).value(), 256U);
  std::map<std::uint32_t, std::uint32_t> seen;
  for (auto [key, value] : trie.entries(50)) {
    EXPECT_EQ(key.addr[2], value);
    EXPECT_TRUE(seen.emplace(value, key.prefixlen).second) << "duplicate " << key.to_string();
  }
  EXPECT_EQ(seen.size(), 256U);
  EXPECT_EQ(trie.delete_batch(std::span(keys).first(100)).value(), 100U);
  EXPECT_EQ(trie.lookup(keys[5]).error().code(), Errc::key_not_found);
  EXPECT_EQ(trie.lookup(keys[200]).value(), 200U);
}

TEST(MapBatch, TypesWithoutBatchSupportFallBackToSingleElements) {
  EBPF_REQUIRE_KERNEL();
  // devmap_hash has no batch operations (ENOTSUPP): update/delete/lookup batches go element by element.
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::devmap_hash, .name = test::unique_name("fb"),
                                               .key_size = 4, .value_size = 4, .max_entries = 256}));
  std::vector<std::uint32_t> keys(200), values(200, 1);  // every value is the loopback ifindex
  for (std::uint32_t i = 0; i < 200; ++i) keys[i] = i * 1000 + 3;
  ASSERT_OK_AND_ASSIGN(auto stored, map.update_batch(std::as_bytes(std::span(keys)), std::as_bytes(std::span(values))));
  EXPECT_EQ(stored, 200U);
  std::map<std::uint32_t, int> seen;
  ASSERT_OK(map.for_each_bytes(
      [&](std::span<const std::byte> key, std::span<const std::byte> value) -> Result<void> {
        std::uint32_t k = 0, v = 0;
        std::memcpy(&k, key.data(), 4);
        std::memcpy(&v, value.data(), 4);
        EXPECT_EQ(v, 1U);
        ++seen[k];
        return ok();
      },
      32));
  ASSERT_EQ(seen.size(), 200U);
  for (auto [key, count] : seen) EXPECT_EQ(count, 1) << key;
  EXPECT_EQ(map.delete_batch(std::as_bytes(std::span(keys).first(50))).value(), 50U);
  std::uint32_t gone = keys[10], kept = keys[100], out = 0;
  EXPECT_EQ(map.lookup(as_bytes_of(gone), as_writable_bytes_of(out)).error().code(), Errc::key_not_found);
  ASSERT_OK(map.lookup(as_bytes_of(kept), as_writable_bytes_of(out)));
}

TEST(MapIteration, FallbackDrainingEachVisitedKeySeesEveryKeyOnce) {
  EBPF_REQUIRE_KERNEL();
  // get_next_key from a deleted key restarts at the first key; since every visited key is deleted, the restart
  // only finds keys not yet visited.
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::devmap_hash, .name = test::unique_name("fd"),
                                               .key_size = 4, .value_size = 4, .max_entries = 128}));
  for (std::uint32_t k = 0; k < 100; ++k) {
    std::uint32_t one = 1;
    ASSERT_OK(map.update(as_bytes_of(k), as_bytes_of(one)));
  }
  std::map<std::uint32_t, int> seen;
  ASSERT_OK(map.for_each_bytes(
      [&](std::span<const std::byte> key, std::span<const std::byte>) -> Result<void> {
        std::uint32_t k = 0;
        std::memcpy(&k, key.data(), 4);
        ++seen[k];
        return map.remove(key);
      },
      8));
  EXPECT_EQ(seen.size(), 100U);
  for (auto [key, count] : seen) EXPECT_EQ(count, 1) << key;
  std::uint32_t next = 0;
  EXPECT_EQ(map.get_next_key({}, as_writable_bytes_of(next)).error().code(), Errc::key_not_found);
}

TEST(MapIteration, DeletingAheadWhileIteratingGivesNoDuplicates) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(kEntries));
  std::vector<int> hits(kEntries, 0);
  std::uint32_t next_victim = 0;
  for (auto [key, value] : map.entries(128)) {
    ASSERT_LT(key, kEntries);
    ++hits[key];
    // Delete some entries that may or may not have been visited yet.
    for (int i = 0; i < 2 && next_victim < kEntries; ++i, next_victim += 7) (void)map.remove(next_victim);
  }
  for (std::uint32_t k = 0; k < kEntries; ++k) {
    ASSERT_LE(hits[k], 1) << "key " << k << " seen twice";
    if (k % 7 != 0) {
      EXPECT_EQ(hits[k], 1) << "key " << k << " was never deleted but not seen";
    }
  }
}

TEST(MapIteration, AnotherThreadDeletesWhileWeIterate) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(kEntries));
  ASSERT_OK_AND_ASSIGN(auto writer_map, map.map().clone());
  ASSERT_OK_AND_ASSIGN(auto writer, U32Hash::from(std::move(writer_map)));
  std::atomic<bool> stop{false};
  std::thread deleter([&] {
    // Deletes even keys and re-inserts keys beyond the original range, concurrently with the reader.
    for (std::uint32_t k = 0; k < kEntries && !stop; k += 2) {
      (void)writer.remove(k);
      (void)writer.update(kEntries + k, 0);
    }
  });
  std::vector<int> hits(2 * kEntries, 0);
  for (int round = 0; round < 3; ++round) {
    std::fill(hits.begin(), hits.end(), 0);
    auto range = map.entries(64);
    for (auto [key, value] : range) {
      ASSERT_LT(key, 2 * kEntries);
      ++hits[key];
    }
    EXPECT_FALSE(range.error().has_value()) << range.error()->to_string();
    for (std::uint32_t k = 1; k < kEntries; k += 2) ASSERT_EQ(hits[k], 1) << "odd key " << k << " round " << round;
    for (std::uint32_t k = 0; k < 2 * kEntries; ++k) ASSERT_LE(hits[k], 1) << "key " << k << " seen twice";
  }
  stop = true;
  deleter.join();
}

TEST(MapIteration, TinyBatchGrowsWhenABucketHoldsMoreEntries) {
  EBPF_REQUIRE_KERNEL();
  // With room for one entry, the first bucket holding two makes the kernel answer ENOSPC; the reader grows
  // its buffer and continues from the same bucket.
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(kEntries));
  std::vector<int> hits(kEntries, 0);
  auto range = map.entries(1);
  for (auto [key, value] : range) {
    ASSERT_LT(key, kEntries);
    ++hits[key];
  }
  EXPECT_FALSE(range.error().has_value());
  for (std::uint32_t k = 0; k < kEntries; ++k) ASSERT_EQ(hits[k], 1) << k;

  // The raw batch API reports the condition itself.
  std::uint32_t key = 0;
  std::uint64_t value = 0;
  BatchCursor cursor;
  bool saw_no_space = false;
  while (!cursor.done()) {
    auto n = map.map().lookup_batch(cursor, as_writable_bytes_of(key), as_writable_bytes_of(value));
    if (!n) {
      ASSERT_EQ(n.error().code(), Errc::no_space) << n.error().to_string();
      EXPECT_NE(n.error().message().find("larger batch"), std::string::npos);
      saw_no_space = true;
      break;
    }
  }
  EXPECT_TRUE(saw_no_space) << "10k keys in a 10k-bucket table leave some bucket with two entries";
}

TEST(MapIteration, ForEachStopsOnCallbackError) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, filled_hash(100));
  int calls = 0;
  auto r = map.for_each([&](const std::uint32_t&, const std::uint64_t&) -> Result<void> {
    if (++calls == 10) return Error(Errc::timeout, "callback", "enough");
    return ok();
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::timeout);
  EXPECT_EQ(calls, 10);
  std::uint64_t sum = 0;
  ASSERT_OK(map.for_each([&](const std::uint32_t& k, const std::uint64_t& v) { sum += v - 3 * k; }));
  EXPECT_EQ(sum, 100U);
}

}  // namespace
}  // namespace ebpf
