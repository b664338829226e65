// ISA semantics on the real kernel: programs built with the assembler run through BPF_PROG_TEST_RUN (XDP and
// SOCKET_FILTER) and the returned value is compared with what RFC 9669 specifies, computed here in C++.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// A 64-byte Ethernet/IPv4 frame; XDP test runs need at least 14 bytes.
std::array<std::uint8_t, 64> frame() {
  std::array<std::uint8_t, 64> f{};
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<std::uint8_t>(0x80 + i);  // distinct bytes
  f[12] = 0x08;  // ethertype IPv4
  f[13] = 0x00;
  f[14] = 0x45;
  return f;
}

Result<std::uint32_t> run(const Bytecode& code, ProgType type = ProgType::xdp, std::uint32_t repeat = 1) {
  ProgramLoadOptions load;
  load.name = "isa_sem";
  auto prog = EBPF_TRY(Program::load(type, code.span(), load));
  const auto data = frame();
  TestRunOptions opts;
  opts.data_in = data;
  opts.data_out_size = 0;
  opts.repeat = repeat;
  auto result = EBPF_TRY(prog.test_run(opts));
  return result.retval;
}

// Runs `body`, which leaves a 64-bit result in r6, twice (low and high half in r0) and joins the halves.
Result<std::uint64_t> eval64(const std::function<void(Assembler&)>& body) {
  std::uint64_t halves[2];
  for (int high = 0; high < 2; ++high) {
    Assembler a;
    body(a);
    a.mov(r0, r6);
    if (high) a.rsh(r0, 32);
    a.exit();
    auto code = EBPF_TRY(std::move(a).finish());
    halves[high] = EBPF_TRY(run(code));
  }
  return halves[0] | (halves[1] << 32);
}

#define EXPECT_EVAL(expected, ...)                                           \
  do {                                                                       \
    auto r_ = eval64([&](Assembler& a) { __VA_ARGS__; });                    \
    ASSERT_TRUE(r_.has_value()) << r_.error().to_string() << "\n"            \
                                << r_.error().summary(8);                    \
    EXPECT_EQ(*r_, static_cast<std::uint64_t>(expected)) << #__VA_ARGS__;    \
  } while (0)

TEST(IsaSemantics, ShiftsMaskTheCountByTheWidth) {
  EBPF_REQUIRE_KERNEL();
  EXPECT_EVAL(1ull << (65 & 63), a.mov(r6, 1).mov(r2, 65).lsh(r6, r2));
  EXPECT_EVAL(1u << (33 & 31), a.mov(r6, 1).mov(r2, 33).lsh(w6, w2));
  EXPECT_EVAL(std::int64_t(-16) >> (66 & 63), a.mov(r6, -16).mov(r2, 66).arsh(r6, r2));
  EXPECT_EVAL(0xffffffffull >> (40 & 31), a.mov(w6, -1).mov(r2, 40).rsh(w6, w2));
}

TEST(IsaSemantics, DivisionByZeroGivesZeroAndModuloKeepsTheDividend) {
  EBPF_REQUIRE_KERNEL();
  EXPECT_EVAL(0, a.mov(r6, 7).mov(r2, 0).div(r6, r2));
  EXPECT_EVAL(7, a.mov(r6, 7).mov(r2, 0).mod(r6, r2));
  EXPECT_EVAL(0, a.mov(r6, -7).mov(r2, 0).sdiv(r6, r2));
  EXPECT_EVAL(std::uint64_t(-7), a.mov(r6, -7).mov(r2, 0).smod(r6, r2));
  EXPECT_EVAL(0xfffffff9ull, a.mov(r6, -7).mov(r2, 0).mod(w6, w2));  // 32-bit: dividend, zero-extended
  EXPECT_EVAL(-7 / 2, a.mov(r6, -7).sdiv(r6, 2));
  EXPECT_EVAL(-7 % 2, a.mov(r6, -7).smod(r6, 2));
  EXPECT_EVAL(INT64_MIN, a.ld_imm64(r6, std::uint64_t(INT64_MIN)).mov(r2, -1).sdiv(r6, r2));
  EXPECT_EVAL(std::uint32_t(-7 / 2), a.mov(w6, -7).sdiv(w6, 2));
}

