// Tracepoints (perf event + bpf_link or ioctl) and raw tracepoints: programs count this process's getpid()
// calls, so the count must equal exactly the calls the test made; bpf_cookie reaches the program.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/tracing.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

// Map value: {u64 count; u64 last_cookie;}
using Counter = test::CountingProgram;

// Counts events of this process; for raw_tracepoint(sys_enter) only the getpid syscall (args[1] is its
// number). Tracepoint programs also record bpf_get_attach_cookie().
Result<Counter> getpid_counter(ProgType type) {
  using namespace isa;
  auto map = EBPF_TRY(test::counter_map(2));
  Assembler a;
  a.mov(r6, r1).call("get_current_pid_tgid").rsh(r0, 32).jne(r0, static_cast<std::int32_t>(::getpid()), "out");
  if (type == ProgType::raw_tracepoint) a.ldx(DW, r2, r6, 8).jne(r2, SYS_getpid, "out");
  test::emit_count(a, map);
  if (type == ProgType::tracepoint) a.mov(r1, r6).call("get_attach_cookie").stx(DW, r7, 8, r0);
  a.label("out").mov(r0, 0).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_getpid";
  auto program = EBPF_TRY(Program::load(type, code.span(), options));
  return Counter{std::move(map), std::move(program)};
}

void call_getpid(int n) {
  for (int i = 0; i < n; ++i) (void)::syscall(SYS_getpid);
}

class TracingTest : public ::testing::Test {
 public:
  // tracefs may not be mounted on a test machine: mount it in a private mount namespace of this (still
  // single-threaded) process, leaving the host's mounts alone.
  static void SetUpTestSuite() {
    if (!kernel_ok() || tracefs_path()) return;
    if (::unshare(CLONE_NEWNS) == 0 && ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0)
      (void)::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr);
  }
  static bool kernel_ok() { return test::kernel_unavailable_reason().empty(); }
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_OK(tracefs_path());
  }
};

TEST_F(TracingTest, TracepointLinkCountsExactlyAndCarriesCookie) {
  ASSERT_OK_AND_ASSIGN(auto c, getpid_counter(ProgType::tracepoint));
  ASSERT_OK_AND_ASSIGN(auto link, attach_tracepoint(c.program, "syscalls", "sys_enter_getpid", {0xc0ffee, true}));
  EXPECT_EQ(link.mechanism(), AttachMechanism::bpf_link);
  call_getpid(7);
  EXPECT_EQ(c.count(), 7U);
  EXPECT_EQ(c.slot(1), 0xc0ffeeU);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::perf_event);
  ASSERT_OK(link.detach());
  call_getpid(3);
  EXPECT_EQ(c.count(), 7U);
}

TEST_F(TracingTest, TracepointIoctlPath) {
  auto pin_path = "/sys/fs/bpf/" + test::unique_name("tp");  // unique_name calls getpid(): before counting
  ASSERT_OK_AND_ASSIGN(auto c, getpid_counter(ProgType::tracepoint));
  ASSERT_OK_AND_ASSIGN(auto link, attach_tracepoint(c.program, "syscalls", "sys_enter_getpid", {0, false}));
  EXPECT_EQ(link.mechanism(), AttachMechanism::perf_event_ioctl);
  call_getpid(4);
  EXPECT_EQ(c.count(), 4U);
  auto pin = link.pin(pin_path);
  ASSERT_FALSE(pin.has_value());
  EXPECT_EQ(pin.error().code(), Errc::not_supported);
  link = Link();  // destruction detaches
  call_getpid(2);
  EXPECT_EQ(c.count(), 4U);
}

TEST_F(TracingTest, RawTracepointCountsGetpidSyscalls) {
  ASSERT_OK_AND_ASSIGN(auto c, getpid_counter(ProgType::raw_tracepoint));
  ASSERT_OK_AND_ASSIGN(auto link, attach_raw_tracepoint(c.program, "sys_enter"));
  call_getpid(5);
  EXPECT_EQ(c.count(), 5U);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::raw_tracepoint);
  ASSERT_OK(link.detach());
  call_getpid(5);
  EXPECT_EQ(c.count(), 5U);
}

TEST_F(TracingTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto tp, getpid_counter(ProgType::tracepoint));
  auto unknown = attach_tracepoint(tp.program, "syscalls", "sys_enter_nosuchcall");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::not_found);
  EXPECT_NE(unknown.error().message().find("syscalls:sys_enter_nosuchcall"), std::string::npos)
      << unknown.error().to_string();
  auto traversal = attach_tracepoint(tp.program, "..", "x");
  ASSERT_FALSE(traversal.has_value());
  EXPECT_EQ(traversal.error().code(), Errc::invalid_argument);
  auto cookie_without_link = attach_tracepoint(tp.program, "syscalls", "sys_enter_getpid", {1, false});
  ASSERT_FALSE(cookie_without_link.has_value());
  EXPECT_EQ(cookie_without_link.error().code(), Errc::invalid_argument);

  ASSERT_OK_AND_ASSIGN(auto raw, getpid_counter(ProgType::raw_tracepoint));
  auto wrong_type = attach_tracepoint(raw.program, "syscalls", "sys_enter_getpid");
  ASSERT_FALSE(wrong_type.has_value());
  EXPECT_EQ(wrong_type.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong_type.error().message().find("needs a tracepoint program"), std::string::npos);
  auto raw_wrong = attach_raw_tracepoint(tp.program, "sys_enter");
  ASSERT_FALSE(raw_wrong.has_value());
  EXPECT_EQ(raw_wrong.error().code(), Errc::invalid_argument);
  auto raw_unknown = attach_raw_tracepoint(raw.program, "no_such_raw_tp");
  ASSERT_FALSE(raw_unknown.has_value());
  EXPECT_EQ(raw_unknown.error().code(), Errc::not_found) << raw_unknown.error().to_string();

  ASSERT_OK_AND_ASSIGN(auto link, attach_raw_tracepoint(raw.program, "sys_enter"));
  ASSERT_OK(link.detach());
  auto again = link.detach();
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("already detached"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
