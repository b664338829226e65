// Instruction sequences of the DSL map, event, random, loop and memory blocks, checked as disassembly where
// the order or the exact encoding matters for correctness (and cannot be seen from a kernel result alone):
// argument moves that read a register before it is overwritten, BPF_NOEXIST on the init path, the
// zero-extended BPF_F_CURRENT_CPU, compare chains without zero weights, unique labels per block use; the access
// widths of the unrolled memory blocks and their argument errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ebpf/disasm.hpp"
#include "ebpf/dsl/events.hpp"
#include "ebpf/dsl/loop.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/dsl/memory.hpp"
#include "ebpf/dsl/random.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// The block's instructions as disassembly lines (labels and the trailing "r0 = 0; exit" left out).
std::vector<std::string> lines(Assembler& a) {
  a.mov(r0, 0).exit();
  auto code = a.finish();
  EXPECT_TRUE(code.has_value()) << code.error().to_string();
  if (!code) return {};
  std::vector<std::string> out;
  std::string all = disassemble(code->span());
  for (std::size_t pos = 0; pos < all.size();) {
    const std::size_t end = all.find('\n', pos);
    std::string line = all.substr(pos, end - pos);
    pos = end == std::string::npos ? all.size() : end + 1;
    if (line.empty() || line[0] != '\t') continue;
    out.push_back(line.substr(1));
  }
  out.resize(out.size() >= 2 ? out.size() - 2 : 0);
  return out;
}

using Lines = std::vector<std::string>;

TEST(DslBlocks, TailCallReadsOperandsBeforeOverwritingThem) {
  Assembler a;
  dsl::tail_call(a, r2, "progs", r1);  // ctx in r2, index in r1: both must move before r1/r2 are reused
  EXPECT_EQ(lines(a), (Lines{"r3 = r1", "r1 = r2", "r2 = map[fd:0]", "call bpf_tail_call#12"}));
}

TEST(DslBlocks, PerfOutputFlagIsZeroExtended) {
  Assembler a;
  dsl::perf_event_output(a, r6, "perf", dsl::Address{r10, -24}, 24);
  // w3 = -1 is 0x00000000ffffffff (BPF_F_CURRENT_CPU); r3 = -1 would set bits the kernel refuses.
  EXPECT_EQ(lines(a), (Lines{"r1 = r6", "r4 = r10", "r4 += -24", "r5 = 24", "w3 = -1", "r2 = map[fd:0]",
                             "call bpf_perf_event_output#25"}));
}

TEST(DslBlocks, LookupOrInitInsertsWithNoexist) {
  Assembler a;
  dsl::map_lookup_or_init(a, "m", dsl::Address{r10, -4}, dsl::Address{r10, -16}, "failed");
  a.mov(r0, 1).exit().label("failed");
  const auto got = lines(a);
  ASSERT_EQ(got.size(), 19u);
  EXPECT_EQ(got[3], "call bpf_map_lookup_elem#1");
  EXPECT_EQ(got[9], "r4 = 1");  // BPF_NOEXIST: never overwrites a value another CPU inserted
  EXPECT_EQ(got[11], "call bpf_map_update_elem#2");
  EXPECT_EQ(got[15], "call bpf_map_lookup_elem#1");
  // Two uses of the block in one program get distinct internal labels.
  Assembler b;
  dsl::map_lookup_or_init(b, "m", dsl::Address{r10, -4}, dsl::Address{r10, -16}, "failed");
  dsl::map_lookup_or_init(b, "m", dsl::Address{r10, -4}, dsl::Address{r10, -16}, "failed");
  b.label("failed");
  EXPECT_FALSE(lines(b).empty());
}

TEST(DslBlocks, WeightedChoiceSkipsZeroWeights) {
  Assembler a;
  const std::vector<std::uint32_t> w = {2, 0, 3};
  ASSERT_TRUE(dsl::weighted_choice(a, w).has_value());
  EXPECT_EQ(lines(a), (Lines{"call bpf_get_prandom_u32#7", "r0 *= 5", "r0 >>= 32", "r1 = r0", "r0 = 0",
                             "if r1 < 0x2 goto +1 <L7>", "r0 = 2"}));
}

TEST(DslBlocks, BpfLoopLoadsTheCallbackAddress) {
  Assembler a;
  dsl::bpf_loop(a, r2, "cb", r1);
  a.mov(r0, 0).exit().function("cb");
  EXPECT_EQ(lines(a), (Lines{"r3 = r1", "r1 = r2", "r4 = 0", "r2 = func pc+4 <L8>", "call bpf_loop#181", "r0 = 0",
                             "exit"}));
}

TEST(DslBlocks, MemoryWidestAccessesAndErrors) {
  // 24 bytes at fp-24: three 8-byte stores; 7 bytes at fp-7: 1 + 2 + 4.
  Assembler a;
  ASSERT_OK(dsl::stack_zero(a, r10, -24, 24));
  ASSERT_EQ(a.size(), 3u);
  for (const auto& i : a.insns()) EXPECT_EQ(isa::size(i.code), DW);
  Assembler b;
  ASSERT_OK(dsl::stack_zero(b, r10, -7, 7));
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(isa::size(b.insns()[0].code), B);
  EXPECT_EQ(isa::size(b.insns()[1].code), H);
  EXPECT_EQ(isa::size(b.insns()[2].code), W);
  Assembler c;
  EXPECT_FALSE(dsl::stack_zero(c, r10, -8, 16));   // past the frame pointer
  EXPECT_FALSE(dsl::stack_zero(c, r10, -520, 8));  // below the 512-byte frame
  EXPECT_FALSE(dsl::stack_zero(c, r10, -8, -1));
  EXPECT_FALSE(dsl::stack_copy(c, r10, -16, r10, -12, 8, r1));  // overlap
  EXPECT_FALSE(dsl::stack_set(c, r6, 0, 8, 1, r6));            // scratch is the base
  EXPECT_EQ(c.size(), 0u);
}

}  // namespace
