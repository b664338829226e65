// Tail-call chains: three XDP programs chained through a PROG_ARRAY run under BPF_PROG_TEST_RUN; per-program
// counters and the return value show which programs ran. Unregistering a slot breaks the chain at that point
// (the caller's fall-through path runs), and clear_all / destruction empty the prog array.
#include <gtest/gtest.h>

#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/tail_call.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr std::uint32_t kRepeat = 5;

// Program `stage` adds 1 to counter slot `stage`, then tail-calls slot `stage` of the chain; when the call
// fails it returns its own fall-through verdict `stage` (0, 1) — the last stage returns 3 (XDP_TX).
Result<Program> stage_program(const test::CountingProgram& counters, int chain_fd, std::uint32_t stage, bool last) {
  using namespace isa;
  Assembler a;
  a.mov(r6, r1).ld_map_value(r7, counters.map.get(), 0).mov(r4, 1).atomic_add(DW, r7, static_cast<std::int16_t>(8 * stage), r4);
  if (!last) a.mov(r1, r6).ld_map(r2, chain_fd).mov(r3, static_cast<std::int32_t>(stage)).call("tail_call");
  a.mov(r0, last ? 3 : static_cast<std::int32_t>(stage)).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_stage" + std::to_string(stage);
  return Program::load(ProgType::xdp, code.span(), options);
}

struct Chain {
  test::CountingProgram counters;  // slots 0..2: runs of stage 0..2; `program` is the entry (stage 0)
  TailCallChain chain;
};

Result<Chain> make_chain() {
  auto map = EBPF_TRY(test::counter_map(3));
  auto chain = EBPF_TRY(TailCallChain::create(2));
  test::CountingProgram counters{std::move(map), Program()};
  counters.program = EBPF_TRY(stage_program(counters, chain.map_fd(), 0, false));
  EBPF_TRY(chain.set(0, EBPF_TRY(stage_program(counters, chain.map_fd(), 1, false))));
  EBPF_TRY(chain.set(1, EBPF_TRY(stage_program(counters, chain.map_fd(), 2, true))));
  return Chain{std::move(counters), std::move(chain)};
}

Result<std::uint32_t> run(const Program& entry) {
  std::vector<std::uint8_t> frame(64, 0);
  auto r = EBPF_TRY(entry.test_run({.data_in = frame, .repeat = kRepeat}));
  return r.retval;
}

TEST(TailCallTest, ChainRunsEveryStageAndBreaksWhereUnregistered) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, make_chain());
  ASSERT_OK_AND_ASSIGN(auto id0, c.chain.program_id(0));
  ASSERT_TRUE(id0.has_value());
  EXPECT_NE(*id0, 0U);

  ASSERT_OK_AND_ASSIGN(auto full, run(c.counters.program));
  EXPECT_EQ(full, 3U);  // the last stage's verdict: both tail calls were taken
  EXPECT_EQ(c.counters.slot(0), kRepeat);
  EXPECT_EQ(c.counters.slot(1), kRepeat);
  EXPECT_EQ(c.counters.slot(2), kRepeat);

  ASSERT_OK(c.chain.clear(1));  // stage 1's tail call now fails: its fall-through returns 1
  ASSERT_OK_AND_ASSIGN(auto id1, c.chain.program_id(1));
  EXPECT_FALSE(id1.has_value());
  ASSERT_OK_AND_ASSIGN(auto broken, run(c.counters.program));
  EXPECT_EQ(broken, 1U);
  EXPECT_EQ(c.counters.slot(1), 2 * kRepeat);
  EXPECT_EQ(c.counters.slot(2), kRepeat);  // stage 2 no longer runs

  ASSERT_OK(c.chain.clear_all());
  ASSERT_OK_AND_ASSIGN(auto entry_only, run(c.counters.program));
  EXPECT_EQ(entry_only, 0U);
  EXPECT_EQ(c.counters.slot(0), 3 * kRepeat);
  EXPECT_EQ(c.counters.slot(1), 2 * kRepeat);
}

TEST(TailCallTest, DestructionEmptiesTheChain) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, make_chain());
  // A second chain over the same prog array, to look at it after the first is gone.
  ASSERT_OK_AND_ASSIGN(auto observer, TailCallChain::adopt(c.chain.map_fd()));
  EXPECT_EQ(observer.slots(), 2U);
  c.chain = TailCallChain(std::move(observer));  // the old chain is cleared by the assignment
  ASSERT_OK_AND_ASSIGN(auto id0, c.chain.program_id(0));
  EXPECT_FALSE(id0.has_value());
  ASSERT_OK_AND_ASSIGN(auto r, run(c.counters.program));
  EXPECT_EQ(r, 0U);
}

TEST(TailCallTest, BadInput) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, make_chain());
  auto out_of_range = c.chain.set(2, c.counters.program);
  ASSERT_FALSE(out_of_range.has_value());
  EXPECT_EQ(out_of_range.error().code(), Errc::invalid_argument);
  EXPECT_NE(out_of_range.error().message().find("out of range"), std::string::npos);
  ASSERT_OK(c.chain.clear(1));
  auto empty = c.chain.clear(1);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), Errc::key_not_found);
  auto unloaded = c.chain.set(0, Program());
  ASSERT_FALSE(unloaded.has_value());
  EXPECT_EQ(unloaded.error().code(), Errc::invalid_argument);
  auto not_prog_array = TailCallChain::adopt(c.counters.map.get());
  ASSERT_FALSE(not_prog_array.has_value());
  EXPECT_EQ(not_prog_array.error().code(), Errc::invalid_argument);
  EXPECT_NE(not_prog_array.error().message().find("not a prog_array"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
