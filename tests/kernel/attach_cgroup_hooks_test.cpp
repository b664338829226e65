// cgroup hooks with real events from this process moved into a cgroup the test creates: a cgroup_sysctl
// program sees and denies a sysctl read, a cgroup_device program sees and denies mknod of a device node. Each
// program counts its runs; link and PROG_ATTACH (multi) paths. The process always returns to its own cgroup.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>

#include "ebpf/attach/cgroup.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/clang.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup/unified";

struct TestCgroup {
  std::string path;
  Fd fd;
  ~TestCgroup() {
    fd.reset();
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

Result<std::unique_ptr<TestCgroup>> make_cgroup() {
  auto cg = std::make_unique<TestCgroup>();
  auto path = std::string(kCgroupRoot) + "/" + test::unique_name("hk");
  if (::mkdir(path.c_str(), 0755) < 0) return Error::from_errno(errno, "mkdir(" + path + ")");
  cg->path = path;
  cg->fd = Fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg->fd) return Error::from_errno(errno, "open(" + path + ")");
  return cg;
}

bool move_self_to(const std::string& dir) {
  std::ofstream out(dir + "/cgroup.procs");
  out << ::getpid() << std::flush;
  return out.good();
}

// While alive, this process runs inside the test cgroup; destruction moves it back home.
class InCgroup {
 public:
  explicit InCgroup(const TestCgroup& cg) {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line))
      if (line.starts_with("0::")) home_ = std::string(kCgroupRoot) + line.substr(3);
    joined_ = !home_.empty() && move_self_to(cg.path);
  }
  ~InCgroup() {
    if (joined_) move_self_to(home_);
  }
  bool joined() const { return joined_; }

 private:
  std::string home_;
  bool joined_ = false;
};

// errno of reading `path` (0 on success): the sysctl hook runs on read(), not on open().
int open_errno(const char* path) {
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return errno;
  char buf[64];
  return ::read(fd.get(), buf, sizeof buf) < 0 ? errno : 0;
}

class CgroupHooksTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto cg = make_cgroup();
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
    int inside = 0;
    {
      InCgroup in(*cgroup_);
      ASSERT_TRUE(in.joined());
      inside = open_errno("/proc/sys/kernel/ostype");
    }
    EXPECT_EQ(inside, EPERM) << name(mode);
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
    int rc = 0, err = 0;
    {
      InCgroup in(*cgroup_);
      ASSERT_TRUE(in.joined());
      rc = ::mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 3));
      err = errno;
    }
    EXPECT_EQ(rc, -1) << name(mode);
    EXPECT_EQ(err, EPERM);
    EXPECT_GE(deny.count(), before + 1);
    ASSERT_OK(link.detach());
    ::unlink(node.c_str());
  }
  // Detached: the same mknod inside the cgroup works.
  {
    InCgroup in(*cgroup_);
    ASSERT_TRUE(in.joined());
    EXPECT_EQ(::mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 3)), 0) << errno;
  }
  ::unlink(node.c_str());
}

}  // namespace
}  // namespace ebpf
