// kprobes: the kprobe PMU, the tracefs kprobe_events fallback and kprobe_multi links, with explained refusals.
#include "ebpf/attach/kprobe.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <fstream>
#include <vector>

#include "ebpf/attach/tracing.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {
namespace {

constexpr const char* kPmuType = "/sys/bus/event_source/devices/kprobe/type";

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool valid_symbol(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
      return false;
  return true;
}

Error policy_error(int err, std::string op, const std::string& what) {
  return Error(Errc::permission, std::move(op),
               what + " refused by kernel policy: " + lockdown_explanation() + " (or CAP_PERFMON/CAP_SYS_ADMIN is missing)",
               err);
}

Error no_kprobes(const std::string& what, int err) {
  return Error(Errc::not_supported, "attach kprobe",
               what + ": this kernel has no kprobes — no kprobe PMU (" + std::string(kPmuType) +
                   ") and no tracefs kprobe_events: it was built without CONFIG_KPROBES",
               err);
}

// A legacy tracefs kprobe event: removed from kprobe_events when the perf event closes.
class TracefsKprobe final : public Attachment {
 public:
  TracefsKprobe(Link inner, std::string events_file, std::string event)
      : inner_(std::move(inner)), events_file_(std::move(events_file)), event_(std::move(event)) {}
  AttachMechanism mechanism() const noexcept override { return inner_.mechanism(); }
  std::string describe() const override { return inner_.describe() + " (tracefs " + event_ + ")"; }
  int fd() const noexcept override { return inner_.fd(); }
  Result<void> detach() override {
    auto r = inner_.detach();
    std::ofstream(events_file_, std::ios::app) << "-:" << event_ << "\n";
    return r;
  }

 private:
  Link inner_;
  std::string events_file_;
  std::string event_;
};

Result<Fd> open_pmu_kprobe(std::uint32_t pmu, const std::string& function, const KprobeOptions& o) {
  perf_event_attr attr{};
  attr.type = pmu;
  attr.size = sizeof attr;
  attr.config = o.retprobe ? 1 : 0;  // format/retprobe: config:0
  attr.config1 = sys::ptr(function.c_str());
  attr.config2 = o.offset;
  long fd = ::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "perf_event_open(kprobe PMU)", function);
  return Fd(static_cast<int>(fd));
}

Result<Link> attach_legacy(const Program& program, const std::string& function, const KprobeOptions& o,
                           const std::string& what) {
  auto root = tracefs_path();
  std::string events = (root ? *root : std::string("/sys/kernel/tracing")) + "/kprobe_events";
  Fd probe(::open(events.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!probe) {
    int err = errno;
    if (err == ENOENT) return no_kprobes(what, ENOENT);
    if (err == EPERM || err == EACCES) return policy_error(err, "open(" + events + ")", what);
    return Error::from_errno(err, "open(" + events + ")");
  }
  static std::atomic<unsigned> counter{0};
  std::string event = "ebpf_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  std::string line = std::string(o.retprobe ? "r" : "p") + ":kprobes/" + event + " " + function;
  if (o.offset != 0) line += "+" + std::to_string(o.offset);
  line += "\n";
  if (::write(probe.get(), line.data(), line.size()) < 0)
    return Error::from_errno(errno, "write(" + events + ")", line);
  auto remove = [&] { std::ofstream(events, std::ios::app) << "-:kprobes/" << event << "\n"; };
  auto id = tracepoint_id("kprobes", event);
  if (!id) { remove(); return id.error(); }
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = *id;
  long fd = ::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) { int err = errno; remove(); return Error::from_errno(err, "perf_event_open(kprobe event)"); }
  auto link = attach_perf_event(program, Fd(static_cast<int>(fd)), {o.cookie, o.use_link});
  if (!link) { remove(); return link.error(); }
  return Link(std::make_unique<TracefsKprobe>(std::move(*link), events, "kprobes/" + event));
}

}  // namespace

std::string kernel_lockdown_mode() {
  // "none [integrity] confidentiality": the bracketed word is the active mode.
  std::string line = first_line("/sys/kernel/security/lockdown");
  auto open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  return line.substr(open + 1, close - open - 1);
}

