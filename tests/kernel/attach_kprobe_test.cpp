// kprobes, kretprobes and kprobe_multi. This kernel is built without CONFIG_KPROBES (no kprobe PMU, no tracefs
// kprobe_events, kprobe_multi EOPNOTSUPP): the tests assert that each refusal comes back as Errc::not_supported
// with the errno and a message naming the missing feature. KPROBE programs still load.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ebpf/attach/kprobe.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

bool kernel_has_kprobes() { return std::filesystem::exists("/sys/bus/event_source/devices/kprobe/type"); }

class KprobeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    if (kernel_has_kprobes()) GTEST_SKIP() << "this kernel has kprobes: the refusal tests do not apply";
  }
};

TEST_F(KprobeTest, KprobeWithoutKprobeSupportIsExplained) {
  ASSERT_OK_AND_ASSIGN(auto c, test::counting_program(ProgType::kprobe, 0));
  for (bool ret : {false, true}) {
    auto link = attach_kprobe(c.program, "do_sys_openat2", {.retprobe = ret});
    ASSERT_FALSE(link.has_value());
    EXPECT_EQ(link.error().code(), Errc::not_supported) << link.error().to_string();
    EXPECT_EQ(link.error().sys_errno(), ENOENT);
    const auto& m = link.error().message();
    EXPECT_NE(m.find(ret ? "kretprobe on 'do_sys_openat2'" : "kprobe on 'do_sys_openat2'"), std::string::npos) << m;
    EXPECT_NE(m.find("CONFIG_KPROBES"), std::string::npos) << m;
    EXPECT_NE(m.find("no kprobe PMU"), std::string::npos) << m;
  }
  EXPECT_EQ(c.count(), 0U);
}

TEST_F(KprobeTest, KprobeMultiRefusalIsExplained) {
  ProgramLoadOptions options;
  options.expected_attach_type = AttachType::trace_kprobe_multi;
  ASSERT_OK_AND_ASSIGN(auto c, test::counting_program(ProgType::kprobe, 0, options));
  std::vector<std::string> symbols = {"do_sys_openat2", "ksys_read"};
  std::vector<std::uint64_t> cookies = {1, 2};
  auto link = attach_kprobe_multi(c.program, symbols, {.retprobe = false, .cookies = cookies});
  ASSERT_FALSE(link.has_value());
  EXPECT_EQ(link.error().code(), Errc::not_supported) << link.error().to_string();
  EXPECT_EQ(link.error().sys_errno(), EOPNOTSUPP);
  EXPECT_NE(link.error().message().find("no kprobe_multi"), std::string::npos) << link.error().to_string();
  EXPECT_NE(link.error().message().find("2 function(s)"), std::string::npos) << link.error().to_string();
}

TEST_F(KprobeTest, LockdownExplanationMatchesWhatTheKernelReports) {
  std::string mode = kernel_lockdown_mode();
  std::string why = lockdown_explanation();
  if (mode.empty())
    EXPECT_NE(why.find("securityfs is not mounted"), std::string::npos) << why;
  else
    EXPECT_NE(why.find(mode), std::string::npos) << why;
}

TEST_F(KprobeTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto c, test::counting_program(ProgType::kprobe, 0));
  auto bad_name = attach_kprobe(c.program, "../etc");
  ASSERT_FALSE(bad_name.has_value());
  EXPECT_EQ(bad_name.error().code(), Errc::invalid_argument);
  ASSERT_OK_AND_ASSIGN(auto xdp, test::counting_program(ProgType::xdp, 2));
  auto wrong_type = attach_kprobe(xdp.program, "do_sys_openat2");
  ASSERT_FALSE(wrong_type.has_value());
  EXPECT_NE(wrong_type.error().message().find("needs a kprobe program"), std::string::npos);
  auto none = attach_kprobe_multi(c.program, std::span<const std::string>());
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), Errc::invalid_argument);
  std::vector<std::string> symbols = {"a", "b"};
  std::vector<std::uint64_t> one_cookie = {1};
  auto cookies = attach_kprobe_multi(c.program, symbols, {.retprobe = false, .cookies = one_cookie});
  ASSERT_FALSE(cookies.has_value());
  EXPECT_NE(cookies.error().message().find("one cookie per symbol"), std::string::npos);
  EXPECT_EQ(cookies.error().sys_errno(), EINVAL);
}

}  // namespace
}  // namespace ebpf
