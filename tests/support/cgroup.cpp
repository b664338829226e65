// cgroup v2 helpers for tests (see cgroup.hpp).
#include "support/cgroup.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

std::string current_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("0::")) return std::string(kCgroupRoot) + line.substr(3);
  return kCgroupRoot;
}

bool move_self_to(const std::string& dir) {
  std::ofstream out(dir + "/cgroup.procs");
  out << ::getpid() << std::flush;
  return out.good();
}

InCgroup::InCgroup(const TestCgroup& cg) : home_(current_cgroup()) { joined_ = move_self_to(cg.path); }

InCgroup::~InCgroup() {
  if (joined_) move_self_to(home_);
}

Result<std::string> run_in_cgroup(const TestCgroup& cg, const std::function<std::string()>& body, int timeout_ms) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
  Fd read_end(p[0]), write_end(p[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(errno, "fork");
  if (pid == 0) {
    read_end.reset();
    // Exit code 2: could not join. Only async-signal-safe-ish work before body: a write to cgroup.procs.
    std::string procs = cg.path + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(2);  // "0": the writing process itself
    ::close(fd);
    std::string out = body();
    std::size_t done = 0;
    while (done < out.size()) {
      auto n = ::write(write_end.get(), out.data() + done, out.size() - done);
      if (n <= 0) ::_exit(3);
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  write_end.reset();
  std::string out;
  char buf[512];
  bool timed_out = false;
  for (;;) {
    pollfd pfd{read_end.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    auto n = ::read(read_end.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) return Error(Errc::io, "run_in_cgroup", "the child timed out in " + cg.path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(Errc::io, "run_in_cgroup",
                 "the child in " + cg.path + " failed (status " + std::to_string(status) +
                     (WIFEXITED(status) && WEXITSTATUS(status) == 2 ? ": could not join the cgroup)" : ")"));
  return out;
}

}  // namespace ebpf::test
