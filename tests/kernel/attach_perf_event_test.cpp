// Perf events: a PERF_EVENT program sampling a task-clock / cpu-clock counter of the test's own thread runs
// while the thread burns CPU (the count it keeps grows), the counter itself reads back a plausible value,
// link and ioctl paths, frequency sampling, per-CPU events, and the errors for bad input and absent hardware.
#include <gtest/gtest.h>
#include <linux/perf_event.h>

#include <time.h>

#include "ebpf/attach/perf_event.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

Result<test::CountingProgram> sample_counter() {
  ProgramLoadOptions options;
  options.name = "et_perf";
  return test::counting_program(ProgType::perf_event, 0, options);
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// Spins until this thread has used `ms` milliseconds of CPU time (the machine may be busy: wall time says
// nothing about how long we ran).
void burn_cpu(int ms) {
  auto until = thread_cpu_ns() + ms * 1'000'000LL;
  volatile std::uint64_t x = 0;
  while (thread_cpu_ns() < until)
    for (int i = 0; i < 1000; ++i) x = x + static_cast<std::uint64_t>(i);
}

TEST(PerfEvent, TaskClockSamplingRunsTheProgramViaLink) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, sample_counter());
  // One sample per 1 ms of this thread's CPU time.
  ASSERT_OK_AND_ASSIGN(auto event, open_perf_event(PerfCounter::software(SoftwareCounter::task_clock),
                                                   {.sample_period = 1'000'000}));
  ASSERT_OK_AND_ASSIGN(auto link, attach_perf_event(c.program, event));
  EXPECT_EQ(link.mechanism(), AttachMechanism::bpf_link);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::perf_event);
  burn_cpu(100);
  auto samples = c.count();
  ASSERT_OK_AND_ASSIGN(auto count, event.read());
  // ~100 ms of task clock at 1 sample/ms: well above 20 samples, and no more than the counter allows.
  EXPECT_GE(samples, 50U);
  EXPECT_LE(samples, count.value / 1'000'000 + 1);
  EXPECT_GE(count.value, 90'000'000U);  // ~100 ms of this thread's CPU time (tick granularity)  // ns of CPU time this thread ran while the event was open
  EXPECT_GT(count.time_enabled, 0U);
  EXPECT_GT(count.time_running, 0U);
  ASSERT_OK(link.detach());
  auto after_detach = c.count();
  burn_cpu(20);
  EXPECT_EQ(c.count(), after_detach);  // detached: no more samples
}

TEST(PerfEvent, CpuClockIoctlPathAndFrequency) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, sample_counter());
  ASSERT_OK_AND_ASSIGN(auto event, open_perf_event(PerfCounter::software(SoftwareCounter::cpu_clock),
                                                   {.sample_freq = 1000}));
  ASSERT_OK_AND_ASSIGN(auto link, attach_perf_event(c.program, event, {.cookie = 0, .use_link = false}));
  EXPECT_EQ(link.mechanism(), AttachMechanism::perf_event_ioctl);
  burn_cpu(150);
  EXPECT_GE(c.count(), 10U);  // ~1000 Hz for 150 ms, the kernel ramps the period up from 1
  ASSERT_OK(link.detach());
}

TEST(PerfEvent, CountingOnlyEventReadsAndResets) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto event, open_perf_event(PerfCounter::software(SoftwareCounter::task_clock),
                                                   {.start_disabled = true}));
  burn_cpu(10);
  ASSERT_OK_AND_ASSIGN(auto before, event.read());
  EXPECT_EQ(before.value, 0U);  // disabled: nothing counted
  ASSERT_OK(event.enable());
  burn_cpu(30);
  ASSERT_OK(event.disable());
  ASSERT_OK_AND_ASSIGN(auto after, event.read());
  EXPECT_GE(after.value, 27'000'000U);
  ASSERT_OK(event.reset());
  ASSERT_OK_AND_ASSIGN(auto cleared, event.read());
  EXPECT_EQ(cleared.value, 0U);
}

TEST(PerfEvent, PerCpuEventsSampleTheWholeMachine) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto c, sample_counter());
  ASSERT_OK_AND_ASSIGN(auto events, open_perf_event_per_cpu(PerfCounter::software(SoftwareCounter::cpu_clock),
                                                            {.sample_period = 1'000'000}));
  ASSERT_FALSE(events.empty());
  std::vector<Link> links;
  for (const auto& e : events) {
    ASSERT_OK_AND_ASSIGN(auto l, attach_perf_event(c.program, e));
    links.push_back(std::move(l));
  }
  burn_cpu(50);
  // cpu-clock per CPU counts time on every CPU, whoever runs there: at least our 50 ms of CPU.
  EXPECT_GE(c.count(), 40U);
}

TEST(PerfEvent, HardwareCounterWorksOrSaysThereIsNoPmu) {
  EBPF_REQUIRE_KERNEL();
  auto event = open_perf_event(PerfCounter::hardware(HardwareCounter::instructions));
  if (!event) {
    EXPECT_EQ(event.error().code(), Errc::not_supported) << event.error().to_string();
    EXPECT_NE(event.error().message().find("no hardware performance counters"), std::string::npos);
    EXPECT_NE(event.error().message().find("hardware instructions"), std::string::npos);
    return;
  }
  burn_cpu(5);
  ASSERT_OK_AND_ASSIGN(auto count, event->read());
  EXPECT_GT(count.value, 1000U);
}

TEST(PerfEvent, BadInput) {
  EBPF_REQUIRE_KERNEL();
  auto both = open_perf_event(PerfCounter::software(SoftwareCounter::cpu_clock), {.sample_period = 1, .sample_freq = 1});
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code(), Errc::invalid_argument);
  EXPECT_NE(both.error().message().find("not both"), std::string::npos);
  auto nowhere = open_perf_event(PerfCounter::software(SoftwareCounter::cpu_clock), {.pid = -1, .cpu = -1});
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().code(), Errc::invalid_argument);
  auto unknown = open_perf_event(PerfCounter{PERF_TYPE_SOFTWARE, 999});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Errc::invalid_argument);
  auto no_task = open_perf_event(PerfCounter::software(SoftwareCounter::cpu_clock), {.pid = 0x3fffffff});
  ASSERT_FALSE(no_task);
  EXPECT_EQ(no_task.error().code(), Errc::not_found);
  EXPECT_EQ(no_task.error().sys_errno(), ESRCH);

  ASSERT_OK_AND_ASSIGN(auto event, open_perf_event(PerfCounter::software(SoftwareCounter::cpu_clock), {.sample_period = 1000000}));
  ASSERT_OK_AND_ASSIGN(auto wrong, test::counting_program(ProgType::socket_filter, 0));
  auto r = attach_perf_event(wrong.program, event);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("needs a perf_event program"), std::string::npos);
  PerfEvent closed;
  ASSERT_OK_AND_ASSIGN(auto c, sample_counter());
  auto r2 = attach_perf_event(c.program, closed);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), Errc::invalid_argument);
  auto r3 = closed.read();
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace ebpf
