// Every special map type created against the real kernel and exercised from user space where the kernel
// allows it: queue/stack order, bloom filter membership, prog array and map-in-map ids, device/cpu maps,
// socket maps (cookies), local storage (with a hand-made BTF blob), perf event array, ring buffers, arena.
// struct_ops needs a vmlinux value type and a struct_ops program: its creation is tested with the attach code.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "ebpf/map.hpp"
#include "ebpf/system.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

Result<Map> make(MapType type, std::uint32_t key, std::uint32_t value, std::uint32_t entries,
                 std::uint32_t flags = 0) {
  return Map::create({.type = type, .name = test::unique_name("t"), .key_size = key, .value_size = value,
                      .max_entries = entries, .flags = flags});
}

// A socket-filter program returning 0, loaded directly through sys:: (mov r0, 0; exit).
Result<Fd> trivial_program() {
  static const std::uint8_t insns[] = {0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0};
  static const char license[] = "GPL";
  sys::ProgLoadAttr attr;
  attr.prog_type = static_cast<std::uint32_t>(ProgType::socket_filter);
  attr.insn_cnt = 2;
  attr.insns = sys::ptr(insns);
  attr.license = sys::ptr(license);
  return sys::prog_load(attr);
}

std::uint32_t object_id(int fd) {
  struct {
    std::uint32_t type, id;
  } info{};
  std::uint32_t len = sizeof info;
  EXPECT_TRUE(sys::obj_get_info_by_fd(fd, &info, len));
  return info.id;
}

// BTF built by hand: [1] int, [2] struct val { int a; int b; }, [3] struct bpf_spin_lock { int val; },
// [4] struct lv { struct bpf_spin_lock lock; int data; }.
Result<Fd> int_pair_btf() {
  const char strings[] = "\0int\0val\0a\0b\0bpf_spin_lock\0lock\0data\0lv";  // int=1 val=5 a=9 b=11 ...=13 27 32 37
  std::vector<std::uint32_t> types = {
      1,  1U << 24,       4, (1U << 24) | 32,          // [1] INT "int", size 4, signed, 32 bits
      5,  (4U << 24) | 2, 8, 9, 1, 0, 11, 1, 32,       // [2] STRUCT "val" size 8: a @0, b @32 bits
      13, (4U << 24) | 1, 4, 5, 1, 0,                  // [3] STRUCT "bpf_spin_lock" size 4: val @0
      37, (4U << 24) | 2, 8, 27, 3, 0, 32, 1, 32,      // [4] STRUCT "lv" size 8: lock @0, data @32
  };
  std::vector<std::byte> blob(24 + types.size() * 4 + sizeof strings);
  struct {
    std::uint16_t magic = 0xeB9F;
    std::uint8_t version = 1, flags = 0;
    std::uint32_t hdr_len = 24, type_off = 0, type_len, str_off, str_len;
  } header;
  header.type_len = static_cast<std::uint32_t>(types.size() * 4);
  header.str_off = header.type_len;
  header.str_len = sizeof strings;
  std::memcpy(blob.data(), &header, 24);
  std::memcpy(blob.data() + 24, types.data(), header.type_len);
  std::memcpy(blob.data() + 24 + header.type_len, strings, sizeof strings);
  sys::BtfLoadAttr attr;
  attr.btf = sys::ptr(blob.data());
  attr.btf_size = static_cast<std::uint32_t>(blob.size());
  return sys::btf_load(attr);
}

std::uint32_t object_id_of_btf(int fd) {
  struct {
    std::uint64_t btf;
    std::uint32_t btf_size, id;
  } info{};
  std::uint32_t len = sizeof info;
  EXPECT_TRUE(sys::obj_get_info_by_fd(fd, &info, len));
  return info.id;
}

struct IntPair {
  std::int32_t a, b;
};

std::uint64_t socket_cookie(int fd) {
  std::uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  EXPECT_EQ(::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
  return cookie;
}

Fd bound_udp_socket(bool reuseport = false) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int one = 1;
  if (reuseport) ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return sock;
}

