// cgroup hooks with real events from a child process inside a cgroup the test creates: a cgroup_sysctl
// program sees and denies a sysctl read, a cgroup_device program sees and denies mknod of a device node. Each
// program counts its runs; link and PROG_ATTACH (multi) paths. The test process itself never changes cgroup.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ebpf/attach/cgroup.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/clang.hpp"
#include "support/cgroup.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

using test::TestCgroup;

// errno of reading `path` (0 on success): the sysctl hook runs on read(), not on open().
int open_errno(const char* path) {
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return errno;
  char buf[64];
  return ::read(fd.get(), buf, sizeof buf) < 0 ? errno : 0;
}

// "<mknod's return value> <errno>" for a /dev/null-like node at `node`.
std::string mknod_result(const std::string& node) {
  int rc = ::mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 3));
  return std::to_string(rc) + " " + std::to_string(rc < 0 ? errno : 0);
}

class CgroupHooksTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto cg = test::make_cgroup(test::kCgroupRoot, "hk");
    ASSERT_OK(cg);
    cgroup_ = std::move(*cg);
  }
  std::unique_ptr<TestCgroup> cgroup_;
};

TEST_F(CgroupHooksTest, SysctlReadIsSeenAndDenied) {
  ProgramLoadOptions options;
  options.name = "et_sysctl";
  options.expected_attach_type = AttachType::cgroup_sysctl;
  ASSERT_OK_AND_ASSIGN(auto deny, test::counting_program(ProgType::cgroup_sysctl, 0, options));
  for (auto mode : {CgroupAttachMode::link, CgroupAttachMode::multi}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(deny.program, cgroup_->fd.get(), AttachType::cgroup_sysctl, {mode, -1}));
    auto before = deny.count();
    ASSERT_OK_AND_ASSIGN(auto inside, test::run_in_cgroup(*cgroup_, [] {
      return std::to_string(open_errno("/proc/sys/kernel/ostype"));
    }));
    EXPECT_EQ(inside, std::to_string(EPERM)) << name(mode);
    EXPECT_EQ(deny.count(), before + 1);
    EXPECT_EQ(open_errno("/proc/sys/kernel/ostype"), 0);  // outside the cgroup: allowed, not seen
    EXPECT_EQ(deny.count(), before + 1);
    ASSERT_OK(link.detach());
  }
}

TEST_F(CgroupHooksTest, DeviceProgramDeniesMknod) {
  ProgramLoadOptions options;
  options.name = "et_device";
  options.expected_attach_type = AttachType::cgroup_device;
  ASSERT_OK_AND_ASSIGN(auto deny, test::counting_program(ProgType::cgroup_device, 0, options));
  test::TempDir dir("et_cgdev");
  auto node = (dir.path() / "null").string();
  for (auto mode : {CgroupAttachMode::link, CgroupAttachMode::multi}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(deny.program, cgroup_->fd.get(), AttachType::cgroup_device, {mode, -1}));
    auto before = deny.count();
    ASSERT_OK_AND_ASSIGN(auto result, test::run_in_cgroup(*cgroup_, [&] { return mknod_result(node); }));
    EXPECT_EQ(result, "-1 " + std::to_string(EPERM)) << name(mode);
    EXPECT_GE(deny.count(), before + 1);
    ASSERT_OK(link.detach());
    ::unlink(node.c_str());
  }
  // Detached: the same mknod inside the cgroup works.
  ASSERT_OK_AND_ASSIGN(auto result, test::run_in_cgroup(*cgroup_, [&] { return mknod_result(node); }));
  EXPECT_EQ(result, "0 0");
  ::unlink(node.c_str());
}

}  // namespace
}  // namespace ebpf
