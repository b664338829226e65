// Token-bucket reference algorithm (checked at compile time and run time) and the block's register checks.
#include <gtest/gtest.h>

#include "ebpf/dsl/rate_limit.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

constexpr std::uint64_t kSec = 1'000'000'000ULL;

// rate 2/s, burst 3: a fresh bucket is full, empties after 3, refills one token per 0.5 s, caps at burst.
consteval bool hand_checked_schedule() {
  dsl::TokenBucket b;
  bool ok = dsl::token_bucket_take(b, 10 * kSec, 2, 3) && dsl::token_bucket_take(b, 10 * kSec, 2, 3) &&
            dsl::token_bucket_take(b, 10 * kSec, 2, 3) && !dsl::token_bucket_take(b, 10 * kSec, 2, 3);
  ok = ok && !dsl::token_bucket_take(b, 10 * kSec + kSec / 4, 2, 3);  // 0.5 token
  ok = ok && dsl::token_bucket_take(b, 10 * kSec + kSec / 2, 2, 3);   // 1.0 token
  ok = ok && dsl::token_bucket_take(b, 1000 * kSec, 2, 3) && b.nano_tokens == 2 * dsl::kNanoTokensPerToken;
  return ok;
}
static_assert(hand_checked_schedule());

TEST(DslRateLimitReference, ExtremeInputsDoNotOverflow) {
  dsl::TokenBucket b{0, 1};
  // The largest rate after the longest gap: without the elapsed cap, elapsed * rate would wrap to a small value.
  EXPECT_TRUE(dsl::token_bucket_take(b, ~0ULL, 0xffffffffu, 0xffffffffu));
  EXPECT_EQ(b.nano_tokens, 0xffffffffULL * dsl::kNanoTokensPerToken - dsl::kNanoTokensPerToken);
  EXPECT_EQ(b.last_refill_ns, ~0ULL);
}

TEST(DslRateLimitReference, RateZeroNeverRefillsButClampsToBurst) {
  dsl::TokenBucket b{5 * dsl::kNanoTokensPerToken, 1};
  EXPECT_TRUE(dsl::token_bucket_take(b, 100 * kSec, 0, 2));  // clamped to 2 tokens, one taken
  EXPECT_TRUE(dsl::token_bucket_take(b, 200 * kSec, 0, 2));
  EXPECT_FALSE(dsl::token_bucket_take(b, 300 * kSec, 0, 2));
}

TEST(DslRateLimitBlock, RejectsSharedRegisters) {
  Assembler a;
  auto r = dsl::token_bucket_take(a, {.bucket = r6, .now_ns = r7, .rate = r8, .burst = r9, .scratch = {r1, r7, r3}},
                                  "denied");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().operation(), "token_bucket_take");
  EXPECT_NE(r.error().message().find("r7 is used twice"), std::string::npos) << r.error().message();
  EXPECT_EQ(a.size(), 0u);  // nothing emitted
}

TEST(DslRateLimitBlock, RejectsFramePointerAsScratch) {
  Assembler a;
  auto r = dsl::token_bucket_take(a, {.scratch = {r1, r2, r10}}, "denied");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("only the bucket pointer may be r10"), std::string::npos);
}

TEST(DslRateLimitBlock, StackBucketIsAccepted) {
  Assembler a;
  ASSERT_TRUE(dsl::token_bucket_take(a, {.bucket = r10, .offset = -16}, "denied").has_value());
  a.label("denied").mov(r0, 0).exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value()) << code.error().to_string();
  // Every bucket access is relative to the frame pointer at -16 / -8.
  int stack_accesses = 0;
  for (const auto& i : code->insns)
    if ((i.dst == 10 || i.src == 10) && (i.off == -16 || i.off == -8)) ++stack_accesses;
  EXPECT_GE(stack_accesses, 5);
}

}  // namespace
