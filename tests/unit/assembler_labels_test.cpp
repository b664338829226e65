// Label resolution at scale (the assembler's hashed label table): every jump of a program with thousands of
// labels lands on its own label, and a duplicate or undefined label among thousands is still found and named.
#include <gtest/gtest.h>

#include <string>

#include "ebpf/assembler.hpp"

namespace {

using namespace ebpf::isa;

constexpr int kLabels = 3000;

// Label i sits at instruction 2*i; the jump at 2*i+1 targets label (i * 7919) % kLabels (backward and forward).
int target_of(int i) { return (i * 7919) % kLabels; }

TEST(AssemblerLabels, ThousandsOfLabelsResolveToTheirOwnTargets) {
  ebpf::Assembler a;
  for (int i = 0; i < kLabels; ++i)
    a.label("L" + std::to_string(i)).mov(r0, i).ja("L" + std::to_string(target_of(i)));
  a.exit();
  auto code = std::move(a).finish();
  ASSERT_TRUE(code.ok()) << code.error().to_string();
  ASSERT_EQ(code->insns.size(), 2u * kLabels + 1);
  int wrong = 0;
  for (int i = 0; i < kLabels; ++i) {
    const int jump = 2 * i + 1;
    if (jump + 1 + code->insns[jump].off != 2 * target_of(i)) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
  ASSERT_EQ(code->symbols.size(), static_cast<std::size_t>(kLabels));
}

TEST(AssemblerLabels, DuplicateAmongThousandsIsNamedAtItsSecondDefinition) {
  ebpf::Assembler a;
  for (int i = 0; i < kLabels; ++i) a.label("L" + std::to_string(i)).mov(r0, i);
  a.label("L1234").exit();
  auto code = std::move(a).finish();
  ASSERT_FALSE(code.ok());
  EXPECT_NE(code.error().to_string().find("instruction " + std::to_string(kLabels) + " `exit`: duplicate label 'L1234'"),
            std::string::npos)
      << code.error().to_string();
}

TEST(AssemblerLabels, UndefinedAmongThousandsIsNamed) {
  ebpf::Assembler a;
  for (int i = 0; i < kLabels; ++i) a.label("L" + std::to_string(i)).mov(r0, i);
  a.ja("L" + std::to_string(kLabels)).exit();
  auto code = std::move(a).finish();
  ASSERT_FALSE(code.ok());
  EXPECT_NE(code.error().to_string().find("undefined label 'L3000'"), std::string::npos) << code.error().to_string();
}

}  // namespace
