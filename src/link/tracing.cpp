// Tracepoints via perf events (bpf_link or ioctl) and raw tracepoints.
#include "ebpf/attach/tracing.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

// A perf event carrying a program through PERF_EVENT_IOC_SET_BPF: detach disables it and closes the event.
class PerfIoctlAttachment final : public Attachment {
 public:
  PerfIoctlAttachment(Fd event, std::string description) : event_(std::move(event)), description_(std::move(description)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::perf_event_ioctl; }
  std::string describe() const override { return description_; }
  Result<void> detach() override {
    int r = ::ioctl(event_.get(), PERF_EVENT_IOC_DISABLE, 0);
    int err = errno;
    event_.reset();  // closing the event releases the program
    if (r < 0) return Error::from_errno(err, "ioctl(PERF_EVENT_IOC_DISABLE)", description_);
    return ok();
  }

 private:
  Fd event_;
  std::string description_;
};

bool valid_event_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  return s != "." && s != "..";
}

bool is_dir(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<Fd> open_tracepoint_event(std::uint32_t id) {
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = id;
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  // pid -1, cpu 0: one event suffices, the program is attached to the tracepoint itself and runs on all CPUs.
  long fd = ::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "perf_event_open(PERF_TYPE_TRACEPOINT)");
  return Fd(static_cast<int>(fd));
}

}  // namespace

Result<std::string> tracefs_path() {
  for (const char* candidate : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (is_dir(std::string(candidate) + "/events")) return std::string(candidate);
  return Error(Errc::not_found, "tracefs",
               "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)", ENOENT);
}

Result<std::uint32_t> tracepoint_id(std::string_view category, std::string_view name) {
  if (!valid_event_name(category) || !valid_event_name(name))
    return Error::invalid("tracepoint", "bad tracepoint name '" + std::string(category) + ":" + std::string(name) + "'");
  auto root = EBPF_TRY(tracefs_path());
  auto path = root + "/events/" + std::string(category) + "/" + std::string(name) + "/id";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT)
      return Error(Errc::not_found, "tracepoint",
                   "no tracepoint " + std::string(category) + ":" + std::string(name) + " in this kernel", err);
    return Error::from_errno(err, "open(" + path + ")");
  }
  std::array<char, 32> buf{};
  auto n = ::read(fd.get(), buf.data(), buf.size() - 1);
  if (n <= 0) return Error::from_errno(n < 0 ? errno : EIO, "read(" + path + ")");
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(buf.data(), buf.data() + n, id);
  if (ec != std::errc()) return Error(Errc::bad_format, "read(" + path + ")", "not a tracepoint id");
  return id;
}

Result<Link> attach_perf_event(const Program& program, Fd perf_event_fd, const PerfEventOptions& options) {
  constexpr std::string_view op = "attach perf event";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (!perf_event_fd) return Error::invalid(std::string(op), "no perf event descriptor given");
  if (!options.use_link && options.cookie != 0)
    return Error::invalid(std::string(op), "a bpf_cookie needs a bpf_link (use_link)");
  std::string what = "perf event " + detail::program_label(program);
  if (options.use_link) {
    sys::LinkCreateAttr attr;
    attr.prog_fd = static_cast<std::uint32_t>(program.fd());
    attr.target_fd = static_cast<std::uint32_t>(perf_event_fd.get());
    attr.attach_type = static_cast<std::uint32_t>(AttachType::perf_event);
    attr.as<sys::LinkCreateAttr::PerfEvent>().bpf_cookie = options.cookie;
    auto link = sys::link_create(attr);
    if (!link) return std::move(link.error().context(what));
    // The link holds its own reference to the event: ours can close.
    return Link::from_fd(std::move(*link), what + " via bpf_link");
  }
  if (::ioctl(perf_event_fd.get(), PERF_EVENT_IOC_SET_BPF, program.fd()) < 0)
    return Error::from_errno(errno, "ioctl(PERF_EVENT_IOC_SET_BPF)", what);
  if (::ioctl(perf_event_fd.get(), PERF_EVENT_IOC_ENABLE, 0) < 0)
    return Error::from_errno(errno, "ioctl(PERF_EVENT_IOC_ENABLE)", what);
  return Link(std::make_unique<PerfIoctlAttachment>(std::move(perf_event_fd), what + " via ioctl"));
}

Result<Link> attach_tracepoint(const Program& program, std::string_view category, std::string_view name,
                               const PerfEventOptions& options) {
  constexpr std::string_view op = "attach tracepoint";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::tracepoint)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to a tracepoint: it needs a tracepoint program");
  auto id = EBPF_TRY(tracepoint_id(category, name));
  auto event = EBPF_TRY(open_tracepoint_event(id));
  auto link = attach_perf_event(program, std::move(event), options);
  if (!link) return std::move(link.error().context(std::string(category) + ":" + std::string(name)));
  return link;
}

Result<Link> attach_raw_tracepoint(const Program& program, std::string_view name) {
  constexpr std::string_view op = "BPF_RAW_TRACEPOINT_OPEN";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  bool raw = program.type() == ProgType::raw_tracepoint || program.type() == ProgType::raw_tracepoint_writable;
  if (!raw && program.type() != ProgType::tracing)
    return Error::invalid(std::string(op), detail::program_label(program) +
                                               " cannot attach to a raw tracepoint: it needs a raw_tracepoint or tracing program");
  if (raw && !valid_event_name(name))
    return Error::invalid(std::string(op), "bad raw tracepoint name '" + std::string(name) + "'");
  if (!raw && !name.empty())
    return Error::invalid(std::string(op), "tp_btf programs take their target from BTF: give no name");
  std::string copy(name);
  auto fd = sys::raw_tracepoint_open(raw ? copy.c_str() : nullptr, program.fd());
  if (!fd) {
    auto error = std::move(fd).error();
    if (error.sys_errno() == ENOENT)
      return Error(Errc::not_found, std::string(op), "no raw tracepoint named '" + copy + "'", ENOENT);
    return std::move(error.context(detail::program_label(program)));
  }
  return Link::from_fd(std::move(*fd), "raw tracepoint " + (raw ? copy : std::string("(tp_btf)")));
}

}  // namespace ebpf
