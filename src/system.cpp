// System facts: possible CPUs, kernel version, memlock limit, page size.
#include "ebpf/system.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <fstream>
#include <mutex>

namespace ebpf {

namespace {

// Parses a decimal number at the front of `text`, advancing it. False if there is none.
bool take_number(std::string_view& text, std::uint32_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end == text.data()) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}

Error bad_cpu_list(std::string_view list, std::string_view why) {
  return Error(Errc::bad_format, "parse CPU list", "'" + std::string(list) + "': " + std::string(why));
}

}  // namespace

Result<std::uint32_t> parse_cpu_list(std::string_view list) {
  const std::string_view original = list;
  while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.remove_suffix(1);
  if (list.empty()) return bad_cpu_list(original, "empty list");
  std::uint32_t count = 0;
  while (true) {
    std::uint32_t first = 0, last = 0;
    if (!take_number(list, first)) return bad_cpu_list(original, "expected a CPU number");
    last = first;
    if (!list.empty() && list.front() == '-') {
      list.remove_prefix(1);
      if (!take_number(list, last)) return bad_cpu_list(original, "expected the end of a range");
      if (last < first) return bad_cpu_list(original, "range ends before it starts");
    }
    count += last - first + 1;
    if (list.empty()) break;
    if (list.front() != ',') return bad_cpu_list(original, "expected ',' between ranges");
    list.remove_prefix(1);
  }
  return count;
}

Result<std::uint32_t> possible_cpus() {
  // Cached: the set of possible CPUs is fixed at boot.
  static std::atomic<std::uint32_t> cached{0};
  if (auto n = cached.load(std::memory_order_relaxed); n != 0) return n;
  constexpr const char* kPath = "/sys/devices/system/cpu/possible";
  std::ifstream in(kPath);
  if (!in) return Error::from_errno(errno == 0 ? ENOENT : errno, "read possible CPUs", std::string("cannot open ") + kPath);
  std::string text;
  std::getline(in, text);
  auto n = parse_cpu_list(text);
  if (!n) return Error(std::move(n).error()).context(kPath);
  cached.store(*n, std::memory_order_relaxed);
  return *n;
}

std::string KernelVersion::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::uint32_t KernelVersion::code() const noexcept {
  return (major << 16) | (minor << 8) | (patch > 255 ? 255 : patch);
}

Result<KernelVersion> parse_kernel_release(std::string_view release) {
  KernelVersion v;
  std::string_view rest = release;
  auto bad = [&] {
    return Error(Errc::bad_format, "parse kernel release", "'" + std::string(release) + "' is not MAJOR.MINOR[.PATCH]");
  };
  if (!take_number(rest, v.major)) return bad();
  if (rest.empty() || rest.front() != '.') return bad();
  rest.remove_prefix(1);
  if (!take_number(rest, v.minor)) return bad();
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    if (!take_number(rest, v.patch)) return bad();
  }
  return v;
}

Result<KernelVersion> kernel_version() {
  static std::once_flag once;
  static Result<KernelVersion> cached = KernelVersion{};
  std::call_once(once, [] {
    struct utsname uts {};
    if (::uname(&uts) != 0) {
      cached = Error::from_errno(errno, "uname");
      return;
    }
    cached = parse_kernel_release(uts.release);
  });
  return cached;
}

bool kernel_charges_memlock(const KernelVersion& version) noexcept {
  return version < KernelVersion{5, 11, 0};
}

Result<void> raise_memlock_limit() {
  auto version = EBPF_TRY(kernel_version());
  if (!kernel_charges_memlock(version)) return ok();
  struct rlimit unlimited {RLIM_INFINITY, RLIM_INFINITY};
  if (::setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0)
    return Error::from_errno(errno, "setrlimit(RLIMIT_MEMLOCK)",
                             "kernel " + version.to_string() + " charges BPF memory to memlock; raising it failed");
  return ok();
}

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace ebpf