TEST(MapQueue, PopsInFifoOrderAndOverwritesOldestWhenAsked) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto queue, QueueMap<std::uint32_t>::create(test::unique_name("q"), 3));
  for (std::uint32_t v : {1, 2, 3}) ASSERT_OK(queue.push(v));
  auto full = queue.push(4);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::no_space);
  ASSERT_OK(queue.push(4, /*overwrite=*/true));  // drops 1
  EXPECT_EQ(queue.peek().value(), 2U);
  EXPECT_EQ(queue.pop().value(), 2U);
  EXPECT_EQ(queue.pop().value(), 3U);
  EXPECT_EQ(queue.pop().value(), 4U);
  auto empty = queue.pop();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Errc::key_not_found);
}

TEST(MapStack, PopsInLifoOrder) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto stack, StackMap<std::uint64_t>::create(test::unique_name("s"), 8));
  for (std::uint64_t v : {10, 20, 30}) ASSERT_OK(stack.push(v));
  EXPECT_EQ(stack.peek().value(), 30U);
  EXPECT_EQ(stack.pop().value(), 30U);
  EXPECT_EQ(stack.pop().value(), 20U);
  EXPECT_EQ(stack.pop().value(), 10U);
  EXPECT_EQ(stack.pop().error().code(), Errc::key_not_found);
  // The byte API: push/pop with the value size checked.
  Map& raw = const_cast<Map&>(stack.map());
  std::uint64_t v = 77;
  ASSERT_OK(raw.push(as_bytes_of(v)));
  std::uint32_t small = 0;
  auto wrong = raw.pop(as_writable_bytes_of(small));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  std::uint64_t out = 0;
  ASSERT_OK(raw.pop(as_writable_bytes_of(out)));
  EXPECT_EQ(out, 77U);
}

TEST(MapBloom, NoFalseNegativesAndMostlyTrueNegatives) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto bloom, BloomFilter<std::uint64_t>::create(test::unique_name("b"), 1000, 3));
  EXPECT_EQ(bloom.map().info().value().map_extra, 3U);
  for (std::uint64_t v = 0; v < 1000; ++v) ASSERT_OK(bloom.add(v * 7919));
  for (std::uint64_t v = 0; v < 1000; ++v) EXPECT_TRUE(bloom.contains(v * 7919).value()) << v;
  int negatives = 0;
  for (std::uint64_t v = 0; v < 1000; ++v) negatives += bloom.contains(v * 7919 + 1).value() ? 0 : 1;
  EXPECT_GT(negatives, 800) << "a bloom filter sized for its content rejects most absent values";
}

TEST(MapProgArray, StoresProgramsAndReturnsTheirIds) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, trivial_program());
  ASSERT_OK_AND_ASSIGN(auto table, ProgArray::create(test::unique_name("pa"), 4));
  ASSERT_OK(table.set(2, prog.get()));
  EXPECT_EQ(table.program_id(2).value(), object_id(prog.get()));
  EXPECT_EQ(table.program_id(1).error().code(), Errc::key_not_found);
  ASSERT_OK(table.remove(2));
  EXPECT_EQ(table.program_id(2).error().code(), Errc::key_not_found);
}

TEST(MapOfMaps, ArrayAndHashOfMapsReturnInnerIds) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto inner_template, make(MapType::hash, 4, 4, 8));
  ASSERT_OK_AND_ASSIGN(auto inner, (HashMap<std::uint32_t, std::uint32_t>::create(test::unique_name("in"), 8)));
  ASSERT_OK(inner.update(1, 42));

  ASSERT_OK_AND_ASSIGN(auto outer, ArrayOfMaps::create(test::unique_name("aom"), 4, inner_template));
  ASSERT_OK(outer.set(3, inner.map()));
  EXPECT_EQ(outer.inner_id(3).value(), inner.map().id().value());
  ASSERT_OK_AND_ASSIGN(auto fetched, outer.get(3));
  ASSERT_OK_AND_ASSIGN(auto fetched_view, (HashMap<std::uint32_t, std::uint32_t>::from(std::move(fetched))));
  EXPECT_EQ(fetched_view.lookup(1).value(), 42U);

  ASSERT_OK_AND_ASSIGN(auto by_hash, HashOfMaps<std::uint64_t>::create(test::unique_name("hom"), 4, inner_template));
  ASSERT_OK(by_hash.set(0xabcdef, inner.map()));
  EXPECT_EQ(by_hash.inner_id(0xabcdef).value(), inner.map().id().value());
  EXPECT_EQ(by_hash.inner_id(1).error().code(), Errc::key_not_found);

  // An inner map that does not match the template is refused by the kernel.
  ASSERT_OK_AND_ASSIGN(auto other, make(MapType::hash, 4, 8, 8));
  auto mismatch = outer.set(0, other);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().sys_errno(), EINVAL);
}

