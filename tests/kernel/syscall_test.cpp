// The raw bpf() layer against the real kernel: each wrapper does what the command says.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include <unistd.h>

#include "ebpf/insn.hpp"
#include "ebpf/syscall.hpp"
#include "ebpf/types.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;

Result<Fd> make_array(std::uint32_t entries, std::uint32_t flags = 0) {
  sys::MapCreateAttr attr{.map_type = static_cast<std::uint32_t>(MapType::array), .key_size = 4,
                          .value_size = 8, .max_entries = entries, .map_flags = flags};
  std::strcpy(attr.map_name, "et_sys");
  return sys::map_create(attr);
}

// r0 = 2 (XDP_PASS); exit
constexpr Insn kReturn2[] = {{.code = 0xb7, .dst = 0, .imm = 2}, {.code = 0x95}};

Result<Fd> load_xdp(std::span<const Insn> insns) {
  static const char license[] = "GPL";
  sys::ProgLoadAttr attr{.prog_type = static_cast<std::uint32_t>(ProgType::xdp),
                         .insn_cnt = static_cast<std::uint32_t>(insns.size()),
                         .insns = sys::ptr(insns.data()), .license = sys::ptr(license)};
  return sys::prog_load(attr);
}

TEST(Syscall, MapElementRoundTrip) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array(4));
  std::uint32_t key = 2;
  std::uint64_t value = 0x1122334455667788, out = 0;
  ASSERT_OK(sys::map_update_elem(map.get(), &key, &value));
  ASSERT_OK(sys::map_lookup_elem(map.get(), &key, &out));
  EXPECT_EQ(out, value);
  std::uint32_t next = 99;
  ASSERT_OK(sys::map_get_next_key(map.get(), nullptr, &next));
  EXPECT_EQ(next, 0u);
  key = 3;
  auto end = sys::map_get_next_key(map.get(), &key, &next);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), Errc::key_not_found);
  EXPECT_EQ(end.error().operation(), "BPF_MAP_GET_NEXT_KEY");
}

TEST(Syscall, OutOfRangeKeyAndFrozenMapGiveKernelErrors) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array(1));
  std::uint32_t key = 7;
  std::uint64_t value = 1;
  auto r = sys::map_update_elem(map.get(), &key, &value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sys_errno(), E2BIG);
  ASSERT_OK(sys::map_freeze(map.get()));
  key = 0;
  auto frozen = sys::map_update_elem(map.get(), &key, &value);
  ASSERT_FALSE(frozen.ok());
  EXPECT_EQ(frozen.error().sys_errno(), EPERM);
}

TEST(Syscall, BatchLookupReturnsEveryEntry) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array(16));
  for (std::uint32_t k = 0; k < 16; ++k) {
    std::uint64_t v = k * 10;
    ASSERT_OK(sys::map_update_elem(map.get(), &k, &v));
  }
  std::uint32_t keys[16], out_batch = 0;
  std::uint64_t values[16];
  sys::MapBatchAttr attr{.out_batch = sys::ptr(&out_batch), .keys = sys::ptr(keys), .values = sys::ptr(values),
                         .count = 16, .map_fd = static_cast<std::uint32_t>(map.get())};
  auto r = sys::map_batch(sys::Cmd::map_lookup_batch, attr);
  // An array lookup batch that reaches the end reports ENOENT with the count filled in.
  if (!r.ok()) {
    EXPECT_EQ(r.error().sys_errno(), ENOENT);
  }
  ASSERT_EQ(attr.count, 16u);
  for (std::uint32_t i = 0; i < 16; ++i) EXPECT_EQ(values[i], keys[i] * 10ull);
}

TEST(Syscall, ProgLoadAndTestRun) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, load_xdp(kReturn2));
  std::uint8_t packet[64] = {}, out[64] = {};
  sys::TestRunAttr attr{.prog_fd = static_cast<std::uint32_t>(prog.get()), .data_size_in = sizeof packet,
                        .data_size_out = sizeof out, .data_in = sys::ptr(packet), .data_out = sys::ptr(out),
                        .repeat = 10};
  ASSERT_OK(sys::prog_test_run(attr));
  EXPECT_EQ(attr.retval, 2u);
  EXPECT_EQ(attr.data_size_out, sizeof packet);
}

TEST(Syscall, ProgLoadRejectsUninitialisedR0) {
  EBPF_REQUIRE_KERNEL();
  constexpr Insn bad[] = {{.code = 0x95}};
  auto r = load_xdp(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sys_errno(), EACCES);
  EXPECT_EQ(r.error().operation(), "BPF_PROG_LOAD");
}

TEST(Syscall, InfoIdsAndFdById) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array(3));
  // struct bpf_map_info begins: type, id, key_size, value_size, max_entries, map_flags, name[16].
  struct {
    std::uint32_t type, id, key_size, value_size, max_entries, map_flags;
    char name[16];
  } info{};
  std::uint32_t len = sizeof info;
  ASSERT_OK(sys::obj_get_info_by_fd(map.get(), &info, len));
  EXPECT_EQ(info.type, static_cast<std::uint32_t>(MapType::array));
  EXPECT_EQ(info.max_entries, 3u);
  EXPECT_STREQ(info.name, "et_sys");
  ASSERT_OK_AND_ASSIGN(auto again, sys::get_fd_by_id(sys::ObjKind::map, info.id));
  decltype(info) info2{};
  len = sizeof info2;
  ASSERT_OK(sys::obj_get_info_by_fd(again.get(), &info2, len));
  EXPECT_EQ(info2.id, info.id);
  // The id is reachable by walking the id space.
  bool seen = false;
  for (std::uint32_t id = 0;;) {
    auto next = sys::get_next_id(sys::ObjKind::map, id);
    if (!next) break;
    id = *next;
    if (id == info.id) seen = true;
  }
  EXPECT_TRUE(seen);
  auto missing = sys::get_fd_by_id(sys::ObjKind::map, 0xfffffff0u);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
}

TEST(Syscall, PinAndGet) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make_array(1));
  std::string path = "/sys/fs/bpf/" + test::unique_name("_pin");
  ASSERT_OK(sys::obj_pin(map.get(), path.c_str()));
  auto got = sys::obj_get(path.c_str());
  ::unlink(path.c_str());
  ASSERT_OK(got);
  std::uint32_t key = 0;
  std::uint64_t v = 5, out = 0;
  ASSERT_OK(sys::map_update_elem(map.get(), &key, &v));
  ASSERT_OK(sys::map_lookup_elem(got->get(), &key, &out));
  EXPECT_EQ(out, 5u);
  auto none = sys::obj_get("/sys/fs/bpf/et_definitely_missing");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().sys_errno(), ENOENT);
}

TEST(Syscall, BadDescriptorIsNamed) {
  EBPF_REQUIRE_KERNEL();
  std::uint32_t key = 0;
  std::uint64_t v = 0;
  auto r = sys::map_lookup_elem(-1, &key, &v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sys_errno(), EBADF);
  EXPECT_NE(r.error().to_string().find("BPF_MAP_LOOKUP_ELEM"), std::string::npos);
}

TEST(Syscall, EnableStatsReturnsAnFd) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto stats, sys::enable_stats());
  EXPECT_TRUE(stats.valid());
}

}  // namespace
