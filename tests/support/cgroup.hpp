// support/cgroup.hpp — cgroup v2 directories for tests, and running code inside one.
//
// Every test makes its own cgroup below the unified hierarchy (unique name, removed on destruction) and
// attaches only there, never to the root cgroup. Code that must run inside the cgroup runs in a forked child
// (run_in_cgroup; fd_from_cgroup when the test needs an object the child created, such as a socket), so the
// test process itself never changes cgroup and an early failure cannot leave it stranded there.
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

// Forks a child that joins `cg`, runs `body` and sends back the string it returns; the child is always
// reaped. Errc::io when the child could not join, crashed, or was killed after `timeout_ms` (bounded).
Result<std::string> run_in_cgroup(const TestCgroup& cg, const std::function<std::string()>& body,
                                  int timeout_ms = 10000);

// Forks a child that joins `cg` and calls `make_fd` (which may also enter a network namespace); the
// descriptor it returns comes back over SCM_RIGHTS: e.g. a socket this process uses, tagged with `cg`.
Result<Fd> fd_from_cgroup(const TestCgroup& cg, const std::function<int()>& make_fd, int timeout_ms = 10000);

}  // namespace ebpf::test
