// ebpf/fd.hpp — an owning, move-only file descriptor.
//
// Every kernel object the library creates (maps, programs, links, BTF, perf events, sockets) is held by an
// Fd: closed on destruction, CLOEXEC, and never 0, 1 or 2 (a descriptor that low is moved up, so a closed
// stdin can never be mistaken for a BPF object).
#pragma once

#include "ebpf/error.hpp"

namespace ebpf {

class Fd {
 public:
  Fd() noexcept = default;
  // Takes ownership of `fd` (moving it above 2 if needed). A negative value makes an empty Fd.
  explicit Fd(int fd) noexcept;
  ~Fd() { reset(); }

  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) noexcept;
  // A second owning descriptor for the same open file (F_DUPFD_CLOEXEC, above 2).
  Result<Fd> dup() const;

 private:
  int fd_ = -1;
};

}  // namespace ebpf
