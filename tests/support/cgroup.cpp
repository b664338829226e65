// cgroup v2 helpers for tests (see cgroup.hpp).
#include "support/cgroup.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "support/kernel.hpp"

namespace ebpf::test {

TestCgroup::~TestCgroup() {
  fd.reset();
  if (!path.empty()) ::rmdir(path.c_str());
}

Result<std::unique_ptr<TestCgroup>> make_cgroup(const std::string& parent, std::string_view prefix) {
  auto cg = std::make_unique<TestCgroup>();
  auto path = parent + "/" + unique_name(prefix);
  if (::mkdir(path.c_str(), 0755) < 0) return Error::from_errno(errno, "mkdir(" + path + ")");
  cg->path = path;
  cg->fd = Fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg->fd) return Error::from_errno(errno, "open(" + path + ")");
  return cg;
}

namespace {

// A child that joined the cgroup, and this process's end of a socketpair to it.
struct Child {
  pid_t pid = -1;
  Fd channel;
};

// Forks a child that joins `cg` (exit code 2 if it cannot) and exits with body(its end of the channel).
Result<Child> fork_into(const TestCgroup& cg, const std::function<int(int channel)>& body) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return Error::from_errno(errno, "socketpair");
  Fd mine(sv[0]), theirs(sv[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(errno, "fork");
  if (pid == 0) {
    mine.reset();
    std::string procs = cg.path + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(2);  // "0": the writing process itself
    ::close(fd);
    ::_exit(body(theirs.get()));
  }
  return Child{pid, std::move(mine)};
}

// Waits until the channel has data or is closed; false on timeout.
bool wait_readable(const Fd& channel, int timeout_ms) {
  pollfd pfd{channel.get(), POLLIN, 0};
  return ::poll(&pfd, 1, timeout_ms) > 0;
}

// Reaps the child (killing it first when `kill_it`); an error unless it exited with 0.
Result<void> reap(pid_t pid, const TestCgroup& cg, bool kill_it) {
  if (kill_it) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (kill_it) return Error(Errc::io, "run_in_cgroup", "the child timed out in " + cg.path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(Errc::io, "run_in_cgroup",
                 "the child in " + cg.path + " failed (status " + std::to_string(status) +
                     (WIFEXITED(status) && WEXITSTATUS(status) == 2 ? ": could not join the cgroup)" : ")"));
  return {};
}

}  // namespace

Result<std::string> run_in_cgroup(const TestCgroup& cg, const std::function<std::string()>& body, int timeout_ms) {
  auto child = EBPF_TRY(fork_into(cg, [&](int channel) {
    std::string out = body();
    for (std::size_t done = 0; done < out.size();) {
      auto n = ::write(channel, out.data() + done, out.size() - done);
      if (n <= 0) return 3;
      done += static_cast<std::size_t>(n);
    }
    return 0;
  }));
  std::string out;
  char buf[512];
  bool timed_out = false;
  for (;;) {
    if (!wait_readable(child.channel, timeout_ms)) {
      timed_out = true;
      break;
    }
    auto n = ::read(child.channel.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  EBPF_TRY(reap(child.pid, cg, timed_out));
  return out;
}

namespace {
// One data byte plus room for one SCM_RIGHTS descriptor: the message both ends of fd_from_cgroup use.
// msg points into the object itself, so it is neither copied nor moved.
struct FdMessage {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};
}  // namespace

Result<Fd> fd_from_cgroup(const TestCgroup& cg, const std::function<int()>& make_fd, int timeout_ms) {
  auto child = EBPF_TRY(fork_into(cg, [&](int channel) {
    int fd = make_fd();
    if (fd < 0) return 4;
    FdMessage m;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    return ::sendmsg(channel, &m.msg, 0) == 1 ? 0 : 5;
  }));
  Fd received;
  bool timed_out = !wait_readable(child.channel, timeout_ms);
  if (!timed_out) {
    FdMessage m;
    if (::recvmsg(child.channel.get(), &m.msg, MSG_CMSG_CLOEXEC) == 1) {
      cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
      if (cmsg != nullptr && cmsg->cmsg_type == SCM_RIGHTS) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
        received = Fd(fd);
      }
    }
  }
  EBPF_TRY(reap(child.pid, cg, timed_out));
  if (!received) return Error(Errc::io, "fd_from_cgroup", "the child in " + cg.path + " sent no descriptor");
  return received;
}

}  // namespace ebpf::test
