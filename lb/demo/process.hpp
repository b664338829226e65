// Child processes for the demo, the end-to-end tests and the benchmark: commands (ip, nft, nginx, wrk,
// ebpf-lb) started inside a network namespace by setns() in the child before exec — not `ip netns exec`,
// which remounts /sys and would hide bpffs from ebpf-lb. Every child gets PR_SET_PDEATHSIG so nothing
// outlives a crashed parent, and a Child object kills and reaps its process on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "ebpf/error.hpp"

namespace lb::demo {

struct SpawnOptions {
  std::string netns_path;  // /var/run/netns/NAME; empty = the caller's namespace
  std::string log_path;    // stdout and stderr go here (appended); empty = /dev/null
};

// A running child process, terminated (SIGTERM, then SIGKILL after a grace period) and reaped on destruction.
class Child {
 public:
  static ebpf::Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  Child() = default;
  ~Child() { stop(); }
  Child(Child&& other) noexcept : pid_(other.pid_), name_(std::move(other.name_)) { other.pid_ = -1; }
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  bool running();  // false once the process exited (then it is reaped)
  ebpf::Result<void> signal(int sig) const;
  // Sends `sig`, waits up to `grace` for the exit, then SIGKILLs. Returns the exit status (as waitpid gives
  // it) or -1 when there was no process.
  int stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Waits up to `timeout` for the process to exit by itself; the exit status or Errc::timeout.
  ebpf::Result<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::string name_;
  int exit_status_ = -1;
};

// Runs a command to completion (bounded by `timeout`, then killed) and returns its stdout+stderr; an error
// names the command, its exit status and its output when it does not exit with 0.
ebpf::Result<std::string> run_command(const std::vector<std::string>& argv, const std::string& netns_path = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

// `argv` joined with spaces, for messages.
std::string join_command(const std::vector<std::string>& argv);

}  // namespace lb::demo
