// DSL memory and loop blocks, run with BPF_PROG_TEST_RUN and checked byte for byte in data_out: unrolled
// copies between the frame and the stack at odd offsets and lengths, byte fills and zeroing; a counted loop
// that walks the frame with a bounds check per byte; bpf_loop with a callback subprogram summing indices,
// with a run-time count and an early stop.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "ebpf/dsl/func_info.hpp"
#include "ebpf/dsl/loop.hpp"
#include "ebpf/dsl/memory.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

Result<Program> load(Assembler& a) {
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions opts;
  opts.name = "dsl_mem";
  // Programs with callbacks need BTF func_info; the others load without it.
  dsl::ProgramBtf btf;
  if (code.symbols.end() != std::find_if(code.symbols.begin(), code.symbols.end(), [](const Symbol& s) { return s.function; })) {
    btf = EBPF_TRY(dsl::callback_btf(code));
    btf.apply(opts);
  }
  return Program::load(ProgType::xdp, code.span(), opts);
}

std::vector<std::uint8_t> pattern(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return v;
}

TEST(DslMemory, CopySetZeroThroughTheStack) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::size_t kFrame = 96;
  // frame[0..29) → fp-45 (29 bytes, odd offsets), fp-45.. back to frame[40..69); fp-16..-1 set to 0x5a and
  // copied to frame[70..86); frame[3..10) zeroed in place (7 bytes at an odd packet offset).
  Assembler a;
  const dsl::PacketRegs p;
  dsl::xdp_load_data(a, r1, p);
  dsl::check_bounds(a, p, kFrame, "short");
  a.mov(r6, p.data);
  ASSERT_OK(dsl::stack_copy(a, r10, -45, r6, 0, 29, r1));
  ASSERT_OK(dsl::stack_copy(a, r6, 40, r10, -45, 29, r1));
  ASSERT_OK(dsl::stack_set(a, r10, -16, 16, 0x5a, r2));
  ASSERT_OK(dsl::stack_copy(a, r6, 70, r10, -16, 16, r1));
  ASSERT_OK(dsl::stack_zero(a, r6, 3, 7));
  a.mov(r0, 2).exit();
  a.label("short").mov(r0, 0).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a));
  const auto in = pattern(kFrame);
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = in}));
  ASSERT_EQ(out.retval, 2u);
  ASSERT_EQ(out.data_out.size(), kFrame);
  auto expected = in;
  std::memcpy(expected.data() + 40, in.data(), 29);
  std::memset(expected.data() + 70, 0x5a, 16);
  std::memset(expected.data() + 3, 0, 7);
  EXPECT_EQ(out.data_out, expected);
}

TEST(DslLoop, CountedLoopSumsTheFrame) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::int32_t kBytes = 48;
  // r7 = sum of frame[0..48), one bounds-checked byte per iteration (cursor = data + i).
  Assembler a;
  const dsl::PacketRegs p;
  dsl::xdp_load_data(a, r1, p);
  a.mov(r7, 0);
  dsl::counted_loop(a, r6, kBytes, [&](Assembler& b) {
    b.mov(p.cursor, p.data).add(p.cursor, r6);
    dsl::check_bounds(b, p, 1, "short");
    b.ldx(B, r1, p.cursor, 0).add(r7, r1);
  });
  a.mov(r0, r7).exit();
  a.label("short").mov(r0, 0xffff).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a));
  const auto in = pattern(64);
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = in}));
  EXPECT_EQ(out.retval, std::accumulate(in.begin(), in.begin() + kBytes, 0u));
  const auto small = pattern(20);  // shorter than the loop: the bounds check exits
  ASSERT_OK_AND_ASSIGN(out, prog.test_run({.data_in = small}));
  EXPECT_EQ(out.retval, 0xffffu);
}

TEST(DslLoop, BpfLoopCallbackSumsIndices) {
  EBPF_REQUIRE_KERNEL();
  // ctx on the stack: { u64 sum; u64 stop_at }. count and stop_at come from the frame; the frame gets back
  // the sum (offset 16) and bpf_loop's return value (offset 24).
  Assembler a;
  const dsl::PacketRegs p;
  dsl::xdp_load_data(a, r1, p);
  dsl::check_bounds(a, p, 32, "short");
  a.mov(r6, p.data).ldx(W, r7, r6, 0).ldx(DW, r1, r6, 8);
  a.st(DW, r10, -16, 0).stx(DW, r10, -8, r1);
  dsl::bpf_loop(a, r7, "sum_indices", dsl::Address{r10, -16});
  a.stx(DW, r6, 24, r0).ldx(DW, r1, r10, -16).stx(DW, r6, 16, r1);
  a.mov(r0, 2).exit();
  a.label("short").mov(r0, 0).exit();
  // long sum_indices(u64 index, struct ctx *c): c->sum += index; stop (1) once index reaches c->stop_at.
  a.function("sum_indices");
  a.ldx(DW, r3, r2, 0).add(r3, r1).stx(DW, r2, 0, r3);
  a.ldx(DW, r4, r2, 8).mov(r0, 0).jlt(r1, r4, "continue").mov(r0, 1);
  a.label("continue").exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a));
  struct Case {
    std::uint32_t count;
    std::uint64_t stop_at;
    std::uint64_t sum, iterations;
  };
  for (const Case& c : {Case{100, ~0ULL, 4950, 100}, Case{1000, 9, 45, 10}, Case{0, ~0ULL, 0, 0},
                        Case{100000, ~0ULL, 4999950000ULL, 100000}}) {
    std::array<std::uint8_t, 32> frame{};
    std::memcpy(frame.data(), &c.count, 4);
    std::memcpy(frame.data() + 8, &c.stop_at, 8);
    ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
    ASSERT_EQ(out.retval, 2u);
    std::uint64_t sum = 0, iterations = 0;
    std::memcpy(&sum, out.data_out.data() + 16, 8);
    std::memcpy(&iterations, out.data_out.data() + 24, 8);
    EXPECT_EQ(sum, c.sum) << "count " << c.count;
    EXPECT_EQ(iterations, c.iterations) << "count " << c.count;
  }
}

}  // namespace
