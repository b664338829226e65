// support/clang.hpp — compiling BPF C sources with clang at test time, for tests that need a real
// clang-built object (BTF, .BTF.ext, CO-RE, struct_ops, ...). Objects from Debian packages are never
// committed; sources are small strings inside the tests.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"

namespace ebpf::test {

// Path of a clang able to target BPF (clang-19 preferred); empty when none is installed.
const std::string& bpf_clang();

// A private temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "ebpf_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `source` to dir/<name>.c and compiles it with `clang -O2 -g -target bpf -c` plus `extra_flags`
// (e.g. "-DTARGET -mcpu=v3"); returns dir/<name>.o. The compiler's output is part of the error message.
Result<std::filesystem::path> compile_bpf_c(const TempDir& dir, std::string_view name, std::string_view source,
                                            std::string_view extra_flags = {});

}  // namespace ebpf::test
