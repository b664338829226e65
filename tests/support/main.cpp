// Test main: runs every test with a file-descriptor leak check.
//
// A listener counts the open descriptors of the process before and after each test; a test that ends with
// more than it started with is reported (by name) as a failure when the suite tears down.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "ebpf/pin.hpp"

#include <string>
#include <vector>

namespace {

int count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

std::vector<std::string>& leaks() {
  static std::vector<std::string> list;
  return list;
}

class FdLeakListener : public testing::EmptyTestEventListener {
  int before_ = 0;
  void OnTestStart(const testing::TestInfo&) override { before_ = count_open_fds(); }
  void OnTestEnd(const testing::TestInfo& info) override {
    int after = count_open_fds();
    if (after > before_)
      leaks().push_back(std::string(info.test_suite_name()) + "." + info.name() + " leaked " +
                        std::to_string(after - before_) + " file descriptor(s)");
  }
};

class FdLeakReport : public testing::Environment {
  void TearDown() override {
    for (const auto& leak : leaks()) ADD_FAILURE() << leak;
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // Kernel tests pin objects under /sys/fs/bpf; some machines boot without bpffs mounted there.
  if (::geteuid() == 0) (void)ebpf::ensure_bpffs();
  testing::UnitTest::GetInstance()->listeners().Append(new FdLeakListener);
  testing::AddGlobalTestEnvironment(new FdLeakReport);
  return RUN_ALL_TESTS();
}