TEST(IsaSemantics, Alu32ZeroExtends) {
  EBPF_REQUIRE_KERNEL();
  EXPECT_EVAL(0xffffffffull, a.mov(r6, -1).add(w6, 0));
  EXPECT_EVAL(0x80000000ull, a.ld_imm64(r6, 0xdead00007fffffffull).add(w6, 1));
  EXPECT_EVAL(0x12345678ull, a.ld_imm64(r2, 0xffffffff12345678ull).mov(w6, w2));
  EXPECT_EVAL(std::uint64_t(-5), a.mov(r6, -5));  // 64-bit mov of an immediate sign-extends
}

TEST(IsaSemantics, SignExtension) {
  EBPF_REQUIRE_KERNEL();
  EXPECT_EVAL(std::int64_t(std::int8_t(0x80)), a.mov(r2, 0x80).movsx(r6, r2, 8));
  EXPECT_EVAL(std::uint32_t(std::int32_t(std::int16_t(0x8000))), a.mov(r2, 0x8000).movsx(w6, w2, 16));
  EXPECT_EVAL(std::int64_t(std::int32_t(0x80000000u)), a.ld_imm64(r2, 0x80000000u).movsx(r6, r2, 32));
  EXPECT_EVAL(std::int64_t(std::int8_t(0xfe)), a.st(B, r10, -1, 0xfe).ldsx(B, r6, r10, -1));
  EXPECT_EVAL(std::int64_t(std::int16_t(0x8001)), a.st(H, r10, -2, 0x8001).ldsx(H, r6, r10, -2));
  EXPECT_EVAL(std::int64_t(std::int32_t(0xfffffff0u)), a.st(W, r10, -4, -16).ldsx(W, r6, r10, -4));
  EXPECT_EVAL(0xfe, a.st(B, r10, -1, 0xfe).ldx(B, r6, r10, -1));  // plain loads zero-extend
}

TEST(IsaSemantics, ByteSwaps) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::uint64_t v = 0x0102030405060708ull;
  EXPECT_EVAL(__builtin_bswap16(std::uint16_t(v)), a.ld_imm64(r6, v).be(r6, 16));
  EXPECT_EVAL(__builtin_bswap32(std::uint32_t(v)), a.ld_imm64(r6, v).be(r6, 32));
  EXPECT_EVAL(__builtin_bswap64(v), a.ld_imm64(r6, v).be(r6, 64));
  EXPECT_EVAL(std::uint16_t(v), a.ld_imm64(r6, v).le(r6, 16));  // little-endian host: truncation only
  EXPECT_EVAL(std::uint32_t(v), a.ld_imm64(r6, v).le(r6, 32));
  EXPECT_EVAL(v, a.ld_imm64(r6, v).le(r6, 64));
  EXPECT_EVAL(__builtin_bswap16(std::uint16_t(v)), a.ld_imm64(r6, v).bswap(r6, 16));
  EXPECT_EVAL(__builtin_bswap32(std::uint32_t(v)), a.ld_imm64(r6, v).bswap(r6, 32));
  EXPECT_EVAL(__builtin_bswap64(v), a.ld_imm64(r6, v).bswap(r6, 64));
}

