// Running test code without privileges: fork, drop every capability in the child, run a check there.
#pragma once

#include <functional>

namespace ebpf::test {

inline constexpr int kCapsetFailed = 120;
inline constexpr int kChildCrashed = 121;

// Runs `body` in a forked child whose effective, permitted and inheritable capabilities are all dropped,
// and returns the child's exit code: what `body` returned (0 = every check passed), kCapsetFailed when the
// capabilities could not be dropped, kChildCrashed when the child did not exit normally, -1 if fork failed.
int run_without_capabilities(const std::function<int()>& body);

}  // namespace ebpf::test
