// Btf::load_file maps sysfs BTF read-only instead of reading it in 4 KiB chunks: the mapped parse must see exactly
// what a copied parse of the same file sees (every type's bytes and names), and the mapping must stay valid for
// as long as any Btf or Type view of it lives.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <optional>
#include <vector>

#include "ebpf/btf.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;

constexpr const char* kVmlinux = "/sys/kernel/btf/vmlinux";

std::vector<std::byte> read_all(const char* path) {
  std::vector<std::byte> out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::byte chunk[65536];
  for (ssize_t n; (n = ::read(fd, chunk, sizeof chunk)) > 0;) out.insert(out.end(), chunk, chunk + n);
  ::close(fd);
  return out;
}

// True while this process has `path` mapped (a line of /proc/self/maps names it).
bool mapped_in_process(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0) return true;
  return false;
}

TEST(BtfSysfsMap, MappedVmlinuxEqualsCopiedParse) {
  EBPF_REQUIRE_KERNEL();
  const auto bytes = read_all(kVmlinux);
  ASSERT_GT(bytes.size(), 24u) << "cannot read " << kVmlinux;
  auto copied = Btf::parse(bytes);
  ASSERT_TRUE(copied.ok()) << copied.error().to_string();
  std::optional<Btf> mapped;
  {
    auto loaded = Btf::load_file(kVmlinux);
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    mapped = std::move(*loaded);  // the mapping must follow the moved Btf
  }
  // The kernel really mapped the file (sysfs BTF is mappable since 6.16; every machine here runs 6.18).
  EXPECT_TRUE(mapped_in_process(kVmlinux)) << "load_file did not map " << kVmlinux;
  ASSERT_EQ(mapped->type_count(), copied->type_count());
  ASSERT_GT(mapped->type_count(), 1000u);
  std::size_t differing = 0;
  for (TypeId id = 1; id < mapped->type_count(); ++id) {
    const Type a = mapped->at(id), b = copied->at(id);
    const auto ra = a.raw(), rb = b.raw();
    if (ra.size() != rb.size() || !std::equal(ra.begin(), ra.end(), rb.begin()) || a.name() != b.name()) ++differing;
  }
  EXPECT_EQ(differing, 0u);
  auto task = mapped->find("task_struct", Kind::struct_);
  ASSERT_TRUE(task.ok()) << task.error().to_string();
  EXPECT_EQ(task->name(), "task_struct");
  EXPECT_GT(task->size(), 1000u);
  mapped.reset();
  EXPECT_FALSE(mapped_in_process(kVmlinux)) << "the mapping outlived the Btf";
}

}  // namespace
