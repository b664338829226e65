// Bad input and refusals: wrong sizes (caught before the syscall), descriptors that are not maps, flags the
// kernel refuses, views of the wrong map, and map creation without privileges (capabilities dropped in a child).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ebpf/map.hpp"
#include "support/kernel.hpp"
#include "support/privileges.hpp"

namespace ebpf {
namespace {

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

TEST(MapErrors, WrongKeyAndValueSizesAreRefusedBeforeTheSyscall) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::hash, .name = test::unique_name("sz"), .key_size = 4,
                                               .value_size = 8, .max_entries = 4}));
  std::uint64_t wide_key = 1, value = 2;
  auto r = map.update(as_bytes_of(wide_key), as_bytes_of(value));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_EQ(r.error().operation(), "BPF_MAP_UPDATE_ELEM");
  EXPECT_TRUE(contains(r.error().message(), "key size 8 does not match the map's key size 4")) << r.error().to_string();

  std::uint32_t key = 1, narrow_value = 0;
  auto v = map.lookup(as_bytes_of(key), as_writable_bytes_of(narrow_value));
  ASSERT_FALSE(v);
  EXPECT_TRUE(contains(v.error().message(), "value size 4 does not match the map's value size 8"));

  std::vector<std::byte> keys(10), values(16);
  BatchCursor cursor;
  auto b = map.lookup_batch(cursor, keys, values);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Errc::invalid_argument);
  EXPECT_TRUE(contains(b.error().message(), "multiple of the key size 4"));
  // Nothing reached the map.
  EXPECT_EQ(map.get_next_key({}, as_writable_bytes_of(key)).error().code(), Errc::key_not_found);
}

TEST(MapErrors, ViewsCheckTypeAndSizesOnce) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto array, Map::create({.type = MapType::array, .name = test::unique_name("v"), .key_size = 4,
                                                 .value_size = 8, .max_entries = 4}));
  auto as_hash = HashMap<std::uint32_t, std::uint64_t>::from(array.clone().value());
  ASSERT_FALSE(as_hash);
  EXPECT_EQ(as_hash.error().code(), Errc::invalid_argument);
  EXPECT_TRUE(contains(as_hash.error().message(), "expected a hash map")) << as_hash.error().to_string();

  auto wrong_value = ArrayMap<std::uint32_t>::from(array.clone().value());
  ASSERT_FALSE(wrong_value);
  EXPECT_TRUE(contains(wrong_value.error().message(), "value size 8, the view's value type has 4"));
  EXPECT_TRUE(ArrayMap<std::uint64_t>::from(std::move(array)));
}

TEST(MapErrors, DescriptorsThatAreNotMaps) {
  EBPF_REQUIRE_KERNEL();
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto r = Map::from_fd(std::move(devnull));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_TRUE(contains(r.error().message(), "is not a BPF map (it is /dev/null)")) << r.error().to_string();

  // A program descriptor (mov r0, 0; exit).
  static const std::uint8_t insns[] = {0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0};
  sys::ProgLoadAttr attr;
  attr.prog_type = static_cast<std::uint32_t>(ProgType::socket_filter);
  attr.insn_cnt = 2;
  attr.insns = sys::ptr(insns);
  attr.license = sys::ptr("GPL");
  ASSERT_OK_AND_ASSIGN(auto prog, sys::prog_load(attr));
  auto p = Map::from_fd(std::move(prog));
  ASSERT_FALSE(p);
  EXPECT_TRUE(contains(p.error().message(), "bpf-prog")) << p.error().to_string();

  // A closed descriptor number.
  int closed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::close(closed);
  auto c = Map::from_fd(Fd(closed));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().sys_errno(), EBADF);
  EXPECT_TRUE(contains(c.error().message(), "is not open")) << c.error().to_string();

  auto empty = Map::from_fd(Fd());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Errc::invalid_argument);

  auto no_id = Map::from_id(0x7ffffff0);
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error().code(), Errc::not_found);
}

TEST(MapErrors, FlagsTheKernelRefusesAreExplained) {
  EBPF_REQUIRE_KERNEL();
  // preserve_elems is a known flag but only valid for perf event arrays: the kernel says EINVAL.
  auto r = Map::create({.type = MapType::hash, .name = test::unique_name("fl"), .key_size = 4, .value_size = 4,
                        .max_entries = 4, .flags = map_flags::preserve_elems});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_EQ(r.error().operation(), "BPF_MAP_CREATE");
  EXPECT_TRUE(contains(r.error().message(), "(hash)")) << r.error().to_string();
  EXPECT_TRUE(contains(r.error().message(), "flags 0x800")) << r.error().to_string();

  // Unknown bits never reach the kernel.
  auto unknown = Map::create({.type = MapType::hash, .name = "x", .key_size = 4, .value_size = 4, .max_entries = 4,
                              .flags = 1U << 31});
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(contains(unknown.error().message(), "unknown flag bits 0x80000000"));
}

TEST(MapErrors, PinningOutsideBpffsAndMissingPins) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::array, .name = test::unique_name("pn"),
                                               .key_size = 4, .value_size = 4, .max_entries = 1}));
  auto outside = map.pin("/tmp/" + test::unique_name("pin"));
  ASSERT_FALSE(outside);
  EXPECT_TRUE(contains(outside.error().message(), "pin map")) << outside.error().to_string();
  auto missing = Map::open_pinned("/sys/fs/bpf/" + test::unique_name("none"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
}

TEST(MapErrors, CreationWithoutCapabilitiesIsPermissionDenied) {
  EBPF_REQUIRE_KERNEL();
  auto name = test::unique_name("cap");
  int code = test::run_without_capabilities([&] {
    auto r = Map::create({.type = MapType::hash, .name = name, .key_size = 4, .value_size = 4, .max_entries = 1});
    if (r) return 3;
    bool expected = r.error().code() == Errc::permission && r.error().sys_errno() == EPERM &&
                    r.error().message().find("CAP_BPF") != std::string::npos;
    return expected ? 0 : 4;
  });
  EXPECT_EQ(code, 0) << "3: created without privileges, 4: wrong error";
}

}  // namespace
}  // namespace ebpf
