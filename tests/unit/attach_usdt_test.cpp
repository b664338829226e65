// USDT notes and argument specs: argument strings of both architectures parsed into typed locations and
// specs, and the notes of a program gcc builds here with <sys/sdt.h> probes read back — provider, name,
// arguments, the semaphore's file offset inside .probes, and the marker offset holding the sdt.h `nop`.
#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "ebpf/attach/usdt.hpp"
#include "ebpf/elf.hpp"
#include "support/attach_usdt_target.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

using Kind = UsdtArg::Kind;
using dsl::Arch;

UsdtArg arg(Kind kind, std::uint8_t size, bool is_signed, std::string base = {}, std::int64_t value = 0,
            std::string index = {}, std::uint8_t scale = 1) {
  return UsdtArg{kind, size, is_signed, std::move(base), std::move(index), scale, value};
}

TEST(UsdtArgs, X86Forms) {
  ASSERT_OK_AND_ASSIGN(auto args, parse_usdt_args("-4@%eax 8@-8(%rbp) 4@$5 -4@12(%rdi,%rax,4) 2@(%rsi) 1@$-3 "
                                                  "8@0x10(%r12) -8@(%rbx,%rcx)",
                                                  Arch::x86_64));
  ASSERT_EQ(args.size(), 8U);
  EXPECT_EQ(args[0], arg(Kind::reg, 4, true, "eax"));
  EXPECT_EQ(args[1], arg(Kind::memory, 8, false, "rbp", -8));
  EXPECT_EQ(args[2], arg(Kind::constant, 4, false, {}, 5));
  EXPECT_EQ(args[3], arg(Kind::indexed, 4, true, "rdi", 12, "rax", 4));
  EXPECT_EQ(args[4], arg(Kind::memory, 2, false, "rsi", 0));
  EXPECT_EQ(args[5], arg(Kind::constant, 1, false, {}, -3));
  EXPECT_EQ(args[6], arg(Kind::memory, 8, false, "r12", 16));
  EXPECT_EQ(args[7], arg(Kind::indexed, 8, true, "rbx", 0, "rcx", 1));
  ASSERT_OK_AND_ASSIGN(auto none, parse_usdt_args("", Arch::x86_64));
  EXPECT_TRUE(none.empty());
}

TEST(UsdtArgs, Arm64Forms) {
  ASSERT_OK_AND_ASSIGN(auto args, parse_usdt_args("-4@x0 8@[sp, 16] 4@5 -8@[x29] 2@[x1, -8] 4@w3", Arch::arm64));
  ASSERT_EQ(args.size(), 6U);
  EXPECT_EQ(args[0], arg(Kind::reg, 4, true, "x0"));
  EXPECT_EQ(args[1], arg(Kind::memory, 8, false, "sp", 16));
  EXPECT_EQ(args[2], arg(Kind::constant, 4, false, {}, 5));
  EXPECT_EQ(args[3], arg(Kind::memory, 8, true, "x29", 0));
  EXPECT_EQ(args[4], arg(Kind::memory, 2, false, "x1", -8));
  EXPECT_EQ(args[5], arg(Kind::reg, 4, false, "w3"));
}

TEST(UsdtArgs, Errors) {
  for (auto text : {"4", "3@%eax", "4@counter(%rip)", "4@(%rax,%rbx,3)", "4@$x", "4@()", "16@%rax", "4@%", "-4@8(%rdi,)"}) {
    auto r = parse_usdt_args(text, Arch::x86_64);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), Errc::bad_format) << text;
  }
  auto r = parse_usdt_args("4@[sp, 16", Arch::arm64);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("[sp, 16"), std::string::npos);
}

TEST(UsdtArgs, SpecsUsePtRegsOffsets) {
  UsdtProbe probe;
  probe.provider = "p";
  probe.name = "n";
  ASSERT_OK_AND_ASSIGN(probe.args, parse_usdt_args("-4@%edi 8@-8(%rbp) 4@$5 -2@12(%rdi,%rax,8)", Arch::x86_64));
  ASSERT_OK_AND_ASSIGN(auto spec, usdt_spec(probe, Arch::x86_64, 77));
  const auto regs = dsl::pt_regs_layout(Arch::x86_64);
  EXPECT_EQ(spec.arg_count, 4);
  EXPECT_EQ(spec.cookie, 77U);
  EXPECT_EQ(spec.args[0].reg_off, regs.parm[0]);  // rdi: the first C argument
  EXPECT_EQ(spec.args[0].shift, 32);
  EXPECT_EQ(spec.args[0].is_signed, 1);
  EXPECT_EQ(spec.args[1].reg_off, 32);  // bp
  EXPECT_EQ(spec.args[1].value, -8);
  EXPECT_EQ(spec.args[2].kind, static_cast<std::uint8_t>(Kind::constant));
  EXPECT_EQ(spec.args[2].value, 5);
  EXPECT_EQ(spec.args[3].index_off, regs.rc);  // rax
  EXPECT_EQ(spec.args[3].scale_shift, 3);
  EXPECT_EQ(spec.args[3].shift, 48);

  ASSERT_OK_AND_ASSIGN(probe.args, parse_usdt_args("8@x1 4@[sp, 8]", Arch::arm64));
  ASSERT_OK_AND_ASSIGN(auto arm, usdt_spec(probe, Arch::arm64));
  EXPECT_EQ(arm.args[0].reg_off, dsl::pt_regs_layout(Arch::arm64).parm[1]);
  EXPECT_EQ(arm.args[1].reg_off, dsl::pt_regs_layout(Arch::arm64).sp);

  ASSERT_OK_AND_ASSIGN(probe.args, parse_usdt_args("4@%xmm0", Arch::x86_64));
  auto bad = usdt_spec(probe, Arch::x86_64);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("xmm0"), std::string::npos);
}

