// Program::load and Program::test_run argument checks that happen before any syscall (no kernel needed).
#include <gtest/gtest.h>

#include <vector>

#include "ebpf/program.hpp"

namespace {

using ebpf::Errc;
using ebpf::Insn;
using ebpf::Program;
using ebpf::ProgramLoadOptions;
using ebpf::ProgType;

std::vector<Insn> two_insns() {
  std::vector<Insn> v(2);
  v[0].code = 0xb7;  // r0 = 0
  v[1].code = 0x95;  // exit
  return v;
}

void expect_invalid(const ebpf::Result<Program>& r, std::string_view fragment) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_EQ(r.error().operation(), "BPF_PROG_LOAD");
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

TEST(ProgramOptions, EmptyAndOversizedPrograms) {
  expect_invalid(Program::load(ProgType::xdp, {}, {}), "no instructions");
  std::vector<Insn> huge(ebpf::kMaxProgramInsns + 1);
  expect_invalid(Program::load(ProgType::xdp, huge, {}), "exceed the kernel's limit");
}

TEST(ProgramOptions, NamesAndLicense) {
  ProgramLoadOptions o;
  o.name = "bad-name";
  expect_invalid(Program::load(ProgType::xdp, two_insns(), o), "name may only contain");
  o.name = "ok";
  o.license = std::string("GPL\0x", 5);
  expect_invalid(Program::load(ProgType::xdp, two_insns(), o), "NUL");
}

TEST(ProgramOptions, ExclusiveAndDependentFields) {
  ProgramLoadOptions o;
  o.attach_prog_fd = 10;
  o.attach_btf_obj_fd = 11;
  expect_invalid(Program::load(ProgType::tracing, two_insns(), o), "exclusive");

  std::vector<std::byte> records(16);
  ProgramLoadOptions f;
  f.func_info = records;
  expect_invalid(Program::load(ProgType::xdp, two_insns(), f), "need the program's BTF");
  f.btf_fd = 10;
  f.func_info = std::span(records).first(12);
  expect_invalid(Program::load(ProgType::xdp, two_insns(), f), "multiple of func_info_rec_size");
  f.func_info = {};
  f.line_info = records;
  f.line_info_rec_size = 0;
  expect_invalid(Program::load(ProgType::xdp, two_insns(), f), "line_info");
}

TEST(ProgramOptions, LogSettings) {
  ProgramLoadOptions o;
  o.initial_log_size = 64;  // the kernel's minimum is 128
  expect_invalid(Program::load(ProgType::xdp, two_insns(), o), "log sizes");
  o.initial_log_size = 4096;
  o.max_log_size = 1024;
  expect_invalid(Program::load(ProgType::xdp, two_insns(), o), "log sizes");
  o.max_log_size = 1 << 20;
  o.log_level = 8;
  expect_invalid(Program::load(ProgType::xdp, two_insns(), o), "log_level");
}

TEST(ProgramOptions, EmptyProgramHandles) {
  Program p;
  EXPECT_FALSE(p.valid());
  auto run = p.test_run({});
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code(), Errc::invalid_argument);
  EXPECT_EQ(run.error().operation(), "BPF_PROG_TEST_RUN");
  auto pin = p.pin("/sys/fs/bpf/x");
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().code(), Errc::invalid_argument);
  auto clone = p.clone();
  ASSERT_FALSE(clone);
  auto unpin = Program::unpin("");
  ASSERT_FALSE(unpin);
  EXPECT_EQ(unpin.error().code(), Errc::invalid_argument);
}

TEST(ProgramOptions, TagHex) {
  ebpf::ProgramInfo info;
  info.tag = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  EXPECT_EQ(info.tag_hex(), "00017f80abcdefff");
}

}  // namespace
