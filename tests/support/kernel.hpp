// Test gating for tests that need root and a real kernel.
//
// EBPF_REQUIRE_KERNEL() at the top of a kernel test: when the process cannot use bpf() (not root, no
// CAP_BPF/CAP_SYS_ADMIN, bpf() disabled), the test is skipped with the reason — unless CI=true, where it
// fails instead, because CI must never pass by skipping.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ebpf/error.hpp"

namespace ebpf::test {

// Empty when the kernel can be used for tests; otherwise why not.
std::string kernel_unavailable_reason();
bool in_ci();

// A unique short name for kernel objects made by a test ("et<pid>x<counter><suffix>"), so tests can run in
// parallel and stale objects from crashed runs can be recognised by the "et" prefix.
std::string unique_name(std::string_view suffix = "");

}  // namespace ebpf::test

#define EBPF_REQUIRE_KERNEL()                                                    \
  do {                                                                           \
    auto ebpf_reason_ = ::ebpf::test::kernel_unavailable_reason();               \
    if (!ebpf_reason_.empty()) {                                                 \
      if (::ebpf::test::in_ci()) FAIL() << "kernel test cannot run in CI: " << ebpf_reason_; \
      GTEST_SKIP() << ebpf_reason_;                                              \
    }                                                                            \
  } while (0)

// Asserts a Result is ok, printing the library's error otherwise; evaluates to nothing.
#define ASSERT_OK(expr)                                                          \
  do {                                                                           \
    const auto& ebpf_r_ = (expr);                                                \
    ASSERT_TRUE(ebpf_r_.has_value()) << ebpf_r_.error().to_string();             \
  } while (0)
#define EXPECT_OK(expr)                                                          \
  do {                                                                           \
    const auto& ebpf_r_ = (expr);                                                \
    EXPECT_TRUE(ebpf_r_.has_value()) << ebpf_r_.error().to_string();             \
  } while (0)
// Unwraps a Result into `lhs` or fails the test: ASSERT_OK_AND_ASSIGN(auto map, Map::create(spec));
#define EBPF_CONCAT_INNER_(a, b) a##b
#define EBPF_CONCAT_(a, b) EBPF_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(EBPF_CONCAT_(ebpf_res_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)                               \
  auto tmp = (expr);                                                             \
  ASSERT_TRUE(tmp.has_value()) << tmp.error().to_string();                       \
  lhs = std::move(tmp).value()