// Each comparison sets one bit of r6 when its jump is taken; the expected mask is computed with C++ semantics.
TEST(IsaSemantics, SignedAndUnsignedJumps32And64) {
  EBPF_REQUIRE_KERNEL();
  const std::int64_t m1 = -1;
  const std::uint64_t big = 0x100000000ull;
  using Emit = std::function<void(Assembler&, const std::string&)>;
  const std::vector<std::pair<bool, Emit>> probes = {
      {std::uint64_t(m1) > 5, [](Assembler& a, const std::string& l) { a.jgt(r1, 5, l); }},
      {m1 > 5, [](Assembler& a, const std::string& l) { a.jsgt(r1, 5, l); }},
      {m1 < 5, [](Assembler& a, const std::string& l) { a.jslt(r1, 5, l); }},
      {std::uint64_t(m1) <= 5, [](Assembler& a, const std::string& l) { a.jle(r1, 5, l); }},
      {std::uint32_t(big) == 0, [](Assembler& a, const std::string& l) { a.jeq(w2, 0, l); }},
      {big == 0, [](Assembler& a, const std::string& l) { a.jeq(r2, 0, l); }},
      {std::uint32_t(big) < std::uint32_t(m1), [](Assembler& a, const std::string& l) { a.jlt(w2, w1, l); }},
      {std::int32_t(m1) >= 0, [](Assembler& a, const std::string& l) { a.jsge(w1, 0, l); }},
      {(big & big) != 0, [](Assembler& a, const std::string& l) { a.jset(r2, r2, l); }},
      {(std::uint32_t(big) & 1u) != 0, [](Assembler& a, const std::string& l) { a.jset(w2, 1, l); }},
      {std::int64_t(big) >= 0, [](Assembler& a, const std::string& l) { a.jsge(r2, 0, l); }},
      {std::int32_t(m1) < std::int32_t(big), [](Assembler& a, const std::string& l) { a.jslt(w1, w2, l); }},
      {std::uint64_t(m1) != big, [](Assembler& a, const std::string& l) { a.jne(r1, r2, l); }},
      {std::int64_t(m1) <= -1, [](Assembler& a, const std::string& l) { a.jsle(r1, -1, l); }},
      {std::uint32_t(m1) >= 0xffffffffu, [](Assembler& a, const std::string& l) { a.jge(w1, -1, l); }},
  };
  std::uint64_t expected = 0;
  for (std::size_t bit = 0; bit < probes.size(); ++bit)
    if (probes[bit].first) expected |= 1ull << bit;
  EXPECT_EVAL(expected, {
    a.mov(r6, 0).mov(r1, -1).ld_imm64(r2, big);
    for (std::size_t bit = 0; bit < probes.size(); ++bit) {
      const std::string set = "set" + std::to_string(bit), next = "next" + std::to_string(bit);
      probes[bit].second(a, set);
      a.ja(next).label(set).or_(r6, 1 << bit).label(next);
    }
  });
}

TEST(IsaSemantics, AtomicsOnTheStack) {
  EBPF_REQUIRE_KERNEL();
  // add (10 → 15), then fetch_add (memory 20, r1 gets the old 15): r6 = 20 + 15
  EXPECT_EVAL((10 + 5 + 5) + (10 + 5), a.st(DW, r10, -8, 10).mov(r1, 5).atomic_add(DW, r10, -8, r1)
                                   .atomic_fetch_add(DW, r10, -8, r1).ldx(DW, r6, r10, -8).add(r6, r1));
  EXPECT_EVAL((0xf0 | 0x0f) ^ 0xff, a.st(DW, r10, -8, 0xf0).mov(r1, 0x0f).atomic_or(DW, r10, -8, r1)
                                        .mov(r1, 0xff).atomic_xor(DW, r10, -8, r1).ldx(DW, r6, r10, -8));
  EXPECT_EVAL((0xf0ull << 8) | (0xf0 & 0x3c), a.st(W, r10, -4, 0xf0).mov(w1, 0x3c).atomic_fetch_and(W, r10, -4, r1)
                                                   .ldx(W, r6, r10, -4).lsh(r1, 8).or_(r6, r1));
  EXPECT_EVAL((7ull << 32) | 9, a.st(DW, r10, -8, 7).mov(r1, 9).xchg(DW, r10, -8, r1)
                                    .ldx(DW, r6, r10, -8).lsh(r1, 32).or_(r6, r1));
  // cmpxchg: succeeds when r0 matches (memory becomes r1), fails otherwise; r0 always gets the old value.
  EXPECT_EVAL((3ull << 32) | 42, a.st(DW, r10, -8, 3).mov(r0, 3).mov(r1, 42).cmpxchg(DW, r10, -8, r1)
                                     .ldx(DW, r6, r10, -8).lsh(r0, 32).or_(r6, r0));
  EXPECT_EVAL((3ull << 32) | 3, a.st(DW, r10, -8, 3).mov(r0, 4).mov(r1, 42).cmpxchg(DW, r10, -8, r1)
                                    .ldx(DW, r6, r10, -8).lsh(r0, 32).or_(r6, r0));
  EXPECT_EVAL(0x1234, a.mov(r1, 0x1234).store_release(H, r10, -2, r1).load_acquire(H, r6, r10, -2));
  EXPECT_EVAL(0x11223344ull, a.ld_imm64(r1, 0x11223344ull).store_release(DW, r10, -8, r1).load_acquire(DW, r6, r10, -8));
}

