// Child processes started inside network namespaces; see process.hpp.
#include "lb/demo/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "ebpf/fd.hpp"

namespace lb::demo {
namespace {

using Clock = std::chrono::steady_clock;
using ebpf::Error;

// Everything the child needs, prepared before fork() so the child only makes async-signal-safe calls.
struct ExecPlan {
  std::vector<std::string> args;
  std::vector<char*> argv;
  int netns_fd = -1;
  int out_fd = -1;
};

[[noreturn]] void exec_child(const ExecPlan& plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block signals for sigwait(); exec keeps masks
  if (plan.netns_fd >= 0 && setns(plan.netns_fd, CLONE_NEWNET) != 0) _exit(126);
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  if (plan.out_fd >= 0) {
    dup2(plan.out_fd, STDOUT_FILENO);
    dup2(plan.out_fd, STDERR_FILENO);
  }
  execvp(plan.argv[0], plan.argv.data());
  _exit(127);
}

ebpf::Result<pid_t> fork_exec(const std::vector<std::string>& argv, const std::string& netns_path, int out_fd) {
  if (argv.empty() || argv[0].empty()) return Error::invalid("spawn", "empty command");
  ExecPlan plan{.args = argv, .argv = {}, .netns_fd = -1, .out_fd = out_fd};
  for (auto& arg : plan.args) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  ebpf::Fd netns;
  if (!netns_path.empty()) {
    const int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::from_errno(errno, "spawn", "cannot open network namespace " + netns_path);
    netns = ebpf::Fd(fd);
    plan.netns_fd = netns.get();
  }
  const pid_t pid = fork();
  if (pid < 0) return Error::from_errno(errno, "spawn", "fork for " + join_command(argv));
  if (pid == 0) exec_child(plan);
  return pid;
}

// waitpid() with a deadline, polling: the children are few and the waits short.
bool wait_until(pid_t pid, int& status, Clock::time_point deadline) {
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 127) return "exit status 127 (command not found)";
    if (code == 126) return "exit status 126 (cannot enter the network namespace)";
    return "exit status " + std::to_string(code);
  }
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::string join_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  return out;
}

ebpf::Result<Child> Child::spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  const std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return Error::from_errno(errno, "spawn", "cannot open log file " + log);
  ebpf::Fd out_fd(out);
  Child child;
  child.pid_ = EBPF_TRY(fork_exec(argv, options.netns_path, out_fd.get()));
  child.name_ = argv.at(0);
  return child;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = other.pid_;
    name_ = std::move(other.name_);
    exit_status_ = other.exit_status_;
    other.pid_ = -1;
  }
  return *this;
}

bool Child::running() {
  if (pid_ < 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_status_ = status;
  pid_ = -1;
  return false;
}

ebpf::Result<void> Child::signal(int sig) const {
  if (pid_ < 0) return Error::invalid("kill", name_ + " is not running");
  if (kill(pid_, sig) != 0) return Error::from_errno(errno, "kill", "signal " + std::to_string(sig) + " to " + name_);
  return ebpf::ok();
}

int Child::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ < 0) return exit_status_;
  int status = 0;
  kill(pid_, sig);
  if (!wait_until(pid_, status, Clock::now() + grace)) {
    kill(pid_, SIGKILL);
    wait_until(pid_, status, Clock::now() + std::chrono::seconds(5));
  }
  pid_ = -1;
  exit_status_ = status;
  return status;
}

ebpf::Result<int> Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return exit_status_;
  int status = 0;
  if (!wait_until(pid_, status, Clock::now() + timeout))
    return Error(ebpf::Errc::timeout, "wait", name_ + " still running after " + std::to_string(timeout.count()) + " ms");
  pid_ = -1;
  exit_status_ = status;
  return status;
}

ebpf::Result<std::string> run_command(const std::vector<std::string>& argv, const std::string& netns_path,
                                      std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "run", "pipe for " + join_command(argv));
  ebpf::Fd read_end(fds[0]);
  ebpf::Fd write_end(fds[1]);
  const pid_t pid = EBPF_TRY(fork_exec(argv, netns_path, write_end.get()));
  write_end = ebpf::Fd();
  std::string output;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) { timed_out = true; break; }
    pollfd p{.fd = read_end.get(), .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(read_end.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  wait_until(pid, status, Clock::now() + std::chrono::seconds(5));
  if (timed_out)
    return Error(ebpf::Errc::timeout, "run", join_command(argv) + ": timed out; output: " + output);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(ebpf::Errc::io, "run", join_command(argv) + ": " + exit_text(status) + "; output: " + output);
  return output;
}

}  // namespace lb::demo