TEST(UsdtNotes, CompiledTarget) {
  test::TempDir dir{"et_usdt_unit"};
  auto target = test::build_usdt_target(dir, "-O2");
  if (!target) {
    if (test::in_ci()) FAIL() << target.error().to_string();
    GTEST_SKIP() << target.error().to_string();
  }
  ASSERT_OK_AND_ASSIGN(auto file, elf::File::open(target->string()));
  ASSERT_OK_AND_ASSIGN(auto probes, usdt_probes(file, Arch::x86_64));
  ASSERT_EQ(probes.size(), dsl::host_arch() == Arch::x86_64 ? 3U : 2U);
  const auto* probes_section = file.section(".probes");
  ASSERT_NE(probes_section, nullptr);
  for (const auto& probe : probes) {
    SCOPED_TRACE(probe.provider + ":" + probe.name + " " + probe.arg_text);
    EXPECT_EQ(probe.provider, "etprov");
    EXPECT_TRUE(probe.arg_error.empty()) << probe.arg_error;
    // sdt.h puts a one-byte nop at the probe address: the file offset must point at it.
    ASSERT_LT(probe.pc_offset, file.bytes().size());
    EXPECT_EQ(file.bytes()[probe.pc_offset], std::byte{0x90});
    if (probe.name == "evt") {
      ASSERT_EQ(probe.args.size(), 4U);
      EXPECT_EQ(probe.args[0].size, 4);
      EXPECT_TRUE(probe.args[0].is_signed);
      EXPECT_EQ(probe.args[1].size, 8);
      EXPECT_EQ(probe.args[2].kind, Kind::constant);
      EXPECT_EQ(probe.args[2].value, 42);
      EXPECT_EQ(probe.args[3].size, 1);
      EXPECT_FALSE(probe.args[3].is_signed);
      EXPECT_NE(probe.semaphore, 0U);
      EXPECT_EQ(probe.semaphore_offset, probe.semaphore - probes_section->addr + probes_section->offset);
    } else if (probe.name == "indexed") {
      ASSERT_EQ(probe.args.size(), 1U);
      EXPECT_EQ(probe.args[0], arg(Kind::indexed, 4, true, "rdi", 8, "rsi", 4));
      EXPECT_EQ(probe.semaphore, 0U);
    } else {
      EXPECT_EQ(probe.name, "constarg");
      ASSERT_EQ(probe.args.size(), 1U);
      EXPECT_EQ(probe.args[0].kind, Kind::constant);
      EXPECT_EQ(probe.args[0].value, -5);
      EXPECT_EQ(probe.semaphore, 0U);
      EXPECT_EQ(probe.semaphore_offset, 0U);
    }
  }
  auto none = usdt_probes(std::string("/nonexistent/et_usdt"));
  ASSERT_FALSE(none.has_value());

  // Corrupted copies of the first note: strings without their NUL, a marker address in no section.
  const auto* notes_section = file.section(".note.stapsdt");
  ASSERT_NE(notes_section, nullptr);
  ASSERT_OK_AND_ASSIGN(auto notes, file.notes(*notes_section));
  ASSERT_FALSE(notes.empty());
  const auto desc_at = static_cast<std::size_t>(notes[0].desc.data() - file.bytes().data());
  const auto desc_size = notes[0].desc.size();
  auto corrupt = [&](auto&& edit) {
    std::vector<std::byte> bytes(file.bytes().begin(), file.bytes().end());
    edit(std::span<std::byte>(bytes).subspan(desc_at, desc_size));
    return elf::File::from_bytes(std::move(bytes));
  };
  ASSERT_OK_AND_ASSIGN(auto unterminated, corrupt([](std::span<std::byte> desc) {
    for (std::size_t i = 24; i < desc.size(); ++i) desc[i] = std::byte{'A'};
  }));
  auto r = usdt_probes(unterminated, Arch::x86_64);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::bad_format);
  EXPECT_NE(r.error().message().find("unterminated"), std::string::npos) << r.error().to_string();
  ASSERT_OK_AND_ASSIGN(auto nowhere, corrupt([](std::span<std::byte> desc) {
    for (std::size_t i = 0; i < 8; ++i) desc[i] = std::byte{0xff};  // pc = 0xffff...: outside every section
  }));
  r = usdt_probes(nowhere, Arch::x86_64);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("in no section"), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace ebpf