TEST(MapOfMaps, InnerMapFlagAllowsInnerMapsOfAnotherSize) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto big_inner, make(MapType::array, 4, 4, 64));
  ASSERT_OK_AND_ASSIGN(auto strict_template, make(MapType::array, 4, 4, 8));
  ASSERT_OK_AND_ASSIGN(auto strict, ArrayOfMaps::create(test::unique_name("so"), 2, strict_template));
  auto refused = strict.set(0, big_inner);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().sys_errno(), EINVAL);

  // The flag must be on both the template and the inner map (the kernel compares map flags).
  ASSERT_OK_AND_ASSIGN(auto loose_template, make(MapType::array, 4, 4, 8, map_flags::inner_map));
  ASSERT_OK_AND_ASSIGN(auto loose_inner, make(MapType::array, 4, 4, 64, map_flags::inner_map));
  ASSERT_OK_AND_ASSIGN(auto loose, ArrayOfMaps::create(test::unique_name("lo"), 2, loose_template));
  ASSERT_OK(loose.set(0, loose_inner));
  EXPECT_EQ(loose.inner_id(0).value(), loose_inner.id().value());
}

TEST(MapBtf, KeyAndValueTypeIdsAndNumaNodeAreRecorded) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto btf, int_pair_btf());
  ASSERT_OK_AND_ASSIGN(auto map, Map::create({.type = MapType::hash, .name = test::unique_name("bt"), .key_size = 4,
                                               .value_size = 8, .max_entries = 4, .numa_node = 0,
                                               .btf_fd = btf.get(), .btf_key_type_id = 1, .btf_value_type_id = 2}));
  auto info = map.info().value();
  EXPECT_EQ(info.btf_key_type_id, 1U);
  EXPECT_EQ(info.btf_value_type_id, 2U);
  EXPECT_EQ(info.btf_id, object_id_of_btf(btf.get()));
  EXPECT_TRUE(info.flags & map_flags::numa_node);
  // A value type whose size does not match value_size is refused by the kernel.
  auto mismatch = Map::create({.type = MapType::hash, .name = test::unique_name("bm"), .key_size = 4,
                               .value_size = 12, .max_entries = 4, .btf_fd = btf.get(), .btf_key_type_id = 1,
                               .btf_value_type_id = 2});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().sys_errno(), EINVAL);
}

TEST(MapBtf, SpinLockedValuesUpdateAndLookupWithLockFlag) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto btf, int_pair_btf());
  ASSERT_OK_AND_ASSIGN(auto raw, Map::create({.type = MapType::hash, .name = test::unique_name("sl"), .key_size = 4,
                                               .value_size = 8, .max_entries = 4, .btf_fd = btf.get(),
                                               .btf_key_type_id = 1, .btf_value_type_id = 4}));
  ASSERT_OK_AND_ASSIGN(auto map, (HashMap<std::uint32_t, IntPair>::from(std::move(raw))));
  ASSERT_OK(map.update(1, IntPair{0, 5}));
  ASSERT_OK(map.update(1, IntPair{0, 6}, UpdateFlag::lock));
  std::uint32_t key = 1;
  IntPair back{-1, -1};
  ASSERT_OK(map.map().lookup(as_bytes_of(key), as_writable_bytes_of(back), static_cast<std::uint64_t>(UpdateFlag::lock)));
  EXPECT_EQ(back.b, 6);
  EXPECT_EQ(back.a, 0) << "the lock word reads back as zero";
  // Without a spin lock in the value, BPF_F_LOCK is refused.
  ASSERT_OK_AND_ASSIGN(auto plain, (HashMap<std::uint32_t, IntPair>::create(test::unique_name("nl"), 4)));
  auto refused = plain.update(1, IntPair{1, 2}, UpdateFlag::lock);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().sys_errno(), EINVAL);
}

