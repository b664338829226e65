// Helpers for the ELF/object tests: compile small BPF C programs with clang at test time and read files.
// clang missing is a skip locally and a failure under CI=true (CI must never pass by skipping).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ebpf::test {

// A common prelude so test sources need no system headers (bpf_helpers.h-like macros).
inline constexpr const char* kBpfPrelude = R"(
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define __ksym __attribute__((section(".ksyms")))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
#define __noinline __attribute__((noinline))
typedef unsigned char __u8; typedef unsigned int __u32; typedef unsigned long long __u64; typedef int __s32;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *)12;
static long (*bpf_loop)(__u32 nr, void *cb, void *ctx, __u64 flags) = (void *)181;
struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
struct __sk_buff { __u32 len; };
)";

inline std::string clang_path() {
  for (const char* c : {"/usr/bin/clang", "/usr/bin/clang-19", "/usr/bin/clang-14"})
    if (::access(c, X_OK) == 0) return c;
  return {};
}

inline std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Compiles `source` (prelude prepended) with `clang -O2 -g -target <target> -c`; returns the object bytes,
// or empty with `error` set.
inline std::vector<std::byte> compile_bpf(const std::string& source, std::string& error,
                                          const std::string& target = "bpfel",
                                          const std::string& extra_flags = "") {
  std::string clang = clang_path();
  if (clang.empty()) {
    error = "clang not found";
    return {};
  }
  char dir_template[] = "/tmp/ebpf-elf-test-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    error = "mkdtemp failed";
    return {};
  }
  std::filesystem::path dir = dir_template;
  {
    std::ofstream(dir / "prog.c") << kBpfPrelude << source;
  }
  std::string cmd = clang + " -O2 -g -target " + target + " " + extra_flags + " -c " + (dir / "prog.c").string() +
                    " -o " + (dir / "prog.o").string() + " 2> " + (dir / "err.txt").string();
  int rc = std::system(cmd.c_str());
  std::vector<std::byte> out;
  if (rc != 0) {
    std::ifstream in(dir / "err.txt");
    error = "clang failed: " + std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  } else {
    out = read_file(dir / "prog.o");
  }
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace ebpf::test

// Compiles `src` into `var` (a std::vector<std::byte>) or skips/fails the test when clang is unavailable.
#define EBPF_COMPILE_BPF(var, source, ...)                                                              \
  std::vector<std::byte> var;                                                                  \
  do {                                                                                         \
    if (::ebpf::test::clang_path().empty()) {                                                  \
      if (::ebpf::test::running_in_ci()) FAIL() << "clang is required under CI";               \
      GTEST_SKIP() << "clang not installed";                                                   \
    }                                                                                          \
    std::string ebpf_clang_err_;                                                               \
    var = ::ebpf::test::compile_bpf(source, ebpf_clang_err_ __VA_OPT__(, ) __VA_ARGS__);      \
    ASSERT_FALSE(var.empty()) << ebpf_clang_err_;                                              \
  } while (0)
