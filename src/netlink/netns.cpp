// Moving the calling thread between network namespaces, for sockets and links that must be created
// inside a namespace (a socket, bpf_link or ifindex belongs to the namespace of the thread that made it).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

Result<NetnsGuard> NetnsGuard::enter(int netns_fd) {
  if (netns_fd < 0) return Error::invalid("setns(CLONE_NEWNET)", "no network namespace descriptor given");
  Fd previous(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!previous) return Error::from_errno(errno, "open(/proc/thread-self/ns/net)", "cannot remember the current network namespace");
  if (::setns(netns_fd, CLONE_NEWNET) < 0)
    return Error::from_errno(errno, "setns(CLONE_NEWNET)", "cannot enter the network namespace");
  return NetnsGuard(std::move(previous));
}

Result<NetnsGuard> NetnsGuard::enter(const std::string& path) {
  Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) {
    int err = errno;
    if (err == ENOENT) return Error(Errc::not_found, "open(" + path + ")", "no such network namespace", err);
    return Error::from_errno(err, "open(" + path + ")", "cannot open the network namespace");
  }
  return enter(ns.get());
}

NetnsGuard::~NetnsGuard() {
  // Failing to return would leave this thread in a foreign namespace; there is no caller to tell, and
  // setns into a namespace we were already in cannot fail for lack of permission.
  if (previous_) (void)::setns(previous_.get(), CLONE_NEWNET);
}

}  // namespace ebpf::netlink
