// Disassembler: expected LLVM/bpftool text for programs (labels, indices, map names) and single instructions.
#include <gtest/gtest.h>

#include "ebpf/assembler.hpp"
#include "ebpf/disasm.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

TEST(Disasm, ProgramWithLabels) {
  Assembler a;
  a.mov(r0, 0).label("loop").jgt(r1, 5, "out").add(w0, 1).ja("loop").label("out").exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(disassemble(code->insns),
            "\tr0 = 0\n"
            "L1:\n"
            "\tif r1 > 0x5 goto +2 <L4>\n"
            "\tw0 += 1\n"
            "\tgoto -3 <L1>\n"
            "L4:\n"
            "\texit\n");
  EXPECT_EQ(disassemble(*code, {.labels = true, .indices = true, .indent = ""}),
            "   0: r0 = 0\n"
            "loop:\n"
            "   1: if r1 > 0x5 goto +2 <out>\n"
            "   2: w0 += 1\n"
            "   3: goto -3 <loop>\n"
            "out:\n"
            "   4: exit\n");
  EXPECT_EQ(disassemble(code->insns, {.labels = false, .indices = false, .indent = "  "}),
            "  r0 = 0\n  if r1 > 0x5 goto +2\n  w0 += 1\n  goto -3\n  exit\n");
}

TEST(Disasm, MapsByNameFdAndIndex) {
  Assembler a;
  a.ld_map(r1, "counters").ld_map_value(r2, "config", 16).ld_map(r3, 5).ld_map_idx_value(r4, 2, 8).exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(disassemble(*code, {.labels = false}),
            "\tr1 = map[counters]\n\tr2 = map[config][0]+16\n\tr3 = map[fd:5]\n\tr4 = map[idx:2][0]+8\n\texit\n");
  ASSERT_TRUE(code->resolve("counters", 11).has_value());
  EXPECT_EQ(disassemble(*code, {.labels = false}).substr(0, 20), "\tr1 = map[fd:11]\n\tr2");
}

TEST(Disasm, SingleInstructions) {
  EXPECT_EQ(disassemble_one(ldx(W, r0, r1, 4)), "r0 = *(u32 *)(r1 + 4)");
  EXPECT_EQ(disassemble_one(call_helper(helper::map_lookup_elem)), "call bpf_map_lookup_elem#1");
  EXPECT_EQ(disassemble_one(call_helper(5000)), "call 5000");
  EXPECT_EQ(disassemble_one(add(w0, 1)), "w0 += 1");
  EXPECT_EQ(disassemble_one(be(r0, 16)), "r0 = be16 r0");
  EXPECT_EQ(disassemble_one(atomic_add(DW, r1, 0, r2)), "lock *(u64 *)(r1 + 0) += r2");
  EXPECT_EQ(disassemble_one(atomic_fetch_add(DW, r1, 0, r0)), "r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)");
  EXPECT_EQ(disassemble_one(jsge(r3, -7, -2)), "if r3 s>= -7 goto -2");
  EXPECT_EQ(disassemble_one(jne(r3, 0x7fffffff, 1)), "if r3 != 0x7fffffff goto +1");
  EXPECT_EQ(disassemble_one(st(DW, r10, -32768, 0)), "*(u64 *)(r10 - 32768) = 0");
  auto imm = ld_imm64(r9, ~0ull);
  EXPECT_EQ(disassemble_one(imm[0], &imm[1]), "r9 = 0xffffffffffffffff ll");
  auto btf = ld_btf_id(r1, 12, 3);
  EXPECT_EQ(disassemble_one(btf[0], &btf[1]), "r1 = btf[id:12][fd:3]");
  EXPECT_EQ(disassemble_one(imm[0], nullptr), ".insn 0x18, 9, 0, 0, -1");  // second slot missing
}

}  // namespace
