// Token-bucket block: the BPF code runs through BPF_PROG_TEST_RUN on a bucket record carried in the test
// frame (time, rate and burst injected there too, so every case is deterministic) and must leave exactly the
// bucket and verdict the C++ reference computes — over long random sequences of (now, rate, burst) including
// fresh buckets, clocks going backwards, rate 0, burst 0, u32 extremes and buckets above their cap.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ebpf/dsl/packet.hpp"
#include "ebpf/dsl/rate_limit.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// The test frame: the bucket under test, then its inputs.
struct Case {
  dsl::TokenBucket bucket;
  std::uint64_t now_ns = 0;
  std::uint32_t rate = 0;
  std::uint32_t burst = 0;
};
static_assert(sizeof(Case) == 32);

constexpr std::uint32_t kAllowed = 2, kDenied = 1, kShort = 0;

Result<Program> load_probe() {
  Assembler a;
  const dsl::PacketRegs packet;  // r2 data, r3 data_end, r4 cursor, r5 scratch
  dsl::xdp_load_data(a, r1, packet);
  dsl::check_bounds(a, packet, sizeof(Case), "short");
  a.mov(r6, r2);
  dsl::load_field(a, r7, r6, EBPF_FIELD(Case, now_ns));
  dsl::load_field(a, r8, r6, EBPF_FIELD(Case, rate));
  dsl::load_field(a, r9, r6, EBPF_FIELD(Case, burst));
  EBPF_TRY(dsl::token_bucket_take(a, {.bucket = r6, .now_ns = r7, .rate = r8, .burst = r9, .scratch = {r1, r2, r3}},
                                  "denied"));
  a.mov(r0, kAllowed).exit();
  a.label("denied").mov(r0, kDenied).exit();
  a.label("short").mov(r0, kShort).exit();
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions opts;
  opts.name = "dsl_tb";
  return Program::load(ProgType::xdp, code.span(), opts);
}

struct Outcome {
  std::uint32_t verdict = 0;
  dsl::TokenBucket bucket;
};

Result<Outcome> run(const Program& prog, const Case& c) {
  std::array<std::uint8_t, sizeof(Case)> frame{};
  std::memcpy(frame.data(), &c, sizeof(c));
  auto out = EBPF_TRY(prog.test_run({.data_in = frame}));
  if (out.data_out.size() < sizeof(Case)) return Error::invalid("test", "short data_out");
  Outcome o{out.retval, {}};
  std::memcpy(&o.bucket, out.data_out.data(), sizeof(o.bucket));
  return o;
}

std::uint32_t pick(std::mt19937_64& rng, std::initializer_list<std::uint32_t> specials) {
  if (rng() % 3 == 0) return std::data(specials)[rng() % specials.size()];
  return static_cast<std::uint32_t>(rng() % 2000);
}

// The next clock reading: mostly forwards by a little, sometimes a lot, sometimes backwards or unchanged.
std::uint64_t advance(std::mt19937_64& rng, std::uint64_t now) {
  switch (rng() % 8) {
    case 0: return now;
    case 1: return now > 1000 ? now - rng() % 1000 : now;
    case 2: return now + rng() % 10'000'000'000ULL;
    case 3: return ~0ULL - rng() % 4;  // the far end of the clock
    default: return now + rng() % 5'000'000;
  }
}

TEST(DslRateLimit, BpfBlockMatchesReferenceOverRandomSequences) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, load_probe());
  std::mt19937_64 rng(20261123);
  int allowed = 0, denied = 0, cases = 0;
  for (int seq = 0; seq < 60; ++seq) {
    Case c;
    c.rate = pick(rng, {0, 1, 3, 1'000'000, 0xffffffffu});
    c.burst = pick(rng, {0, 1, 2, 100, 0xffffffffu});
    c.now_ns = seq % 5 == 0 ? 0 : rng() % 1'000'000'000'000ULL;
    if (seq % 4 == 1) c.bucket = {rng(), rng() % 2'000'000'000'000ULL + 1};  // arbitrary, possibly over cap
    for (int step = 0; step < 40; ++step, ++cases) {
      if (step % 10 == 9) c.rate = pick(rng, {0, 1, 0xffffffffu});  // configuration changes mid-sequence
      Case expected = c;
      const bool allow = dsl::token_bucket_take(expected.bucket, c.now_ns, c.rate, c.burst);
      ASSERT_OK_AND_ASSIGN(auto got, run(prog, c));
      ASSERT_EQ(got.verdict, allow ? kAllowed : kDenied) << "seq " << seq << " step " << step;
      ASSERT_EQ(got.bucket.nano_tokens, expected.bucket.nano_tokens) << "seq " << seq << " step " << step;
      ASSERT_EQ(got.bucket.last_refill_ns, expected.bucket.last_refill_ns) << "seq " << seq << " step " << step;
      (allow ? allowed : denied) += 1;
      c.bucket = got.bucket;
      c.now_ns = advance(rng, c.now_ns);
    }
  }
  // The sequences must exercise both outcomes substantially, or the comparison proves little.
  EXPECT_GT(allowed, cases / 10);
  EXPECT_GT(denied, cases / 10);
}

// A concrete schedule whose numbers can be checked by hand: rate 2/s, burst 3.
TEST(DslRateLimit, BurstThenSteadyRate) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, load_probe());
  Case c{{}, 5'000'000'000ULL, 2, 3};
  std::vector<std::uint32_t> verdicts;
  auto take = [&](std::uint64_t now) {
    c.now_ns = now;
    auto got = run(prog, c);
    ASSERT_TRUE(got.has_value()) << got.error().to_string();
    verdicts.push_back(got->verdict);
    c.bucket = got->bucket;
  };
  for (int i = 0; i < 4; ++i) take(5'000'000'000ULL);  // full bucket: 3 pass, the 4th is denied
  take(5'400'000'000ULL);                             // 0.4 s * 2/s = 0.8 token: denied
  take(5'500'000'000ULL);                             // 1.0 token: passes
  take(100'000'000'000ULL);                           // long idle: refill capped at burst
  EXPECT_EQ(c.bucket.nano_tokens, 2 * dsl::kNanoTokensPerToken);
  EXPECT_EQ(verdicts, (std::vector<std::uint32_t>{kAllowed, kAllowed, kAllowed, kDenied, kDenied, kAllowed, kAllowed}));
}

TEST(DslRateLimit, ShortFrameNeverTouchesTheBucket) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, load_probe());
  std::vector<std::uint8_t> frame(sizeof(Case) - 1, 0);
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
  EXPECT_EQ(out.retval, kShort);
}

}  // namespace
