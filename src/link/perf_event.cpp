// Perf counters via perf_event_open, and PERF_EVENT programs attached to them.
#include "ebpf/attach/perf_event.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "ebpf/program.hpp"
#include "ebpf/system.hpp"

namespace ebpf {

namespace {

constexpr const char* kOp = "perf_event_open";

Result<void> validate(const PerfCounter& counter, const PerfEventOpenOptions& options) {
  if (options.sample_period != 0 && options.sample_freq != 0)
    return Error::invalid(kOp, "give sample_period or sample_freq, not both");
  if (options.pid < -1) return Error::invalid(kOp, "pid must be -1, 0 or a task id");
  if (options.cpu < -1) return Error::invalid(kOp, "cpu must be -1 or a CPU number");
  if (options.pid == -1 && options.cpu == -1)
    return Error::invalid(kOp, "an event for every task (pid -1) must name a CPU");
  if (counter.type == PERF_TYPE_SOFTWARE && counter.config >= PERF_COUNT_SW_MAX + 1)
    return Error::invalid(kOp, "unknown software counter " + std::to_string(counter.config));
  if (counter.type == PERF_TYPE_HARDWARE && counter.config >= PERF_COUNT_HW_MAX)
    return Error::invalid(kOp, "unknown hardware counter " + std::to_string(counter.config));
  return ok();
}

perf_event_attr make_attr(const PerfCounter& counter, const PerfEventOpenOptions& options) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = counter.type;
  attr.config = counter.config;
  if (options.sample_freq != 0) {
    attr.freq = 1;
    attr.sample_freq = options.sample_freq;
  } else {
    attr.sample_period = options.sample_period;
  }
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.inherit = options.inherit ? 1 : 0;
  attr.exclude_kernel = options.exclude_kernel ? 1 : 0;
  attr.exclude_user = options.exclude_user ? 1 : 0;
  attr.disabled = options.start_disabled ? 1 : 0;
  return attr;
}

// perf_event_open's errors in the words of what the caller asked for.
Error open_error(int err, const PerfCounter& counter, const PerfEventOpenOptions& options) {
  std::string what = counter.describe() + " (pid " + std::to_string(options.pid) + ", cpu " + std::to_string(options.cpu) + ")";
  bool hardware = counter.type == PERF_TYPE_HARDWARE || counter.type == PERF_TYPE_HW_CACHE;
  if (hardware && (err == ENOENT || err == EOPNOTSUPP || err == ENODEV))
    return Error(Errc::not_supported, kOp,
                 what + ": this machine exposes no hardware performance counters (no PMU, typical in a VM)", err);
  if (err == EACCES || err == EPERM)
    return Error(Errc::permission, kOp, what + ": not allowed (kernel.perf_event_paranoid or missing CAP_PERFMON)", err);
  if (err == ESRCH) return Error(Errc::not_found, kOp, what + ": no such task", err);
  return Error::from_errno(err, kOp, what);
}

Result<void> event_ioctl(int fd, unsigned long request, const char* name) {
  if (::ioctl(fd, request, 0) < 0) return Error::from_errno(errno, name);
  return ok();
}

}  // namespace

std::string PerfCounter::describe() const {
  static constexpr const char* kSoftware[] = {"cpu-clock", "task-clock", "page-faults", "context-switches",
                                              "cpu-migrations", "minor-faults", "major-faults", "alignment-faults",
                                              "emulation-faults", "dummy", "bpf-output", "cgroup-switches"};
  static constexpr const char* kHardware[] = {"cycles", "instructions", "cache-references", "cache-misses",
                                              "branches", "branch-misses", "bus-cycles", "stalled-cycles-frontend",
                                              "stalled-cycles-backend", "ref-cycles"};
  if (type == PERF_TYPE_SOFTWARE && config < std::size(kSoftware)) return std::string("software ") + kSoftware[config];
  if (type == PERF_TYPE_HARDWARE && config < std::size(kHardware)) return std::string("hardware ") + kHardware[config];
  return "perf type " + std::to_string(type) + " config " + std::to_string(config);
}

Result<PerfCount> PerfEvent::read() const {
  if (!fd_) return Error::invalid("read perf event", "the event is not open");
  std::uint64_t values[3] = {};
  auto n = ::read(fd_.get(), values, sizeof values);
  if (n < 0) return Error::from_errno(errno, "read perf event", counter_.describe());
  if (n != static_cast<ssize_t>(sizeof values))
    return Error(Errc::io, "read perf event", "short read of " + std::to_string(n) + " bytes");
  return PerfCount{values[0], values[1], values[2]};
}

Result<void> PerfEvent::enable() const { return event_ioctl(fd_.get(), PERF_EVENT_IOC_ENABLE, "ioctl(PERF_EVENT_IOC_ENABLE)"); }
Result<void> PerfEvent::disable() const { return event_ioctl(fd_.get(), PERF_EVENT_IOC_DISABLE, "ioctl(PERF_EVENT_IOC_DISABLE)"); }
Result<void> PerfEvent::reset() const { return event_ioctl(fd_.get(), PERF_EVENT_IOC_RESET, "ioctl(PERF_EVENT_IOC_RESET)"); }

Result<PerfEvent> open_perf_event(const PerfCounter& counter, const PerfEventOpenOptions& options) {
  EBPF_TRY(validate(counter, options));
  auto attr = make_attr(counter, options);
  long fd = ::syscall(SYS_perf_event_open, &attr, options.pid, options.cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return open_error(errno, counter, options);
  return PerfEvent(Fd(static_cast<int>(fd)), counter);
}

Result<std::vector<PerfEvent>> open_perf_event_per_cpu(const PerfCounter& counter, PerfEventOpenOptions options) {
  auto cpus = EBPF_TRY(possible_cpus());
  if (options.pid == 0) options.pid = -1;
  std::vector<PerfEvent> events;
  for (std::uint32_t cpu = 0; cpu < cpus; ++cpu) {
    options.cpu = static_cast<int>(cpu);
    auto event = open_perf_event(counter, options);
    // A possible but offline CPU cannot be opened: skip it, as it runs nothing to sample.
    if (!event && event.error().sys_errno() == ENODEV) continue;
    if (!event) return std::move(event.error().context("cpu " + std::to_string(cpu)));
    events.push_back(std::move(*event));
  }
  return events;
}

Result<Link> attach_perf_event(const Program& program, const PerfEvent& event, const PerfEventOptions& options) {
  constexpr std::string_view op = "attach perf event";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::perf_event)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to a perf counter: it needs a perf_event program");
  if (event.fd() < 0) return Error::invalid(std::string(op), "the perf event is not open");
  auto dup = EBPF_TRY(detail::dup_fd(event.fd(), "perf event"));
  auto link = attach_perf_event(program, std::move(dup), options);
  if (link || !options.use_link || options.cookie != 0) return link;
  // Kernels before 5.15 have no perf_event links (EINVAL / EOPNOTSUPP): fall back to the ioctl.
  auto err = link.error().sys_errno();
  if (err != EINVAL && err != EOPNOTSUPP) return link;
  auto retry = EBPF_TRY(detail::dup_fd(event.fd(), "perf event"));
  return attach_perf_event(program, std::move(retry), {options.cookie, false});
}

}  // namespace ebpf