TEST(MapDevices, DevmapDevmapHashAndCpumapStoreTheirValues) {
  EBPF_REQUIRE_KERNEL();
  const std::uint32_t lo = 1;  // loopback ifindex in every namespace
  for (auto type : {MapType::devmap, MapType::devmap_hash}) {
    ASSERT_OK_AND_ASSIGN(auto map, make(type, 4, 4, 4));
    std::uint32_t key = 2, value = lo, back = 0;
    ASSERT_OK(map.update(as_bytes_of(key), as_bytes_of(value)));
    ASSERT_OK(map.lookup(as_bytes_of(key), as_writable_bytes_of(back)));
    EXPECT_EQ(back, lo) << name(type);
  }
  ASSERT_OK_AND_ASSIGN(auto cpumap, make(MapType::cpumap, 4, 4, possible_cpus().value()));
  std::uint32_t cpu = 0, qsize = 192, back = 0;
  ASSERT_OK(cpumap.update(as_bytes_of(cpu), as_bytes_of(qsize)));
  ASSERT_OK(cpumap.lookup(as_bytes_of(cpu), as_writable_bytes_of(back)));
  EXPECT_EQ(back, 192U);
  ASSERT_OK_AND_ASSIGN(auto xsk, make(MapType::xskmap, 4, 4, 4));
  EXPECT_EQ(xsk.info().value().type, MapType::xskmap);
}

TEST(MapSockets, SockmapSockhashAndReuseportReturnSocketCookies) {
  EBPF_REQUIRE_KERNEL();
  auto sock = bound_udp_socket();
  std::uint64_t cookie = socket_cookie(sock.get());
  ASSERT_NE(cookie, 0U);
  for (auto type : {MapType::sockmap, MapType::sockhash}) {
    ASSERT_OK_AND_ASSIGN(auto map, make(type, 4, 8, 4));
    std::uint32_t key = 1;
    std::uint64_t fd_value = static_cast<std::uint64_t>(sock.get()), back = 0;
    ASSERT_OK(map.update(as_bytes_of(key), as_bytes_of(fd_value)));
    ASSERT_OK(map.lookup(as_bytes_of(key), as_writable_bytes_of(back)));
    EXPECT_EQ(back, cookie) << name(type);
  }
  auto reuse = bound_udp_socket(/*reuseport=*/true);
  ASSERT_OK_AND_ASSIGN(auto array, make(MapType::reuseport_sockarray, 4, 8, 2));
  std::uint32_t key = 0;
  std::uint64_t fd_value = static_cast<std::uint64_t>(reuse.get()), back = 0;
  ASSERT_OK(array.update(as_bytes_of(key), as_bytes_of(fd_value)));
  ASSERT_OK(array.lookup(as_bytes_of(key), as_writable_bytes_of(back)));
  EXPECT_EQ(back, socket_cookie(reuse.get()));
}

