// Ring buffer records produced by a program on a real tracepoint (syscalls:sys_enter_getpid), not by
// test_run: every getpid() of this process must arrive as one record, in order, with its sequence number.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sched.h>

#include <cstdint>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/tracing.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/ringbuf.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

// One record per getpid() call of this process: {sequence, pid_tgid}.
struct GetpidEvent {
  std::uint64_t seq;
  std::uint64_t pid_tgid;
};

// TRACEPOINT program: for this process only, seq = ++counter; ringbuf_output({seq, pid_tgid}).
Result<Program> getpid_producer(const Fd& ring, const Fd& counter) {
  using namespace isa;
  Assembler a;
  a.call("get_current_pid_tgid")
      .mov(r6, r0)
      .mov(r1, r0)
      .rsh(r1, 32)
      .jne(r1, static_cast<std::int32_t>(::getpid()), "out");
  test::emit_count(a, counter);  // r7 = &counter value, value += 1
  a.ldx(DW, r1, r7, 0)
      .stx(DW, r10, -16, r1)
      .stx(DW, r10, -8, r6)
      .ld_map(r1, ring.get())
      .mov(r2, r10)
      .add(r2, -16)
      .mov(r3, static_cast<std::int32_t>(sizeof(GetpidEvent)))
      .mov(r4, 0)
      .call("ringbuf_output")
      .label("out")
      .mov(r0, 0)
      .exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_rb_getpid";
  return Program::load(ProgType::tracepoint, code.span(), options);
}

class RingBufferTracepoint : public ::testing::Test {
 public:
  // tracefs may be unmounted: mount it in a private mount namespace of this (single-threaded) process.
  static void SetUpTestSuite() {
    if (!test::kernel_unavailable_reason().empty() || tracefs_path()) return;
    if (::unshare(CLONE_NEWNS) == 0 && ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0)
      (void)::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr);
  }
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_OK(tracefs_path());
  }
};

TEST_F(RingBufferTracepoint, EveryGetpidArrivesOnceInOrder) {
  ASSERT_OK_AND_ASSIGN(auto ring_map, RingBuffer::create_map("et_rb_tp", 64 * 1024));
  ASSERT_OK_AND_ASSIGN(auto counter, test::counter_map());
  ASSERT_OK_AND_ASSIGN(auto program, getpid_producer(ring_map, counter));
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(ring_map.get()));
  ASSERT_OK_AND_ASSIGN(auto link, attach_tracepoint(program, "syscalls", "sys_enter_getpid"));

  constexpr int kCalls = 300;
  std::vector<GetpidEvent> events;
  for (int i = 0; i < kCalls; ++i) {
    (void)::syscall(SYS_getpid);
    if (i % 100 == 99) {  // read part-way too: the consumer position must advance correctly
      ASSERT_OK(ring.consume<GetpidEvent>([&](const GetpidEvent& e) { events.push_back(e); }, SizeCheck::exact));
    }
  }
  ASSERT_OK(link.detach());
  (void)::syscall(SYS_getpid);  // after detach: no record
  ASSERT_OK(ring.consume<GetpidEvent>([&](const GetpidEvent& e) { events.push_back(e); }, SizeCheck::exact));

  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCalls));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, i + 1) << "record " << i;
    EXPECT_EQ(events[i].pid_tgid >> 32, static_cast<std::uint64_t>(::getpid()));
  }
  EXPECT_EQ(ring.stats().records, static_cast<std::uint64_t>(kCalls));
}

}  // namespace
}  // namespace ebpf
