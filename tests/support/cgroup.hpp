// support/cgroup.hpp — cgroup v2 directories for tests, and running code inside one.
//
// Every test makes its own cgroup below the unified hierarchy (unique name, removed on destruction) and
// attaches only there, never to the root cgroup. Code that must run inside the cgroup runs in a forked child
// (run_in_cgroup), so the test process itself never changes cgroup and an early failure cannot leave it
// stranded there. InCgroup (moving this process for a scope) remains for tests whose kernel objects must be
// created by this very process.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace ebpf::test {

inline constexpr const char* kCgroupRoot = "/sys/fs/cgroup/unified";

// A cgroup v2 directory for one test, removed on destruction (it must be empty by then).
struct TestCgroup {
  std::string path;
  Fd fd;  // O_RDONLY | O_DIRECTORY: what attach_cgroup takes
  TestCgroup() = default;
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;
  ~TestCgroup();
};

// mkdir parent/<unique name with `prefix`> and open it.
Result<std::unique_ptr<TestCgroup>> make_cgroup(const std::string& parent = kCgroupRoot,
                                                std::string_view prefix = "cg");

// This process's cgroup v2 directory (kCgroupRoot + the "0::" line of /proc/self/cgroup).
std::string current_cgroup();
// Moves this whole process into the cgroup directory `dir`.
bool move_self_to(const std::string& dir);

// While alive, this process runs inside `cg`; destruction moves it back to where it was.
class InCgroup {
 public:
  explicit InCgroup(const TestCgroup& cg);
  ~InCgroup();
  InCgroup(const InCgroup&) = delete;
  InCgroup& operator=(const InCgroup&) = delete;
  bool joined() const { return joined_; }

 private:
  std::string home_;
  bool joined_ = false;
};

// Forks a child that joins `cg`, runs `body` and sends back the string it returns; the child is always
// reaped. Errc::io when the child could not join, crashed, or was killed after `timeout_ms` (bounded).
Result<std::string> run_in_cgroup(const TestCgroup& cg, const std::function<std::string()>& body,
                                  int timeout_ms = 10000);

}  // namespace ebpf::test
