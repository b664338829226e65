// Assembler: labels forward and backward, subprograms, map relocations, helper calls by name, error reports
// that name the instruction, and programs assembled at compile time.
#include <gtest/gtest.h>

#include "ebpf/assembler.hpp"
#include "ebpf/disasm.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// A compile-time program: the bytecode is a constant, checked by static_assert.
constexpr auto kCountdown = assemble<[](Assembler& a) {
  a.mov(r0, 0).mov(r1, 10)
      .label("loop")
      .jeq(r1, 0, "done")
      .add(r0, 2).sub(r1, 1)
      .ja("loop")
      .label("done")
      .ld_map(r2, "stats")
      .exit();
}>();
static_assert(kCountdown.insns.size() == 9);
static_assert(kCountdown.insns[2] == jeq(r1, 0, 3));   // forward: to "done" at 6
static_assert(kCountdown.insns[5] == ja(-4));          // backward: to "loop" at 2
static_assert(kCountdown.insns[6] == ld_map_fd(r2, 0)[0]);
static_assert(kCountdown.maps.size() == 1 && kCountdown.maps[0].insn == 6 && kCountdown.maps[0].map() == "stats");

constexpr auto kHelperByName = assemble<[](Assembler& a) { a.call("map_lookup_elem").call("bpf_ktime_get_ns").exit(); }>();
static_assert(kHelperByName.insns[0].imm == 1 && kHelperByName.insns[1].imm == helper::ktime_get_ns);

#ifdef EBPF_COMPILE_FAIL_UNDEFINED_LABEL
// Building with this defined must fail: a bad label in a constant program is a compile error.
constexpr auto kBroken = assemble<[](Assembler& a) { a.ja("nowhere").exit(); }>();
#endif

TEST(Assembler, ConstantProgramMatchesRuntimeBuild) {
  Assembler a;
  a.mov(r0, 0).mov(r1, 10).label("loop").jeq(r1, 0, "done").add(r0, 2).sub(r1, 1).ja("loop").label("done");
  a.ld_map(r2, "stats").exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value()) << code.error().to_string();
  EXPECT_EQ(code->insns, kCountdown.bytecode().insns);
  ASSERT_EQ(code->symbols.size(), 2u);
  EXPECT_EQ(code->symbols[0].name, "loop");
  EXPECT_EQ(code->symbols[0].insn, 2u);
}

TEST(Assembler, MapRelocationsResolveByNameOrLookup) {
  Assembler a;
  a.ld_map(r1, "a").ld_map_value(r2, "b", 12).ld_map(r3, "a").ld_map(r4, 42).exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->unresolved(), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(code->resolve("a", 7).has_value());
  EXPECT_EQ(code->insns[0].imm, 7);
  EXPECT_EQ(code->insns[4].imm, 7);
  EXPECT_EQ(code->insns[6].imm, 42);  // direct fd form is untouched
  auto missing = code->resolve("zzz", 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::invalid_argument);
  auto failed = code->resolve([](std::string_view name) -> Result<int> {
    return Error(Errc::not_found, "lookup", "no map " + std::string(name));
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), Errc::not_found);
  EXPECT_NE(failed.error().message().find("map 'b'"), std::string::npos) << failed.error().message();
  ASSERT_TRUE(code->resolve([](std::string_view) -> Result<int> { return 9; }).has_value());
  EXPECT_EQ(code->insns[2].imm, 9);
  EXPECT_EQ(code->insns[3].imm, 12);  // value offset kept
  EXPECT_TRUE(code->unresolved().empty());
}

TEST(Assembler, SubprogramsCallsAndCallbacks) {
  Assembler a;
  a.ld_func(r2, "cb").call_local("helper_fn").exit();
  a.function("helper_fn").mov(r0, 1).exit();
  a.function("cb").mov(r0, 0).exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value()) << code.error().to_string();
  EXPECT_EQ(code->insns[0].imm, 5);  // cb at 6, from 1
  EXPECT_EQ(code->insns[2], call_local(1));
  ASSERT_EQ(code->symbols.size(), 2u);
  EXPECT_TRUE(code->symbols[0].function);
  EXPECT_EQ(disassemble(*code), "\tr2 = func pc+5 <cb>\n\tcall pc+1 <helper_fn>\n\texit\nhelper_fn:\n\tr0 = 1\n\texit\n"
                                "cb:\n\tr0 = 0\n\texit\n");
}

TEST(Assembler, GotolReachesBeyond16Bits) {
  Assembler a;
  a.gotol("far");
  for (int k = 0; k < 40000; ++k) a.mov(r0, k);
  a.label("far").exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->insns[0], gotol(40000));
}

std::string error_message(Assembler& a) {
  auto r = a.finish();
  EXPECT_FALSE(r.has_value());
  if (r) return {};
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  return r.error().message();
}

TEST(Assembler, ErrorsNameTheInstruction) {
  Assembler undefined;
  undefined.mov(r0, 0).jgt(r1, 5, "out").exit();
  EXPECT_EQ(error_message(undefined), "instruction 1 `if r1 > 0x5 goto +0`: undefined label 'out'");

  Assembler duplicate;
  duplicate.label("x").mov(r0, 0).label("x").exit();
  EXPECT_EQ(error_message(duplicate), "instruction 1 `exit`: duplicate label 'x'");

  Assembler far;
  far.ja("end");
  for (int k = 0; k < 40000; ++k) far.mov(r0, 0);
  far.label("end").exit();
  EXPECT_EQ(error_message(far), "instruction 0 `goto +0`: jump to 'end' is out of range for a 16-bit offset (use gotol)");

  Assembler operand;
  operand.mov(r0, 0).movsx(w1, w2, 32).exit();
  EXPECT_EQ(error_message(operand), "instruction 1 `.insn 0xbc, 1, 2, 32, 0`: 32-bit movsx width must be 8 or 16");

  Assembler helper_name;
  helper_name.call("no_such_helper").exit();
  EXPECT_EQ(error_message(helper_name), "instruction 0 `call 0`: unknown helper 'no_such_helper'");

  Assembler dangling;
  dangling.ja("end").exit().label("end");
  EXPECT_EQ(error_message(dangling), "instruction 0 `goto +0`: label 'end' is past the last instruction");

  Assembler bad_reg;
  bad_reg.emit(make(0xbf, 11, 0, 0, 0));
  EXPECT_EQ(error_message(bad_reg), "instruction 0 `.insn 0xbf, 11, 0, 0, 0`: destination register out of range");
}

}  // namespace
