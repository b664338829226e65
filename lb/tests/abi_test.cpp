// The map ABI: catalogue consistency and the token-bucket reference algorithm the BPF code mirrors.
#include "lb/common/abi.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "lb/common/maps.hpp"

namespace lb {
namespace {

TEST(MapCatalogue, NamesUniqueAndSizesMatchStructs) {
  std::set<std::string_view> names;
  for (const auto& map : kMaps) {
    EXPECT_TRUE(names.insert(map.name).second) << map.name;
    EXPECT_LE(map.name.size(), 15u) << map.name << " exceeds BPF_OBJ_NAME_LEN - 1";
  }
  ASSERT_TRUE(find_map("lb_conntrack"));
  EXPECT_EQ(find_map("lb_conntrack")->key_size, sizeof(ConntrackKey));
  EXPECT_EQ(find_map("lb_conntrack")->value_size, 64u);
  EXPECT_EQ(find_map("lb_conntrack")->type, ebpf::MapType::lru_hash);
  EXPECT_EQ(find_map("lb_src_routes")->flags, ebpf::map_flags::no_prealloc);  // LPM tries require it
  EXPECT_EQ(find_map("lb_services")->value_size, sizeof(ServiceValue));
  EXPECT_FALSE(find_map("nope"));
  // The ring buffer size must be a power-of-two multiple of the page size.
  const auto ring = find_map("lb_events")->max_entries;
  EXPECT_EQ(ring & (ring - 1), 0u);
  EXPECT_EQ(ring % 4096, 0u);
}

TEST(TokenBucket, StartsFullThenLimits) {
  TokenBucket bucket;
  std::uint64_t now = 1'000'000'000;
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += token_bucket_take(bucket, now, /*rate=*/5, /*burst=*/10);
  EXPECT_EQ(allowed, 10);  // exactly the burst at one instant
  // 200 ms at 5/s refills one token.
  EXPECT_FALSE(token_bucket_take(bucket, now + 100'000'000, 5, 10));
  EXPECT_TRUE(token_bucket_take(bucket, now + 200'000'000, 5, 10));
  EXPECT_FALSE(token_bucket_take(bucket, now + 200'000'000, 5, 10));
}

TEST(TokenBucket, RefillCapsAtBurstAndNeverOverflows) {
  TokenBucket bucket;
  ASSERT_TRUE(token_bucket_take(bucket, 1, 1000, 3));
  // A year later: full again, but only `burst` tokens.
  const std::uint64_t later = 365ULL * 24 * 3600 * 1'000'000'000ULL;
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += token_bucket_take(bucket, later, 1000, 3);
  EXPECT_EQ(allowed, 3);
  // Extreme rate and burst stay within 64 bits.
  TokenBucket big;
  EXPECT_TRUE(token_bucket_take(big, 5, 0xffffffffU, 0xffffffffU));
  EXPECT_TRUE(token_bucket_take(big, later, 0xffffffffU, 0xffffffffU));
  EXPECT_LE(big.nano_tokens, 0xffffffffULL * kNanoTokensPerToken);
}

TEST(TokenBucket, SustainedRateMatches) {
  TokenBucket bucket;
  int allowed = 0;
  // Offer 1000 attempts/s for 10 s against 100/s with burst 1: expect about 1000 (+ the burst).
  for (std::uint64_t t = 1; t <= 10'000; ++t) allowed += token_bucket_take(bucket, t * 1'000'000, 100, 1);
  EXPECT_NEAR(allowed, 1000, 2);
}

}  // namespace
}  // namespace lb

namespace lb {
namespace {

TEST(ConntrackTimeouts, StateDecidesTheTimeout) {
  DataPathConfig config{.tcp_idle_ns = 300, .tcp_transitory_ns = 30, .udp_idle_ns = 60, .flags = 0, .egress_ifindex = 0};
  ConntrackKey tcp;
  tcp.proto = kProtoTcp;
  ConntrackKey udp;
  udp.proto = kProtoUdp;
  ConntrackValue v;
  v.last_seen_ns = 1000;
  v.state = static_cast<std::uint8_t>(TcpState::kEstablished);
  EXPECT_EQ(conntrack_timeout_ns(tcp, v, config), 300u);
  EXPECT_FALSE(conntrack_expired(tcp, v, config, 1300));
  EXPECT_TRUE(conntrack_expired(tcp, v, config, 1301));
  v.state = static_cast<std::uint8_t>(TcpState::kSynSent);
  EXPECT_TRUE(conntrack_expired(tcp, v, config, 1031));
  v.state = static_cast<std::uint8_t>(TcpState::kFinWait);
  EXPECT_EQ(conntrack_timeout_ns(tcp, v, config), 30u);
  EXPECT_EQ(conntrack_timeout_ns(udp, v, config), 60u);
  EXPECT_FALSE(conntrack_expired(udp, v, config, 500));  // a clock behind last_seen never expires
}

}  // namespace
}  // namespace lb