TEST(MapStorage, SocketTaskAndCgroupStorageKeyedByDescriptors) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto btf, int_pair_btf());
  auto storage = [&](MapType type) {
    return Map::create({.type = type, .name = test::unique_name("st"), .key_size = 4, .value_size = 8,
                        .max_entries = 0, .flags = map_flags::no_prealloc, .btf_fd = btf.get(),
                        .btf_key_type_id = 1, .btf_value_type_id = 2});
  };
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  Fd cgroup(::open("/sys/fs/cgroup/unified", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(sock && pidfd && cgroup);
  struct Case {
    MapType type;
    int key_fd;
  };
  for (auto [type, key_fd] : {Case{MapType::sk_storage, sock.get()}, Case{MapType::task_storage, pidfd.get()},
                              Case{MapType::cgrp_storage, cgroup.get()}}) {
    ASSERT_OK_AND_ASSIGN(auto map, storage(type));
    auto info = map.info().value();
    EXPECT_EQ(info.btf_value_type_id, 2U);
    EXPECT_GT(info.btf_id, 0U);
    std::int32_t key = key_fd;
    IntPair value{7, -3}, back{};
    ASSERT_OK(map.update(as_bytes_of(key), as_bytes_of(value)));
    ASSERT_OK(map.lookup(as_bytes_of(key), as_writable_bytes_of(back)));
    EXPECT_EQ(back.a, 7) << name(type);
    EXPECT_EQ(back.b, -3) << name(type);
  }
  // inode storage is created the same way; its user-space access needs the BPF LSM active at boot.
  ASSERT_OK_AND_ASSIGN(auto inode, storage(MapType::inode_storage));
  EXPECT_EQ(inode.info().value().type, MapType::inode_storage);
}

TEST(MapStorage, LegacyCgroupStorageIsCreatedWithoutEntries) {
  EBPF_REQUIRE_KERNEL();
  for (auto type : {MapType::cgroup_storage, MapType::percpu_cgroup_storage}) {
    ASSERT_OK_AND_ASSIGN(auto map, make(type, 16, 8, 0));
    auto info = map.info().value();
    EXPECT_EQ(info.type, type);
    EXPECT_EQ(info.key_size, 16U);
  }
}

TEST(MapDescriptorArrays, PerfEventAndCgroupArraysHoldDescriptors) {
  EBPF_REQUIRE_KERNEL();
  auto cpus = possible_cpus().value();
  ASSERT_OK_AND_ASSIGN(auto perf, make(MapType::perf_event_array, 4, 4, cpus));
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_BPF_OUTPUT;
  attr.sample_type = PERF_SAMPLE_RAW;
  Fd event(static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
  ASSERT_TRUE(event) << std::strerror(errno);
  std::uint32_t key = 0, value = static_cast<std::uint32_t>(event.get());
  ASSERT_OK(perf.update(as_bytes_of(key), as_bytes_of(value)));
  ASSERT_OK(perf.remove(as_bytes_of(key)));
  EXPECT_EQ(perf.remove(as_bytes_of(key)).error().code(), Errc::key_not_found) << "the slot was filled before";

  ASSERT_OK_AND_ASSIGN(auto cgroups, make(MapType::cgroup_array, 4, 4, 2));
  Fd cgroup(::open("/sys/fs/cgroup/unified", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  value = static_cast<std::uint32_t>(cgroup.get());
  ASSERT_OK(cgroups.update(as_bytes_of(key), as_bytes_of(value)));
  ASSERT_OK(cgroups.remove(as_bytes_of(key)));
  EXPECT_EQ(cgroups.remove(as_bytes_of(key)).error().code(), Errc::key_not_found);
}

TEST(MapStackTrace, EmptyTableHasNoStacks) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, make(MapType::stack_trace, 4, 8 * 127, 64));
  std::uint32_t key = 0;
  std::vector<std::byte> ips(8 * 127);
  EXPECT_EQ(map.lookup(as_bytes_of(key), ips).error().code(), Errc::key_not_found);
  EXPECT_EQ(map.info().value().value_size, 8U * 127);
}

TEST(MapRingBuffers, RingbufAndUserRingbufSizes) {
  EBPF_REQUIRE_KERNEL();
  auto size = static_cast<std::uint32_t>(page_size() * 4);
  for (auto type : {MapType::ringbuf, MapType::user_ringbuf}) {
    ASSERT_OK_AND_ASSIGN(auto map, make(type, 0, 0, size));
    auto info = map.info().value();
    EXPECT_EQ(info.type, type);
    EXPECT_EQ(info.max_entries, size);
  }
}

TEST(MapArena, PagesPersistAcrossMappings) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto arena, make(MapType::arena, 0, 0, 4, map_flags::mmapable));
  void* first_addr = nullptr;
  {
    ASSERT_OK_AND_ASSIGN(auto mapping, arena.mmap());
    EXPECT_EQ(mapping.size(), 4 * page_size());
    first_addr = mapping.data();
    auto words = mapping.as<std::uint64_t>();
    words[0] = 0x1122334455667788ULL;
    words[words.size() - 1] = 99;
  }
  ASSERT_OK_AND_ASSIGN(auto again, arena.mmap());
  EXPECT_EQ(again.data(), first_addr) << "an arena is always mapped at its first user address";
  auto words = again.as<std::uint64_t>();
  EXPECT_EQ(words[0], 0x1122334455667788ULL);
  EXPECT_EQ(words[words.size() - 1], 99U);
}

}  // namespace
}  // namespace ebpf
