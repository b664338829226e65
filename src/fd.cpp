#include "ebpf/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace ebpf {

namespace {
// Moves a descriptor above stderr so it cannot be confused with stdio.
int lift_above_stdio(int fd) noexcept {
  if (fd < 0 || fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}
}  // namespace

Fd::Fd(int fd) noexcept : fd_(lift_above_stdio(fd)) {}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = lift_above_stdio(fd);
}

Result<Fd> Fd::dup() const {
  if (fd_ < 0) return Error::invalid("dup", "empty file descriptor");
  int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return Fd(fd);
}

}  // namespace ebpf
