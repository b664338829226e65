// Test fixtures shared by the data-plane kernel tests (restart, dataplane, events): a private pin directory
// on bpffs that is removed with everything in it, whatever the test left there.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "support/kernel.hpp"

namespace lb::test {

// /sys/fs/bpf/<unique test name>: private to one test, removed (pins included) on destruction.
class PinDir {
 public:
  PinDir() : path_(std::string("/sys/fs/bpf/") + ebpf::test::unique_name("lb")) {}
  ~PinDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  PinDir(const PinDir&) = delete;
  PinDir& operator=(const PinDir&) = delete;
  const std::string& path() const { return path_; }
  bool exists() const { return std::filesystem::exists(path_); }
  // Number of entries (pins) in the directory; 0 when it does not exist.
  std::size_t entries() const {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(path_, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
    return n;
  }

 private:
  std::string path_;
};

}  // namespace lb::test
