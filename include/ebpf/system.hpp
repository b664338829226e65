// ebpf/system.hpp — facts about the running system that the rest of the library depends on.
//
// - possible_cpus(): the number of *possible* CPUs (/sys/devices/system/cpu/possible), which is how many
//   values a per-CPU map holds per key. Read once and cached.
// - kernel_version(): the running kernel's version from uname(), to decide on behaviour that changed.
// - raise_memlock_limit(): kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; on those the limit is
//   raised to infinity, on newer kernels (memcg accounting) it is left alone.
// - page_size(): the system page size (ring buffers and mmap'd maps are sized in pages).
// The parsers are exposed so they can be tested without the files they normally read.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"

namespace ebpf {

// Number of CPUs in a kernel CPU list such as "0-1,3" (→ 3) or "0" (→ 1). Errc::bad_format otherwise.
Result<std::uint32_t> parse_cpu_list(std::string_view list);

// Possible CPUs of this machine (cached after the first successful read).
Result<std::uint32_t> possible_cpus();

struct KernelVersion {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t patch = 0;

  auto operator<=>(const KernelVersion&) const = default;
  // "6.18.44"
  std::string to_string() const;
  // The LINUX_VERSION_CODE encoding (patch saturated at 255), as BPF_PROG_LOAD's kern_version expects.
  std::uint32_t code() const noexcept;
};

// Parses a uname release string: "6.18.44-fc-v769" → {6, 18, 44}; "5.10" → {5, 10, 0}.
Result<KernelVersion> parse_kernel_release(std::string_view release);

// The running kernel's version (cached).
Result<KernelVersion> kernel_version();

// True when BPF objects are charged against RLIMIT_MEMLOCK (kernels before 5.11).
bool kernel_charges_memlock(const KernelVersion& version) noexcept;

// On kernels that charge memlock, raises RLIMIT_MEMLOCK to infinity (once). A no-op on newer kernels.
Result<void> raise_memlock_limit();

// The system page size in bytes.
std::size_t page_size() noexcept;

}  // namespace ebpf
