// Text assembler: both syntaxes, exact disassemble → assemble round trip over every valid encoding, and
// line:column errors for malformed text.
#include <gtest/gtest.h>

#include <vector>

#include "ebpf/disasm.hpp"
#include "ebpf/isa.hpp"
#include "ebpf/text_asm.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

std::vector<Insn> assemble_ok(std::string_view text) {
  auto r = assemble_text(text);
  EXPECT_TRUE(r.has_value()) << r.error().to_string();
  return r ? r->insns : std::vector<Insn>{};
}

std::string error_of(std::string_view text) {
  auto r = assemble_text(text);
  EXPECT_FALSE(r.has_value()) << text;
  if (r) return {};
  EXPECT_EQ(r.error().code(), Errc::bad_format);
  return r.error().message();
}

TEST(TextAsm, LlvmSyntax) {
  auto insns = assemble_ok(R"(
      r0 = *(u32 *)(r1 + 4)
      if r1 > 0x5 goto +3 <somewhere>
      call bpf_map_lookup_elem#1
      w0 += 1
      r0 = be16 r0
      lock *(u64 *)(r1 + 0) += r2
      r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)
      r1 = map[fd:5]
      r2 = 0x123456789 ll
      exit)");
  std::vector<Insn> want = {ldx(W, r0, r1, 4), jgt(r1, 5, 3), call_helper(1), add(w0, 1), be(r0, 16),
                            atomic_add(DW, r1, 0, r2), atomic_fetch_add(DW, r1, 0, r0)};
  for (auto i : ld_map_fd(r1, 5)) want.push_back(i);
  for (auto i : ld_imm64(r2, 0x123456789)) want.push_back(i);
  want.push_back(isa::exit());
  EXPECT_EQ(insns, want);
}

TEST(TextAsm, MnemonicSyntax) {
  auto insns = assemble_ok(R"(
      # ubpf / conformance style
      mov r0, r1
      mov32 r0, 1
      ldxh r9, [r0+2]
      stxdw [r1-8], r2
      stw [r10-4], 0x10
      be16 r9
      jeq r1, 0x5, +3
      jeq r1, 5, out
      lddw r0, 0x123456789
      add32 r1, r2
      neg r3
      sdiv r1, 3
      ldxsw r2, [r1]
      jslt32 r1, -1, -1
      call 1
    out:
      exit)");
  std::vector<Insn> want = {mov(r0, r1), mov(w0, 1), ldx(H, r9, r0, 2), stx(DW, r1, -8, r2), st(W, r10, -4, 16),
                            be(r9, 16), jeq(r1, 5, 3), jeq(r1, 5, 8)};
  for (auto i : ld_imm64(r0, 0x123456789)) want.push_back(i);
  for (auto i : {add(w1, w2), neg(r3), sdiv(r1, 3), ldsx(W, r2, r1, 0), jslt(w1, -1, -1), call_helper(1), isa::exit()})
    want.push_back(i);
  EXPECT_EQ(insns, want);
}

TEST(TextAsm, LabelsMapsAndSymbols) {
  auto r = assemble_text("entry: r1 = map[counters][0]+8\n call my_fn\n exit\nmy_fn:\n r0 = 0\n exit\n");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->maps.size(), 1u);
  EXPECT_EQ(r->maps[0].map, "counters");
  EXPECT_EQ(r->maps[0].insn, 0u);
  EXPECT_EQ(r->insns[1].imm, 8);  // value offset in the second slot
  EXPECT_EQ(r->insns[2], call_local(1));
  ASSERT_EQ(r->symbols.size(), 2u);
  EXPECT_EQ(r->symbols[1].name, "my_fn");
  EXPECT_EQ(r->symbols[1].insn, 4u);
}

// Every encoding the validator accepts prints as text that assembles back to the same bytes.
TEST(TextAsm, RoundTripEveryInstructionForm) {
  const std::int16_t offs[] = {0, 1, 8, 16, 32, -8, 0x7fff};
  const std::int32_t imms[] = {0, 1, 16, 32, 64, -1, 0x7fffffff, INT32_MIN, 0x100, 0x110, 0xe1, 0xf1, 0x41, 0xa0};
  std::size_t forms = 0;
  for (int code = 0; code < 256; ++code)
    for (std::uint8_t src : {0, 1, 2, 4, 6, 10})
      for (auto off : offs)
        for (auto imm : imms) {
          const Insn slots[2] = {make(std::uint8_t(code), 3, src, off, imm), make(0, 0, 0, 0, 0x12345)};
          if (!check(slots[0], &slots[1]).empty()) continue;
          ++forms;
          const std::size_t n = std::size_t(isa::slots(slots[0]));
          std::string text = disassemble({slots, n});
          auto back = assemble_text(text);
          ASSERT_TRUE(back.has_value()) << text << back.error().to_string();
          ASSERT_EQ(back->insns, std::vector<Insn>(slots, slots + n)) << text;
        }
  EXPECT_GT(forms, 1000u);
}

TEST(TextAsm, InvalidEncodingsRoundTripAsRawInsn) {
  // garbage, LD_IMM64 with a non-zero offset (its second slot prints on its own), truncated LD_IMM64
  const Insn bad[] = {make(0xff, 15, 15, -1, -1), make(0x18, 1, 2, 33, 5), make(0, 0, 0, 0, 0), make(0x18, 1, 0, 0, 5)};
  std::string text = disassemble(bad);
  EXPECT_NE(text.find(".insn 0xff, 15, 15, -1, -1"), std::string::npos) << text;
  EXPECT_EQ(assemble_ok(text), std::vector<Insn>(std::begin(bad), std::end(bad)));
}

TEST(TextAsm, ErrorsCarryLineAndColumn) {
  EXPECT_EQ(error_of("r0 = 1\nr0 += r11\n"), "2:7: no register r11 (r0..r10)");
  EXPECT_EQ(error_of("  if r1 ~ 3 goto +1"), "1:9: expected a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)");
  EXPECT_EQ(error_of("r0 = *(u32 *)(r1 + 70000)"), "1:18: offset does not fit in 16 bits");
  EXPECT_EQ(error_of("frob r1, 2"), "1:1: unknown instruction 'frob'");
  EXPECT_EQ(error_of("exit now"), "1:6: unexpected text after the instruction");
  EXPECT_EQ(error_of("w0 += r1"), "1:9: mixing 32-bit (w) and 64-bit (r) registers");
  EXPECT_EQ(error_of("r0 = 0\n\ngoto nowhere\nexit"), "3:1: instruction 1: undefined label 'nowhere'");
  EXPECT_EQ(error_of("a:\nexit\na:\nexit"), "4:1: instruction 1: duplicate label 'a'");
  EXPECT_EQ(error_of("r0 = 0x1ffffffff"), "1:6: immediate does not fit in 32 bits");
  EXPECT_EQ(error_of("r1 = (s32)w2"), "1:13: mixing 32-bit (w) and 64-bit (r) registers");
  EXPECT_EQ(error_of("w1 = (s32)w2"), "1:1: instruction 0: 32-bit movsx width must be 8 or 16");
  EXPECT_EQ(error_of("ldxdw r1, [r2+1"), "1:16: expected ']'");
}

TEST(TextAsm, CommentsIndicesAndBlankLines) {
  auto insns = assemble_ok("; header\n\n   0:\tr0 = 1 ; one\n   1:\texit // done\n# trailing\n");
  EXPECT_EQ(insns, (std::vector<Insn>{mov(r0, 1), isa::exit()}));
}

}  // namespace
