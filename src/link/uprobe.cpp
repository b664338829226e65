// uprobes through the uprobe PMU (/sys/bus/event_source/devices/uprobe).
#include "ebpf/attach/uprobe.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>

#include "ebpf/attach/tracing.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/program.hpp"

namespace ebpf {

namespace {

constexpr const char* kPmuDir = "/sys/bus/event_source/devices/uprobe";

Result<std::string> read_small_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return Error(Errc::not_supported, "uprobe PMU", "the kernel has no uprobe PMU (" + path + ")", err);
    return Error::from_errno(err, "open(" + path + ")");
  }
  std::array<char, 64> buf{};
  auto n = ::read(fd.get(), buf.data(), buf.size() - 1);
  if (n < 0) return Error::from_errno(errno, "read(" + path + ")");
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

Result<std::uint32_t> pmu_type() {
  auto text = EBPF_TRY(read_small_file(std::string(kPmuDir) + "/type"));
  std::uint32_t type = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), type);
  if (ec != std::errc()) return Error(Errc::bad_format, "uprobe PMU", "unreadable PMU type '" + text + "'");
  return type;
}

// The config bit that selects a uretprobe ("config:N" in format/retprobe).
Result<std::uint64_t> retprobe_bit() {
  auto text = EBPF_TRY(read_small_file(std::string(kPmuDir) + "/format/retprobe"));
  auto colon = text.find(':');
  unsigned bit = 0;
  if (colon == std::string::npos ||
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), bit).ec != std::errc() || bit > 63)
    return Error(Errc::bad_format, "uprobe PMU", "unreadable retprobe format '" + text + "'");
  return std::uint64_t{1} << bit;
}

}  // namespace

Result<std::uint64_t> uprobe_offset(const std::string& path, std::string_view symbol) {
  if (symbol.empty()) return Error::invalid("uprobe", "empty symbol name");
  auto file = EBPF_TRY(elf::File::open(path));
  for (const auto& sym : file.symbols()) {
    if (sym.name != symbol || sym.type != elf::kSttFunc || sym.undefined()) continue;
    const auto* section = file.section(sym.section);
    if (section == nullptr || sym.value < section->addr)
      return Error(Errc::bad_format, "uprobe", "symbol '" + std::string(symbol) + "' lies outside its section");
    // Executables and libraries give virtual addresses: translate through the section to a file offset.
    return sym.value - section->addr + section->offset;
  }
  return Error(Errc::not_found, "uprobe",
               "no function '" + std::string(symbol) + "' in the symbol table of " + path, ENOENT);
}

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::uint64_t offset,
                           const UprobeOptions& options) {
  constexpr std::string_view op = "attach uprobe";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::kprobe)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to a uprobe: it needs a kprobe program");
  if (path.empty()) return Error::invalid(std::string(op), "empty file path");
  if (::access(path.c_str(), R_OK) != 0)
    return Error(Errc::not_found, std::string(op), "cannot read " + path, errno);
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = EBPF_TRY(pmu_type());
  if (options.retprobe) attr.config = EBPF_TRY(retprobe_bit());
  attr.config1 = reinterpret_cast<std::uintptr_t>(path.c_str());  // uprobe_path
  attr.config2 = offset;                                          // probe_offset
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  int cpu = options.pid < 0 ? 0 : -1;
  long fd = ::syscall(SYS_perf_event_open, &attr, options.pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "perf_event_open(uprobe)", path + " offset " + std::to_string(offset));
  return attach_perf_event(program, Fd(static_cast<int>(fd)), {options.cookie, options.use_link});
}

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::string_view symbol,
                           const UprobeOptions& options) {
  auto offset = EBPF_TRY(uprobe_offset(path, symbol));
  return attach_uprobe(program, path, offset, options);
}

}  // namespace ebpf
