// DSL clock and random blocks, run with BPF_PROG_TEST_RUN: each ktime variant lies between user-space reads
// of the same clock; random_below never leaves [0, n) (immediate and register bounds, up to 2^32 - 1) and is
// roughly uniform; weighted_choice lands within tolerance of its weights over many runs and never picks a
// zero weight. Histograms are counted in a map by the program itself (one test_run with repeat).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <vector>

#include "ebpf/dsl/clock.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/dsl/random.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

std::uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

Result<Program> load(Assembler& a, std::string_view map = {}, int fd = -1) {
  auto code = EBPF_TRY(a.finish());
  if (!map.empty()) EBPF_TRY(code.resolve(map, fd));
  ProgramLoadOptions opts;
  opts.name = "dsl_rand";
  return Program::load(ProgType::xdp, code.span(), opts);
}

TEST(DslClock, EveryClockMatchesUserSpace) {
  EBPF_REQUIRE_KERNEL();
  const std::array<dsl::Clock, 4> clocks = {dsl::Clock::monotonic, dsl::Clock::boot, dsl::Clock::coarse,
                                            dsl::Clock::tai};
  const std::array<clockid_t, 4> ids = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_COARSE, CLOCK_TAI};
  // The program writes the four readings into the frame (u64 each), read back from data_out.
  Assembler a;
  const dsl::PacketRegs p;
  dsl::xdp_load_data(a, r1, p);
  dsl::check_bounds(a, p, 32, "short");
  a.mov(r6, p.data);
  for (std::size_t i = 0; i < clocks.size(); ++i) {
    dsl::now_ns(a, clocks[i]);
    a.stx(DW, r6, static_cast<std::int16_t>(8 * i), r0);
  }
  a.mov(r0, 2).exit();
  a.label("short").mov(r0, 0).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a));
  std::array<std::uint64_t, 4> before{}, after{};
  for (std::size_t i = 0; i < ids.size(); ++i) before[i] = clock_ns(ids[i]);
  std::array<std::uint8_t, 32> frame{};
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
  for (std::size_t i = 0; i < ids.size(); ++i) after[i] = clock_ns(ids[i]);
  ASSERT_EQ(out.retval, 2u);
  ASSERT_GE(out.data_out.size(), 32u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::uint64_t got = 0;
    std::memcpy(&got, out.data_out.data() + 8 * i, 8);
    EXPECT_GE(got, before[i]) << "clock " << i;
    EXPECT_LE(got, after[i]) << "clock " << i;
  }
  EXPECT_EQ(dsl::clock_helper(dsl::Clock::tai), helper::ktime_get_tai_ns);
}

// hist[min(choice, n)] += 1, where choice comes from `pick` (r0); n from r7. Returns choice.
void count_choice(Assembler& a) {
  a.jlt(r0, r7, "in_range").mov(r0, r7);
  a.label("in_range").mov(r8, r0).stx(W, r10, -4, r0);
  dsl::map_counter_add(a, "hist", dsl::Address{r10, -4}, 0, DW, 1, dsl::Sharing::shared);
  a.mov(r0, r8).exit();
}

Result<std::vector<std::uint64_t>> histogram(const ArrayMap<std::uint64_t>& hist, std::uint32_t n) {
  std::vector<std::uint64_t> counts;
  for (std::uint32_t i = 0; i < n; ++i) counts.push_back(EBPF_TRY(hist.lookup(i)));
  return counts;
}

TEST(DslRandom, BelowStaysInRangeAndIsUniform) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::int32_t kN = 6;
  ASSERT_OK_AND_ASSIGN(auto hist, ArrayMap<std::uint64_t>::create(test::unique_name("h"), kN + 1));
  Assembler a;
  a.mov(r7, kN);
  dsl::random_below(a, kN);
  count_choice(a);
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, "hist", hist.fd()));
  constexpr std::uint32_t kRuns = 60000;
  std::array<std::uint8_t, 32> frame{};
  ASSERT_OK(prog.test_run({.data_in = frame, .repeat = kRuns}));
  ASSERT_OK_AND_ASSIGN(auto counts, histogram(hist, kN + 1));
  EXPECT_EQ(counts[kN], 0u) << "results at or above n";
  for (std::int32_t i = 0; i < kN; ++i) {
    // Expected 10000 each; sd ~91: 600 is over six standard deviations.
    EXPECT_NEAR(static_cast<double>(counts[i]), kRuns / double(kN), 600.0) << "value " << i;
  }
}

