#include "support/kernel.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ebpf::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::string kernel_unavailable_reason() {
  static const std::string reason = [] {
    if (::geteuid() != 0) return std::string("needs root (run the kernel tests as root)");
    // A tiny array map proves bpf() works for us.
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = ::syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (fd < 0) return std::string("bpf(BPF_MAP_CREATE) failed: ") + std::strerror(errno);
    ::close(static_cast<int>(fd));
    return std::string();
  }();
  return reason;
}

std::string unique_name(std::string_view suffix) {
  static std::atomic<unsigned> counter{0};
  return "et" + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++) + std::string(suffix);
}

}  // namespace ebpf::test
