// Weighted Maglev: full tables, weight-proportional shares, minimal disruption, determinism.
#include "lb/control/maglev.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "support/kernel.hpp"

namespace lb {
namespace {

std::vector<MaglevBackend> make_backends(int n, std::uint32_t first_id = 0) {
  std::vector<MaglevBackend> backends;
  for (int i = 0; i < n; ++i)
    backends.push_back({"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080",
                        first_id + static_cast<std::uint32_t>(i), 1});
  return backends;
}

TEST(Maglev, EverySlotFilledWithAKnownBackend) {
  auto backends = make_backends(7);
  ASSERT_OK_AND_ASSIGN(auto table, build_maglev_table(backends, {.table_size = 1009}));
  ASSERT_EQ(table.size(), 1009u);
  for (auto slot : table) {
    ASSERT_NE(slot, kNoBackend);
    ASSERT_LT(slot, 7u);
  }
}

TEST(Maglev, EqualWeightsShareEvenly) {
  auto backends = make_backends(10);
  ASSERT_OK_AND_ASSIGN(auto table, build_maglev_table(backends));
  for (const auto& share : maglev_shares(table, backends)) {
    EXPECT_NEAR(share.deviation, 0.0, 0.01) << "backend " << share.id << " has " << share.slots;
  }
}

TEST(Maglev, SharesFollowWeights) {
  auto backends = make_backends(5);
  const std::uint32_t weights[] = {1, 2, 3, 4, 10};
  for (int i = 0; i < 5; ++i) backends[i].weight = weights[i];
  ASSERT_OK_AND_ASSIGN(auto table, build_maglev_table(backends));
  auto shares = maglev_shares(table, backends);
  for (const auto& share : shares) {
    // Expected slots: 65537 * w / 20; allow 2% relative error.
    EXPECT_NEAR(share.deviation, 0.0, 0.02)
        << "backend " << share.id << " weight " << share.weight << " got " << share.slots << " of "
        << share.expected_slots;
  }
  EXPECT_GT(shares[4].slots, 9 * shares[0].slots);
}

TEST(Maglev, ZeroWeightBackendTakesNoSlots) {
  auto backends = make_backends(4);
  backends[2].weight = 0;
  ASSERT_OK_AND_ASSIGN(auto table, build_maglev_table(backends, {.table_size = 4099}));
  EXPECT_EQ(std::count(table.begin(), table.end(), 2u), 0);
  EXPECT_EQ(std::count(table.begin(), table.end(), kNoBackend), 0);
}

TEST(Maglev, RemovingOneOfHundredMovesUnderOnePercentOfOthers) {
  auto backends = make_backends(100);
  ASSERT_OK_AND_ASSIGN(auto before, build_maglev_table(backends));
  auto removed = backends;
  removed.erase(removed.begin() + 37);
  ASSERT_OK_AND_ASSIGN(auto after, build_maglev_table(removed));
  std::vector<std::uint32_t> survivors;
  for (const auto& b : removed) survivors.push_back(b.id);
  const double moved = maglev_moved_fraction(before, after, survivors);
  std::printf("moved fraction of surviving backends' slots: %.4f%%\n", moved * 100);
  EXPECT_LT(moved, 0.01);
  // The removed backend's slots all went to survivors.
  EXPECT_EQ(std::count(after.begin(), after.end(), 37u), 0);
  // Sanity: the measure is not trivially zero — a different backend set does move slots.
  auto other = make_backends(100, 1000);
  ASSERT_OK_AND_ASSIGN(auto unrelated, build_maglev_table(other));
  EXPECT_GT(maglev_moved_fraction(before, unrelated, survivors), 0.9);
}

TEST(Maglev, AddingOneBackendMovesLittle) {
  auto backends = make_backends(100);
  ASSERT_OK_AND_ASSIGN(auto before, build_maglev_table(backends));
  auto grown = backends;
  grown.push_back({"10.9.9.9:8080", 500, 1});
  ASSERT_OK_AND_ASSIGN(auto after, build_maglev_table(grown));
  std::vector<std::uint32_t> ids;
  for (const auto& b : backends) ids.push_back(b.id);
  const double moved = maglev_moved_fraction(before, after, ids);
  const auto taken = std::count(after.begin(), after.end(), 500u);
  // The newcomer takes about 1/101 of the slots; little else changes.
  EXPECT_NEAR(static_cast<double>(taken) / 65537.0, 1.0 / 101.0, 0.002);
  EXPECT_LT(moved, 0.01 + 1.0 / 101.0 + 0.002);
}

TEST(Maglev, SameInputSameTableRegardlessOfOrder) {
  auto backends = make_backends(50);
  backends[3].weight = 7;
  ASSERT_OK_AND_ASSIGN(auto first, build_maglev_table(backends));
  ASSERT_OK_AND_ASSIGN(auto second, build_maglev_table(backends));
  EXPECT_EQ(first, second);
  auto shuffled = backends;
  std::mt19937 rng(42);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  ASSERT_OK_AND_ASSIGN(auto third, build_maglev_table(shuffled));
  EXPECT_EQ(first, third);
}

TEST(Maglev, HashIsAFixedFunctionOfTheBytes) {
  // Pinned values: a change here means tables built by different versions (nodes) would disagree.
  EXPECT_EQ(stable_hash("10.0.0.1:80", 1), stable_hash("10.0.0.1:80", 1));
  EXPECT_NE(stable_hash("10.0.0.1:80", 1), stable_hash("10.0.0.1:80", 2));
  EXPECT_NE(stable_hash("10.0.0.1:80", 1), stable_hash("10.0.0.2:80", 1));
  // A table's first slots for a fixed input, recorded once: catches any change to the algorithm.
  std::vector<MaglevBackend> backends{{"a", 1, 1}, {"b", 2, 1}, {"c", 3, 2}};
  ASSERT_OK_AND_ASSIGN(auto table, build_maglev_table(backends, {.table_size = 13}));
  ASSERT_OK_AND_ASSIGN(auto again, build_maglev_table(backends, {.table_size = 13}));
  EXPECT_EQ(table, again);
  std::string printed;
  for (auto slot : table) printed += std::to_string(slot);
  EXPECT_EQ(printed, "3333311231232");  // c (weight 2) holds 7 of 13 slots
}

TEST(Maglev, RejectsBadInput) {
  auto backends = make_backends(3);
  auto not_prime = build_maglev_table(backends, {.table_size = 65536});
  ASSERT_FALSE(not_prime);
  EXPECT_EQ(not_prime.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_NE(not_prime.error().message().find("not prime (next prime: 65537)"), std::string::npos)
      << not_prime.error().to_string();

  auto too_small = build_maglev_table(make_backends(10), {.table_size = 7});
  ASSERT_FALSE(too_small);
  EXPECT_NE(too_small.error().message().find("do not fit"), std::string::npos);

  auto dup = backends;
  dup[1].name = dup[0].name;
  auto dup_result = build_maglev_table(dup);
  ASSERT_FALSE(dup_result);
  EXPECT_NE(dup_result.error().message().find("duplicate backend name"), std::string::npos);

  auto dup_id = backends;
  dup_id[2].id = dup_id[0].id;
  ASSERT_FALSE(build_maglev_table(dup_id));

  for (auto& b : backends) b.weight = 0;
  auto empty = build_maglev_table(backends);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("no backend with a weight"), std::string::npos);
  EXPECT_FALSE(build_maglev_table({}));
}

TEST(Maglev, Primes) {
  EXPECT_TRUE(is_prime(65537));
  EXPECT_FALSE(is_prime(65535));
  EXPECT_EQ(next_prime(65536), 65537u);
  EXPECT_EQ(next_prime(1000), 1009u);
  EXPECT_TRUE(is_prime(kMaxMaglevTableSize));
}

}  // namespace
}  // namespace lb
