// uprobes on a function of this very test binary: the program counts calls, so the count must equal the
// calls the test made; uretprobe, cookie, pid filter, symbol lookup and errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/uprobe.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

extern "C" __attribute__((noinline, used)) int et_uprobe_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}

namespace ebpf {
namespace {

using Counter = test::CountingProgram;

// KPROBE program: value[0] += 1, value[1] = bpf_get_attach_cookie().
Result<Counter> call_counter() {
  using namespace isa;
  auto map = EBPF_TRY(test::counter_map(2));
  Assembler a;
  a.mov(r6, r1);
  test::emit_count(a, map);
  a.mov(r1, r6).call("get_attach_cookie").stx(DW, r7, 8, r0).mov(r0, 0).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_uprobe";
  auto program = EBPF_TRY(Program::load(ProgType::kprobe, code.span(), options));
  return Counter{std::move(map), std::move(program)};
}

std::string self_path() {
  char buf[PATH_MAX] = {};
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int call_target(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += et_uprobe_target(i);
  return sum;
}

TEST(Uprobe, CountsCallsWithCookie) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, call_counter());
  UprobeOptions options;
  options.pid = ::getpid();
  options.cookie = 0xabcdef;
  ASSERT_OK_AND_ASSIGN(auto link, attach_uprobe(c.program, self_path(), std::string_view("et_uprobe_target"), options));
  EXPECT_EQ(call_target(9), 45);
  EXPECT_EQ(c.slot(0), 9U);
  EXPECT_EQ(c.slot(1), 0xabcdefU);
  ASSERT_OK(link.detach());
  call_target(3);
  EXPECT_EQ(c.slot(0), 9U);
}

TEST(Uprobe, RetprobeAndIoctlPath) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, call_counter());
  UprobeOptions options;
  options.retprobe = true;
  options.use_link = false;
  ASSERT_OK_AND_ASSIGN(auto offset, uprobe_offset(self_path(), "et_uprobe_target"));
  EXPECT_GT(offset, 0U);
  ASSERT_OK_AND_ASSIGN(auto link, attach_uprobe(c.program, self_path(), offset, options));
  EXPECT_EQ(link.mechanism(), AttachMechanism::perf_event_ioctl);
  call_target(4);
  EXPECT_EQ(c.slot(0), 4U);
}

TEST(Uprobe, BadInput) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, call_counter());
  auto missing_symbol = attach_uprobe(c.program, self_path(), std::string_view("et_no_such_function"));
  ASSERT_FALSE(missing_symbol.has_value());
  EXPECT_EQ(missing_symbol.error().code(), Errc::not_found);
  EXPECT_NE(missing_symbol.error().message().find("et_no_such_function"), std::string::npos);
  auto missing_file = attach_uprobe(c.program, std::string("/nonexistent/et-binary"), std::uint64_t{0});
  ASSERT_FALSE(missing_file.has_value());
  EXPECT_EQ(missing_file.error().code(), Errc::not_found);

  Insn insns[2];
  insns[0].code = 0xb7;
  insns[1].code = 0x95;
  ASSERT_OK_AND_ASSIGN(auto socket_prog, Program::load(ProgType::socket_filter, insns));
  auto wrong = attach_uprobe(socket_prog, self_path(), std::string_view("et_uprobe_target"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("needs a kprobe program"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
