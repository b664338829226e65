// System facts parsers: CPU lists and kernel release strings, and the memlock policy by version.
#include <gtest/gtest.h>

#include "ebpf/system.hpp"

namespace ebpf {
namespace {

TEST(CpuList, CountsSinglesAndRanges) {
  EXPECT_EQ(parse_cpu_list("0").value(), 1U);
  EXPECT_EQ(parse_cpu_list("0-1").value(), 2U);
  EXPECT_EQ(parse_cpu_list("0-1,3").value(), 3U);
  EXPECT_EQ(parse_cpu_list("0,2,4-7\n").value(), 6U);
  EXPECT_EQ(parse_cpu_list("0-127").value(), 128U);
}

TEST(CpuList, RejectsMalformedLists) {
  for (std::string_view bad : {"", "\n", "a", "0-", "3-1", "0,,1", "0-1;2", "-1"}) {
    auto r = parse_cpu_list(bad);
    ASSERT_FALSE(r) << "'" << bad << "' was accepted";
    EXPECT_EQ(r.error().code(), Errc::bad_format);
    EXPECT_NE(r.error().message().find('\''), std::string::npos) << r.error().to_string();
  }
}

TEST(CpuList, PossibleCpusOfThisMachineIsPositiveAndCached) {
  auto first = possible_cpus();
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_GE(*first, 1U);
  EXPECT_EQ(possible_cpus().value(), *first);
}

TEST(KernelRelease, ParsesDistributionSuffixes) {
  auto v = parse_kernel_release("6.18.44-fc-v769").value();
  EXPECT_EQ(v, (KernelVersion{6, 18, 44}));
  EXPECT_EQ(parse_kernel_release("5.10").value(), (KernelVersion{5, 10, 0}));
  EXPECT_EQ(parse_kernel_release("4.19.0+").value(), (KernelVersion{4, 19, 0}));
  EXPECT_EQ(v.to_string(), "6.18.44");
  EXPECT_EQ((KernelVersion{5, 4, 300}).code(), (5U << 16) | (4U << 8) | 255U);
}

TEST(KernelRelease, RejectsGarbage) {
  for (std::string_view bad : {"", "six", "6", "6.", "6.x"}) {
    auto r = parse_kernel_release(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Errc::bad_format);
  }
}

TEST(Memlock, OnlyKernelsBefore511AreCharged) {
  EXPECT_TRUE(kernel_charges_memlock({5, 10, 200}));
  EXPECT_TRUE(kernel_charges_memlock({4, 19, 0}));
  EXPECT_FALSE(kernel_charges_memlock({5, 11, 0}));
  EXPECT_FALSE(kernel_charges_memlock({6, 18, 44}));
}

TEST(Memlock, RaiseIsANoOpOnThisKernel) {
  auto version = kernel_version();
  ASSERT_TRUE(version);
  EXPECT_TRUE(raise_memlock_limit().has_value());
}

TEST(PageSize, IsAPowerOfTwo) {
  auto page = page_size();
  EXPECT_GE(page, 4096U);
  EXPECT_EQ(page & (page - 1), 0U);
}

}  // namespace
}  // namespace ebpf
