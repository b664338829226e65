// DSL checksum blocks run in the kernel: XDP programs apply csum_replace2/4/16 to a buffer holding a checksum,
// the old and the new value, and the rest of the covered data; the result must equal a full RFC 1071
// recomputation done here in C++ over the data with the new value (including the UDP 0 / 0xffff rules).
// The helper wrappers are checked through bpf_csum_diff with arguments that need a parallel register move.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/checksum.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

ProgramLoadOptions named(const char* name) {
  ProgramLoadOptions o;
  o.name = name;
  return o;
}

// Test-local RFC 1071 checksum over network-order bytes (independent of the library's).
std::uint16_t rfc1071(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 2)
    sum += std::uint32_t(bytes[i]) << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint16_t get16(const std::vector<std::uint8_t>& b, std::size_t off) {
  return static_cast<std::uint16_t>(b[off] << 8 | b[off + 1]);
}
void put16(std::vector<std::uint8_t>& b, std::size_t off, std::uint16_t v) {
  b[off] = static_cast<std::uint8_t>(v >> 8);
  b[off + 1] = static_cast<std::uint8_t>(v);
}

// Buffer layout seen by the programs: [0,2) checksum, [2,2+w) old value, [2+w,2+2w) new value, then `rest`.
// The checksum covers `rest` followed by one value.
struct Case {
  std::vector<std::uint8_t> rest;
  std::vector<std::uint8_t> old_value;
  std::vector<std::uint8_t> new_value;
};

std::vector<std::uint8_t> covered(const Case& c, const std::vector<std::uint8_t>& value) {
  auto v = c.rest;
  v.insert(v.end(), value.begin(), value.end());
  return v;
}

std::vector<std::uint8_t> frame_of(const Case& c, std::uint16_t checksum) {
  std::vector<std::uint8_t> f(2);
  put16(f, 0, checksum);
  f.insert(f.end(), c.old_value.begin(), c.old_value.end());
  f.insert(f.end(), c.new_value.begin(), c.new_value.end());
  f.insert(f.end(), c.rest.begin(), c.rest.end());
  return f;
}

enum class Width { w2, w4, w16 };
int bytes_of(Width w) { return w == Width::w2 ? 2 : w == Width::w4 ? 4 : 16; }

// XDP program: bounds-check the buffer, apply the block to [data + 0], return XDP_PASS (DROP if short).
Result<Program> load_updater(Width w, dsl::CsumOptions opts) {
  const int n = bytes_of(w);
  Assembler a;
  a.ldx(W, r2, r1, dsl::xdp_md::data).ldx(W, r3, r1, dsl::xdp_md::data_end);
  a.mov(r4, r2).add(r4, 2 + 2 * n).jgt(r4, r3, "short");
  const dsl::CsumScratch s{r0, r5};
  if (w == Width::w2) {
    a.ldx(H, r6, r2, 2).ldx(H, r7, r2, 4);
    dsl::csum_replace2(a, r2, 0, r6, r7, s, opts);
  } else if (w == Width::w4) {
    a.ldx(W, r6, r2, 2).ldx(W, r7, r2, 6);
    dsl::csum_replace4(a, r2, 0, r6, r7, s, opts);
  } else {
    dsl::csum_replace16(a, r2, 0, {r2, 2}, {r2, 18}, s, opts);
  }
  a.mov(r0, dsl::xdp_action::pass).exit();
  a.label("short").mov(r0, dsl::xdp_action::drop).exit();
  auto code = EBPF_TRY(a.finish());
  return Program::load(ProgType::xdp, code.span(), named("dsl_csum"));
}

std::vector<std::uint8_t> run(const Program& prog, const std::vector<std::uint8_t>& frame) {
  auto out = prog.test_run({.data_in = frame});
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  if (!out) return {};
  EXPECT_EQ(out->retval, static_cast<std::uint32_t>(dsl::xdp_action::pass));
  return out->data_out;
}

std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

class DslChecksum : public ::testing::TestWithParam<Width> {
 protected:
  void SetUp() override { EBPF_REQUIRE_KERNEL(); }
};

TEST_P(DslChecksum, IncrementalUpdateEqualsFullRecompute) {
  ASSERT_OK_AND_ASSIGN(auto prog, load_updater(GetParam(), {}));
  std::mt19937 rng(1624);
  const std::size_t n = static_cast<std::size_t>(bytes_of(GetParam()));
  for (int i = 0; i < 200; ++i) {
    // XDP test_run needs at least an Ethernet header (14 bytes) of data.
    Case c{random_bytes(rng, 14 + 2 * (rng() % 20)), random_bytes(rng, n), random_bytes(rng, n)};
    if (i % 10 == 0) c.new_value.assign(n, 0xff);  // extreme words: all ones / all zeros
    if (i % 10 == 1) c.old_value.assign(n, 0);
    const auto out = run(prog, frame_of(c, rfc1071(covered(c, c.old_value))));
    ASSERT_GE(out.size(), 2u);
    EXPECT_EQ(get16(out, 0), rfc1071(covered(c, c.new_value))) << "case " << i;
    // Nothing but the checksum changes.
    EXPECT_TRUE(std::equal(out.begin() + 2, out.end(), frame_of(c, 0).begin() + 2)) << "case " << i;
  }
}

