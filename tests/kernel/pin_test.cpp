// Pinning through ebpf/pin.hpp: paths on bpffs, parent creation, clear errors off bpffs.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "ebpf/pin.hpp"
#include "ebpf/syscall.hpp"
#include "ebpf/types.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;

Result<Fd> make_array() {
  sys::MapCreateAttr attr{.map_type = static_cast<std::uint32_t>(MapType::array), .key_size = 4,
                          .value_size = 4, .max_entries = 1};
  return sys::map_create(attr);
}

std::uint32_t map_id(int fd) {
  std::uint32_t info[2] = {};  // bpf_map_info: type, id
  std::uint32_t len = sizeof info;
  return sys::obj_get_info_by_fd(fd, info, len) ? info[1] : 0;
}

// Removes a test directory tree on bpffs even when the test fails midway.
struct DirGuard {
  std::string dir;
  ~DirGuard() {
    ::unlink((dir + "/sub/m").c_str());
    ::rmdir((dir + "/sub").c_str());
    ::rmdir(dir.c_str());
  }
};

TEST(Pin, PinsUnderNewDirectoriesAndReopensTheSameObject) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK(ensure_bpffs());
  EXPECT_TRUE(is_bpffs(kDefaultBpffs));
  ASSERT_OK_AND_ASSIGN(auto map, make_array());
  DirGuard guard{std::string(kDefaultBpffs) + "/" + test::unique_name()};
  auto path = guard.dir + "/sub/m";
  ASSERT_OK(pin_object(map.get(), path));
  ASSERT_OK_AND_ASSIGN(auto again, open_pinned_object(path));
  EXPECT_EQ(map_id(again.get()), map_id(map.get()));
  EXPECT_NE(map_id(map.get()), 0u);

  auto twice = pin_object(map.get(), path);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code(), Errc::key_exists);
  ASSERT_OK(pin_object(map.get(), path, {.replace = true}));

  ASSERT_OK(unpin(path));
  auto gone = open_pinned_object(path);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Errc::not_found);
  EXPECT_NE(gone.error().message().find(path), std::string::npos);
  EXPECT_EQ(unpin(path).error().code(), Errc::not_found);
}

TEST(Pin, ReadOnlyOpenRefusesUpdates) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK(ensure_bpffs());
  ASSERT_OK_AND_ASSIGN(auto map, make_array());
  DirGuard guard{std::string(kDefaultBpffs) + "/" + test::unique_name()};
  auto path = guard.dir + "/sub/m";
  ASSERT_OK(pin_object(map.get(), path));
  ASSERT_OK_AND_ASSIGN(auto ro, open_pinned_object(path, PinAccess::read_only));
  std::uint32_t key = 0, value = 1;
  auto r = sys::map_update_elem(ro.get(), &key, &value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::permission);
  EXPECT_OK(sys::map_lookup_elem(ro.get(), &key, &value));
}

TEST(Pin, PathsOffBpffsAreExplained) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array());
  auto r = pin_object(map.get(), "/tmp/" + test::unique_name());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("not on a bpffs mount"), std::string::npos);
  EXPECT_FALSE(pin_object(-1, "/sys/fs/bpf/x").ok());
  EXPECT_FALSE(pin_object(map.get(), "/sys/fs/bpf/").ok());
}

}  // namespace