TEST(IsaSemantics, AtomicAddOnAMapValueAcrossRuns) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto counters, ArrayMap<std::uint64_t>::create(test::unique_name("ctr"), 1));
  Assembler a;
  a.ld_map_value(r1, "counters", 0).mov(r2, 5).atomic_add(DW, r1, 0, r2).mov(r0, 2).exit();  // XDP_PASS
  ASSERT_OK_AND_ASSIGN(auto code, std::move(a).finish());
  ASSERT_OK(code.resolve("counters", counters.map().fd()));
  ASSERT_OK_AND_ASSIGN(auto retval, run(code, ProgType::xdp, 3));
  EXPECT_EQ(retval, 2u);
  ASSERT_OK_AND_ASSIGN(auto value, counters.lookup(0));
  EXPECT_EQ(value, 3u * 5u);
}

// The example from ebpf/assembler.hpp: a helper call by name and a map resolved by name at load time.
TEST(IsaSemantics, HelperCallAndMapRelocationEndToEnd) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto counters, ArrayMap<std::uint64_t>::create(test::unique_name("cnt"), 1));
  Assembler a;
  a.ld_map(r1, "counters")
      .mov(r2, r10).add(r2, -4).st(W, r10, -4, 0)
      .call("map_lookup_elem")
      .jeq(r0, 0, "out").mov(r1, 1).atomic_add(DW, r0, 0, r1)
      .label("out").mov(r0, 2).exit();
  ASSERT_OK_AND_ASSIGN(auto code, std::move(a).finish());
  EXPECT_EQ(code.unresolved(), std::vector<std::string>{"counters"});
  ASSERT_OK(code.resolve([&](std::string_view name) -> Result<int> {
    if (name != "counters") return Error::invalid("test", "unexpected map");
    return counters.map().fd();
  }));
  ASSERT_OK_AND_ASSIGN(auto retval, run(code, ProgType::xdp, 4));
  EXPECT_EQ(retval, 2u);
  ASSERT_OK_AND_ASSIGN(auto value, counters.lookup(0));
  EXPECT_EQ(value, 4u);
}

TEST(IsaSemantics, SubprogramsGotolAndMayGoto) {
  EBPF_REQUIRE_KERNEL();
  Assembler a;
  a.mov(r1, 21).call_local("twice").jne(r0, 42, "bad").gotol("tail");
  a.label("bad").mov(r0, 0).exit();
  a.label("tail").add(r0, 1).exit();
  a.function("twice").mov(r0, r1).lsh(r0, 1).exit();
  ASSERT_OK_AND_ASSIGN(auto code, std::move(a).finish());
  ASSERT_OK_AND_ASSIGN(auto retval, run(code));
  EXPECT_EQ(retval, 2u * 21u + 1u);
  // may_goto falls through while the kernel's loop budget lasts: a 10-iteration loop completes.
  EXPECT_EVAL(10, a.mov(r6, 0).label("loop").may_goto("out").add(r6, 1).jlt(r6, 10, "loop").label("out"));
}

TEST(IsaSemantics, LegacyPacketLoadsInSocketFilters) {
  EBPF_REQUIRE_KERNEL();
  Assembler a;
  a.mov(r6, r1).ld_abs(H, 12).mov(r7, r0).mov(r2, 10).ld_ind(B, r2, 4).lsh(r7, 8).or_(r0, r7).exit();
  ASSERT_OK_AND_ASSIGN(auto code, std::move(a).finish());
  ASSERT_OK_AND_ASSIGN(auto retval, run(code, ProgType::socket_filter));
  // For socket filters the kernel has pulled the Ethernet header: packet offsets start at the IP header.
  const auto f = frame();
  const std::uint8_t* ip = f.data() + 14;
  const std::uint32_t half = (std::uint32_t(ip[12]) << 8) | ip[13];  // LD_ABS converts network to host order
  EXPECT_EQ(retval, (half << 8) | ip[14]);
}

}  // namespace