TEST(DslRandom, BelowRegisterBoundNeverReachesIt) {
  EBPF_REQUIRE_KERNEL();
  // n from the frame into r6 (a register that survives the helper call); returns r0 < n ? 1 : 0 and the
  // value in the frame for the record.
  Assembler a;
  const dsl::PacketRegs p;
  dsl::xdp_load_data(a, r1, p);
  dsl::check_bounds(a, p, 16, "short");
  a.mov(r9, p.data).ldx(W, r6, r9, 0);
  dsl::random_below(a, r6);
  a.stx(DW, r9, 8, r0);
  a.jge(r0, r6, "out_of_range").jeq(r6, 0, "out_of_range");
  a.mov(r0, 1).exit();
  a.label("out_of_range").mov(r0, 0).exit();
  a.label("short").mov(r0, 2).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a));
  for (std::uint32_t n : {1u, 2u, 3u, 1000u, 0x7fffffffu, 0x80000001u, 0xffffffffu}) {
    std::uint64_t largest = 0;
    for (int i = 0; i < 300; ++i) {
      std::array<std::uint8_t, 16> frame{};
      std::memcpy(frame.data(), &n, 4);
      ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
      ASSERT_EQ(out.retval, 1u) << "n " << n;
      std::uint64_t v = 0;
      std::memcpy(&v, out.data_out.data() + 8, 8);
      largest = std::max(largest, v);
    }
    // 300 draws from [0, n): the largest is in the top half unless the block wrongly shrinks the range.
    if (n > 1) {
      EXPECT_GE(largest, n / 2) << "n " << n;
    }
  }
}

TEST(DslRandom, WeightedChoiceFollowsTheWeights) {
  EBPF_REQUIRE_KERNEL();
  const std::vector<std::uint32_t> weights = {1, 0, 3, 6};
  const auto n = static_cast<std::int32_t>(weights.size());
  ASSERT_OK_AND_ASSIGN(auto hist, ArrayMap<std::uint64_t>::create(test::unique_name("w"), weights.size() + 1));
  Assembler a;
  a.mov(r7, n);
  ASSERT_OK(dsl::weighted_choice(a, weights));
  count_choice(a);
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, "hist", hist.fd()));
  constexpr std::uint32_t kRuns = 50000;
  std::array<std::uint8_t, 32> frame{};
  ASSERT_OK(prog.test_run({.data_in = frame, .repeat = kRuns}));
  ASSERT_OK_AND_ASSIGN(auto counts, histogram(hist, weights.size() + 1));
  EXPECT_EQ(counts[1], 0u) << "a zero weight was chosen";
  EXPECT_EQ(counts[4], 0u) << "an index past the table";
  const double total = 10.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    // p = w/10: sd <= sqrt(0.25 / 50000) ~ 0.0022; a tolerance of 0.015 is over six.
    EXPECT_NEAR(counts[i] / double(kRuns), weights[i] / total, 0.015) << "index " << i;
  }
}

TEST(DslRandom, WeightedChoiceRejectsBadTables) {
  Assembler a;
  EXPECT_FALSE(dsl::weighted_choice(a, {}));
  const std::vector<std::uint32_t> zeros = {0, 0};
  EXPECT_FALSE(dsl::weighted_choice(a, zeros));
  const std::vector<std::uint32_t> huge = {0x40000000u, 0x40000000u};
  auto r = dsl::weighted_choice(a, huge);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("2^31"), std::string::npos) << r.error().to_string();
}

}  // namespace
