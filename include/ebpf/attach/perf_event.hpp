// ebpf/attach/perf_event.hpp — perf counters (software and hardware) opened with perf_event_open, read as
// counters, and used as sampling sources for BPF_PROG_TYPE_PERF_EVENT programs.
//
//   auto event = open_perf_event(PerfCounter::software(SoftwareCounter::task_clock), {.sample_period = 100000});
//   auto link = attach_perf_event(program, *event);   // bpf_link first, PERF_EVENT_IOC_SET_BPF fallback
//   auto count = event->read();                       // the counter keeps counting while the program samples
//
// An event watches one task (pid >= 0, 0 = the calling thread) on any CPU, or every task on one CPU
// (pid = -1, cpu >= 0). Sampling runs the program every `sample_period` events, or about `sample_freq` times
// a second. Hardware counters need a PMU: in a VM without one the error is Errc::not_supported and says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ebpf/attach/tracing.hpp"
#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

// PERF_COUNT_SW_* (linux/perf_event.h).
enum class SoftwareCounter : std::uint64_t {
  cpu_clock = 0, task_clock = 1, page_faults = 2, context_switches = 3, cpu_migrations = 4,
  page_faults_min = 5, page_faults_maj = 6, alignment_faults = 7, emulation_faults = 8, dummy = 9,
  bpf_output = 10, cgroup_switches = 11,
};
// PERF_COUNT_HW_*.
enum class HardwareCounter : std::uint64_t {
  cpu_cycles = 0, instructions = 1, cache_references = 2, cache_misses = 3, branch_instructions = 4,
  branch_misses = 5, bus_cycles = 6, stalled_cycles_frontend = 7, stalled_cycles_backend = 8, ref_cpu_cycles = 9,
};

// What a perf event counts: perf_event_attr.type and .config.
struct PerfCounter {
  std::uint32_t type = 1;  // PERF_TYPE_SOFTWARE
  std::uint64_t config = 0;
  static PerfCounter software(SoftwareCounter c) noexcept { return {1, static_cast<std::uint64_t>(c)}; }
  static PerfCounter hardware(HardwareCounter c) noexcept { return {0, static_cast<std::uint64_t>(c)}; }
  std::string describe() const;
};

struct PerfEventOpenOptions {
  std::uint64_t sample_period = 0;  // run attached programs every N events (0: no period)
  std::uint64_t sample_freq = 0;    // or about N times per second (exclusive with sample_period)
  int pid = 0;                      // 0: the calling thread; > 0: that task; -1: every task (needs cpu >= 0)
  int cpu = -1;                     // -1: any CPU (needs pid >= 0)
  bool inherit = false;             // also count children created after the open
  bool exclude_kernel = false;
  bool exclude_user = false;
  bool start_disabled = false;      // open disabled; enable() starts it
};

// A counter value with the times needed to scale it when the kernel multiplexed the counter.
struct PerfCount {
  std::uint64_t value = 0;
  std::uint64_t time_enabled = 0;  // ns
  std::uint64_t time_running = 0;  // ns (< time_enabled when multiplexed)
};

// An open perf event (owns its fd).
class PerfEvent {
 public:
  PerfEvent() = default;
  PerfEvent(Fd fd, PerfCounter counter) : fd_(std::move(fd)), counter_(counter) {}
  int fd() const noexcept { return fd_.get(); }
  const PerfCounter& counter() const noexcept { return counter_; }
  Result<PerfCount> read() const;
  Result<void> enable() const;
  Result<void> disable() const;
  Result<void> reset() const;
  // Gives up the fd (e.g. for attach_perf_event(program, Fd, ...)).
  Fd release() noexcept { return std::move(fd_); }

 private:
  Fd fd_;
  PerfCounter counter_;
};

Result<PerfEvent> open_perf_event(const PerfCounter& counter, const PerfEventOpenOptions& options = {});
// One event per possible CPU (pid -1 unless options.pid says otherwise), for system-wide sampling.
Result<std::vector<PerfEvent>> open_perf_event_per_cpu(const PerfCounter& counter, PerfEventOpenOptions options = {});

// Attaches a PERF_EVENT program to `event` (the event stays readable and owned by the caller): a bpf_link
// when the kernel has perf_event links, else (or with use_link = false) PERF_EVENT_IOC_SET_BPF.
Result<Link> attach_perf_event(const Program& program, const PerfEvent& event, const PerfEventOptions& options = {});

}  // namespace ebpf