std::string lockdown_explanation() {
  std::string mode = kernel_lockdown_mode();
  if (mode.empty())
    return "probably kernel lockdown (its mode could not be read: securityfs is not mounted at /sys/kernel/security)";
  if (mode == "none") return "lockdown is off, so another LSM or a missing capability refused it";
  return "kernel lockdown is '" + mode + "', which forbids this even to root";
}

Result<Link> attach_kprobe(const Program& program, std::string_view function, const KprobeOptions& options) {
  constexpr std::string_view op = "attach kprobe";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::kprobe)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to a kprobe: it needs a kprobe program");
  if (!valid_symbol(function)) return Error::invalid(std::string(op), "bad kernel function name '" + std::string(function) + "'");
  std::string name(function);
  std::string what = std::string(options.retprobe ? "kretprobe" : "kprobe") + " on '" + name + "'";
  std::uint32_t pmu = 0;
  std::string type = first_line(kPmuType);
  if (type.empty() || std::from_chars(type.data(), type.data() + type.size(), pmu).ec != std::errc())
    return attach_legacy(program, name, options, what);  // no PMU: tracefs kprobe_events
  auto event = open_pmu_kprobe(pmu, name, options);
  if (!event) {
    int err = event.error().sys_errno();
    if (err == EPERM || err == EACCES) return policy_error(err, "perf_event_open(kprobe PMU)", what);
    if (err == ENOENT || err == EINVAL)
      return Error(Errc::not_found, "perf_event_open(kprobe PMU)", what + ": no such probe-able kernel function", err);
    return event.error();
  }
  auto link = attach_perf_event(program, std::move(*event), {options.cookie, options.use_link});
  if (!link) return std::move(Error(link.error()).context(what));
  return link;
}

Result<Link> attach_kprobe_multi(const Program& program, std::span<const std::string> symbols,
                                 const KprobeMultiOptions& options) {
  constexpr std::string_view op = "attach kprobe_multi";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::kprobe)
    return Error::invalid(std::string(op), detail::program_label(program) + " needs to be a kprobe program");
  if (symbols.empty()) return Error::invalid(std::string(op), "no symbols given");
  if (!options.cookies.empty() && options.cookies.size() != symbols.size())
    return Error::invalid(std::string(op), "give one cookie per symbol (" + std::to_string(symbols.size()) + "), not " +
                                               std::to_string(options.cookies.size()));
  std::vector<const char*> names;
  for (const auto& s : symbols) {
    if (!valid_symbol(s)) return Error::invalid(std::string(op), "bad kernel function name '" + s + "'");
    names.push_back(s.c_str());
  }
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(AttachType::trace_kprobe_multi);
  auto& km = attr.as<sys::LinkCreateAttr::KprobeMulti>();
  km.flags = options.retprobe ? 1U : 0U;  // BPF_F_KPROBE_MULTI_RETURN
  km.cnt = static_cast<std::uint32_t>(names.size());
  km.syms = sys::ptr(names.data());
  if (!options.cookies.empty()) km.cookies = sys::ptr(options.cookies.data());
  std::string what = "kprobe_multi on " + std::to_string(names.size()) + " function(s) from '" + symbols[0] + "'";
  auto link = sys::link_create(attr);
  if (!link) {
    int err = link.error().sys_errno();
    if (err == EOPNOTSUPP || err == ENOTSUP || err == 524 /* ENOTSUPP */)
      return Error(Errc::not_supported, "BPF_LINK_CREATE", what +
                       ": this kernel has no kprobe_multi (fprobe) support — built without CONFIG_FPROBE / "
                       "CONFIG_KPROBES", err);
    if (err == EPERM || err == EACCES) return policy_error(err, "BPF_LINK_CREATE", what);
    if (err == ENOENT || err == ESRCH) return Error(Errc::not_found, "BPF_LINK_CREATE", what + ": a function is not probe-able", err);
    return std::move(Error(link.error()).context(what));
  }
  return Link::from_fd(std::move(*link), what);
}

}  // namespace ebpf
