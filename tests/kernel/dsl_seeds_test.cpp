// Seed XDP rate limiter: frames from two sources through BPF_PROG_TEST_RUN; each source gets its burst, then
// drops (the rate is too low to refill within the test), counters and the per-source buckets read back.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "ebpf/dsl/rate_limit.hpp"
#include "ebpf/dsl/seeds.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "ebpf/attach/xdp.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace {

using namespace ebpf;
namespace rl = ebpf::dsl::rate_limiter;

constexpr std::uint32_t kDrop = 1, kPass = 2;

std::uint32_t key_of(const packet::Ipv4Addr& addr) {
  std::uint32_t key = 0;
  std::memcpy(&key, addr.data(), sizeof(key));
  return key;
}

std::vector<std::uint8_t> udp_from(const packet::Ipv4Addr& src) {
  auto frame = packet::Builder()
                   .ethernet({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
                   .ipv4(src, {10, 0, 0, 2})
                   .udp(1234, 53)
                   .payload("payload")
                   .build();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(std::vector<std::uint8_t>{});
}

TEST(DslSeedRateLimiter, EachSourceGetsItsBurstThenDrops) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto buckets, (HashMap<std::uint32_t, dsl::TokenBucket>::create(test::unique_name("bkt"), 64)));
  ASSERT_OK_AND_ASSIGN(auto config, ArrayMap<rl::RateLimitConfig>::create(test::unique_name("cfg"), 1));
  ASSERT_OK_AND_ASSIGN(auto counters, PerCpuArrayMap<std::uint64_t>::create(test::unique_name("cnt"), 2));
  constexpr std::uint32_t kBurst = 5;
  ASSERT_OK(config.update(0, rl::RateLimitConfig{1, kBurst}));  // 1 token/s: no refill within the test
  ASSERT_OK_AND_ASSIGN(auto prog, rl::load({buckets.fd(), config.fd(), counters.fd()}));

  const packet::Ipv4Addr a{192, 0, 2, 1}, b{192, 0, 2, 2};
  const auto frame_a = udp_from(a), frame_b = udp_from(b);
  std::vector<std::uint32_t> verdicts_a, verdicts_b;
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame_a}));
    verdicts_a.push_back(out.retval);
  }
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame_b}));
    verdicts_b.push_back(out.retval);
  }
  EXPECT_EQ(verdicts_a, (std::vector<std::uint32_t>{kPass, kPass, kPass, kPass, kPass, kDrop, kDrop, kDrop}));
  EXPECT_EQ(verdicts_b, (std::vector<std::uint32_t>{kPass, kPass, kPass, kPass, kPass, kDrop}));

  ASSERT_OK_AND_ASSIGN(auto passed, counters.sum(rl::kPassed));
  ASSERT_OK_AND_ASSIGN(auto dropped, counters.sum(rl::kDropped));
  EXPECT_EQ(passed, 10u);
  EXPECT_EQ(dropped, 4u);
  // One bucket per source, stamped with the kernel clock, with less than one token left.
  ASSERT_OK_AND_ASSIGN(auto bucket_a, buckets.lookup(key_of(a)));
  EXPECT_GT(bucket_a.last_refill_ns, 0u);
  EXPECT_LT(bucket_a.nano_tokens, dsl::kNanoTokensPerToken);

  // A non-IPv4 frame passes without creating a bucket.
  ASSERT_OK_AND_ASSIGN(auto v6src, packet::parse_ipv6("fd00::1"));
  ASSERT_OK_AND_ASSIGN(auto v6dst, packet::parse_ipv6("fd00::2"));
  ASSERT_OK_AND_ASSIGN(auto v6, packet::Builder().ethernet({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}).ipv6(v6src, v6dst).udp(1, 2).build());
  ASSERT_OK_AND_ASSIGN(auto out6, prog.test_run({.data_in = v6}));
  EXPECT_EQ(out6.retval, kPass);
  ASSERT_OK_AND_ASSIGN(auto key, buckets.next_key());
  ASSERT_OK_AND_ASSIGN(auto key2, buckets.next_key(key));
  EXPECT_FALSE(buckets.next_key(key2).has_value());  // exactly two buckets: a and b

  // Raising the burst takes effect on the next frame (the config map is read per packet).
  ASSERT_OK(config.update(0, rl::RateLimitConfig{1, 100}));
  ASSERT_OK(buckets.update(key_of(a), dsl::TokenBucket{}));  // reset: fresh bucket starts full
  ASSERT_OK_AND_ASSIGN(auto again, prog.test_run({.data_in = frame_a}));
  EXPECT_EQ(again.retval, kPass);
  ASSERT_OK_AND_ASSIGN(auto refilled, buckets.lookup(key_of(a)));
  EXPECT_EQ(refilled.nano_tokens, 99 * dsl::kNanoTokensPerToken);
}

// Real traffic through a veth pair in private namespaces: with burst 5 and 1 token/s, 5 of 20 datagrams sent
// at once arrive; the counters account for all 20.
TEST(DslSeedRateLimiter, RealVethTrafficIsLimitedToTheBurst) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto buckets, (HashMap<std::uint32_t, dsl::TokenBucket>::create(test::unique_name("bkt"), 64)));
  ASSERT_OK_AND_ASSIGN(auto config, ArrayMap<rl::RateLimitConfig>::create(test::unique_name("cfg"), 1));
  ASSERT_OK_AND_ASSIGN(auto counters, PerCpuArrayMap<std::uint64_t>::create(test::unique_name("cnt"), 2));
  ASSERT_OK(config.update(0, rl::RateLimitConfig{1, 5}));
  ASSERT_OK_AND_ASSIGN(auto prog, rl::load({buckets.fd(), config.fd(), counters.fd()}));
  ASSERT_OK_AND_ASSIGN(auto topo, test::VethTopology::create());
  ASSERT_OK_AND_ASSIGN(auto netns_fd, topo.right.open());
  XdpOptions options;
  options.netns_fd = netns_fd.get();
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(prog, topo.right_end.ifindex, options));

  ASSERT_OK_AND_ASSIGN(auto received, test::udp_exchange(topo.left, topo.right, topo.right_end.address, 4343, 20));
  EXPECT_EQ(received, 5);
  ASSERT_OK_AND_ASSIGN(auto dropped, counters.sum(rl::kDropped));
  EXPECT_EQ(dropped, 15u);
  ASSERT_OK_AND_ASSIGN(auto sender, packet::parse_ipv4(topo.left_end.address));
  ASSERT_OK_AND_ASSIGN(auto bucket, buckets.lookup(key_of(sender)));
  EXPECT_LT(bucket.nano_tokens, dsl::kNanoTokensPerToken);
}

}  // namespace