// Adjusts the last word of `rest` so that the checksum over rest + new value computes to 0.
Case case_with_zero_result(std::mt19937& rng, std::size_t n) {
  Case c{random_bytes(rng, 8), random_bytes(rng, n), random_bytes(rng, n)};
  c.rest[6] = c.rest[7] = 0;
  const std::uint16_t partial = rfc1071(covered(c, c.new_value));  // ~sum; adding it makes the sum 0xffff
  put16(c.rest, 6, partial);
  return c;
}

TEST_P(DslChecksum, ComputedZeroIsZeroPlainAndAllOnesForUdp) {
  ASSERT_OK_AND_ASSIGN(auto plain, load_updater(GetParam(), {}));
  ASSERT_OK_AND_ASSIGN(auto udp, load_updater(GetParam(), {.udp = true}));
  std::mt19937 rng(768);
  const std::size_t n = static_cast<std::size_t>(bytes_of(GetParam()));
  for (int i = 0; i < 20; ++i) {
    Case c = case_with_zero_result(rng, n);
    ASSERT_EQ(rfc1071(covered(c, c.new_value)), 0) << "test setup";
    const auto frame = frame_of(c, rfc1071(covered(c, c.old_value)));
    if (get16(frame, 0) == 0) continue;  // the old checksum must not be the UDP "none" marker
    EXPECT_EQ(get16(run(plain, frame), 0), 0x0000) << "case " << i;
    EXPECT_EQ(get16(run(udp, frame), 0), 0xffff) << "case " << i;
  }
}

TEST_P(DslChecksum, UdpZeroChecksumMeansNoneAndStaysZero) {
  ASSERT_OK_AND_ASSIGN(auto udp, load_updater(GetParam(), {.udp = true}));
  ASSERT_OK_AND_ASSIGN(auto plain, load_updater(GetParam(), {}));
  std::mt19937 rng(0);
  const std::size_t n = static_cast<std::size_t>(bytes_of(GetParam()));
  Case c{random_bytes(rng, 12), random_bytes(rng, n), random_bytes(rng, n)};
  const auto frame = frame_of(c, 0);
  EXPECT_EQ(run(udp, frame), frame);
  EXPECT_NE(get16(run(plain, frame), 0), 0);  // without the UDP rule 0 is an ordinary value
}

INSTANTIATE_TEST_SUITE_P(Widths, DslChecksum, ::testing::Values(Width::w2, Width::w4, Width::w16),
                         [](const auto& info) { return "bytes" + std::to_string(bytes_of(info.param)); });

// Folded 16-bit one's complement sum of network-order words, not complemented.
std::uint32_t ones_sum(const std::vector<std::uint8_t>& bytes) {
  return static_cast<std::uint16_t>(~rfc1071(bytes));
}

// bpf_csum_diff(from, 4, to, 8, seed) with the arguments prepared in registers that are each other's
// destinations (r2 holds what goes to r3 and vice versa, r5 what goes to r1, r1 what goes to r5): only a
// correct parallel move gives the right sum. Returned folded to 16 bits.
TEST(DslChecksumHelpers, CsumDiffArgumentsArriveThroughAParallelMove) {
  EBPF_REQUIRE_KERNEL();
  Assembler a;
  a.st(W, r10, -4, 0x44332211).st(W, r10, -16, 0x55aa00ff).st(W, r10, -12, 0x01020304);
  a.mov(r5, r10).add(r5, -4);  // from → r1
  a.mov(r2, r10).add(r2, -16);  // to → r3
  a.mov(r3, 4);                 // from_size → r2
  a.mov(r1, 0x1234);            // seed → r5
  dsl::csum_diff(a, r5, r3, r2, 8, r1);
  dsl::csum_fold(a, r0, r1);
  a.exit();
  ASSERT_OK_AND_ASSIGN(auto code, a.finish());
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::sched_cls, code.span(), named("dsl_diff")));
  std::vector<std::uint8_t> frame(64, 0);
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
  // In memory (little-endian stores): from = 11 22 33 44, to = ff 00 aa 55 04 03 02 01, seed 0x1234 added
  // as a 32-bit value of the machine's byte order.
  const std::vector<std::uint8_t> from{0x11, 0x22, 0x33, 0x44};
  const std::vector<std::uint8_t> to{0xff, 0x00, 0xaa, 0x55, 0x04, 0x03, 0x02, 0x01};
  std::uint32_t expect = ones_sum(to) + (~ones_sum(from) & 0xffff);
  // The kernel sums native-order words; convert our network-order sum to that order, add the seed, fold.
  expect = (expect & 0xffff) + (expect >> 16);
  expect = static_cast<std::uint16_t>(expect << 8 | expect >> 8);
  expect += 0x1234;
  while (expect >> 16) expect = (expect & 0xffff) + (expect >> 16);
  EXPECT_EQ(out.retval, expect);
}

TEST(DslChecksumHelpers, MoreThanFiveHelperArgumentsFailAtFinish) {
  Assembler a;
  dsl::call_with(a, helper::csum_diff, {r1, r2, r3, r4, r5, r6});
  a.exit();
  auto code = a.finish();
  ASSERT_FALSE(code.has_value());
  EXPECT_EQ(code.error().code(), Errc::invalid_argument);
  EXPECT_NE(code.error().to_string().find("insn 0"), std::string::npos) << code.error().to_string();
}

}  // namespace
