// MapSpec validation (before any syscall), per-CPU buffer sizes, and the typed-view key/value concepts.
#include <gtest/gtest.h>

#include "ebpf/map.hpp"
#include "ebpf/system.hpp"

namespace ebpf {
namespace {

MapSpec spec(MapType type, std::uint32_t key, std::uint32_t value, std::uint32_t entries, std::uint32_t flags = 0) {
  MapSpec s;
  s.type = type;
  s.name = "t";
  s.key_size = key;
  s.value_size = value;
  s.max_entries = entries;
  s.flags = flags;
  return s;
}

// Expects the spec to be refused with EINVAL and a message containing `needle`.
void expect_invalid(const MapSpec& s, std::string_view needle) {
  auto r = validate(s);
  ASSERT_FALSE(r) << "accepted: " << name(s.type);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_EQ(r.error().operation(), "BPF_MAP_CREATE");
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().to_string();
}

TEST(MapSpecValidate, AcceptsWellFormedSpecsOfEveryCommonType) {
  std::uint32_t page = static_cast<std::uint32_t>(page_size());
  for (const auto& s : {spec(MapType::hash, 4, 8, 16), spec(MapType::array, 4, 1, 1),
                        spec(MapType::lpm_trie, 8, 4, 16, map_flags::no_prealloc), spec(MapType::queue, 0, 8, 4),
                        spec(MapType::ringbuf, 0, 0, page * 4), spec(MapType::devmap, 4, 8, 4),
                        spec(MapType::array, 4, 8, 4, map_flags::mmapable)}) {
    auto r = validate(s);
    EXPECT_TRUE(r) << name(s.type) << ": " << r.error().to_string();
  }
}

TEST(MapSpecValidate, Names) {
  auto s = spec(MapType::hash, 4, 4, 1);
  s.name = "a_name.with15ch";
  EXPECT_TRUE(validate(s));
  s.name = "sixteen_chars_xx";
  expect_invalid(s, "longer than 15");
  s.name = "bad-name";
  expect_invalid(s, "letters, digits");
}

TEST(MapSpecValidate, KeyAndValueSizesPerType) {
  expect_invalid(spec(MapType::hash, 0, 4, 1), "key_size must be greater than 0");
  expect_invalid(spec(MapType::hash, 4, 0, 1), "value_size must be greater than 0");
  expect_invalid(spec(MapType::array, 8, 4, 1), "key_size must be 4");
  expect_invalid(spec(MapType::queue, 4, 4, 1), "key_size must be 0");
  expect_invalid(spec(MapType::stack, 0, 0, 1), "value_size must be greater than 0");
  expect_invalid(spec(MapType::prog_array, 4, 8, 1), "value_size must be 4");
  expect_invalid(spec(MapType::devmap, 4, 6, 1), "value_size must be 4 or 8");
  expect_invalid(spec(MapType::lpm_trie, 4, 4, 1, map_flags::no_prealloc), "4 (prefixlen)");
  expect_invalid(spec(MapType::stack_trace, 4, 12, 1), "multiple of 8");
  expect_invalid(spec(MapType::hash, 4, 4, 0), "max_entries must be greater than 0");
  expect_invalid(spec(MapType::sk_storage, 4, 4, 1, map_flags::no_prealloc), "max_entries must be 0");
}

TEST(MapSpecValidate, TypeSpecificRequirements) {
  expect_invalid(spec(MapType::lpm_trie, 8, 4, 16), "no_prealloc");
  expect_invalid(spec(MapType::ringbuf, 0, 0, 5000), "power of two");
  expect_invalid(spec(MapType::ringbuf, 0, 0, 1024), "multiple of the page size");
  expect_invalid(spec(MapType::array_of_maps, 4, 4, 1), "inner_map_fd");
  expect_invalid(spec(MapType::task_storage, 4, 4, 0, map_flags::no_prealloc), "needs BTF");
  expect_invalid(spec(MapType::arena, 0, 0, 1), "mmapable");
  expect_invalid(spec(MapType::struct_ops, 4, 8, 1), "btf_vmlinux_value_type_id");
  auto bloom = spec(MapType::bloom_filter, 0, 4, 100);
  bloom.map_extra = 16;
  expect_invalid(bloom, "at most 15");
  auto cpus = possible_cpus().value();
  expect_invalid(spec(MapType::cpumap, 4, 4, cpus + 1), "possible CPUs");
  EXPECT_TRUE(validate(spec(MapType::cpumap, 4, 4, cpus)));
}

TEST(MapSpecValidate, Flags) {
  expect_invalid(spec(MapType::hash, 4, 4, 1, 1U << 30), "unknown flag bits 0x40000000");
  expect_invalid(spec(MapType::hash, 4, 4, 1, map_flags::mmapable), "mmapable is only valid");
  expect_invalid(spec(MapType::hash, 4, 4, 1, map_flags::no_common_lru), "no_common_lru");
  expect_invalid(spec(MapType::hash, 4, 4, 1, map_flags::rdonly_prog | map_flags::wronly_prog), "exclude");
  auto s = spec(MapType::hash, 4, 4, 1);
  s.inner_map_fd = 5;
  expect_invalid(s, "inner_map_fd is only valid");
  auto unknown = spec(MapType::hash, 4, 4, 1);
  unknown.type = static_cast<MapType>(99);
  expect_invalid(unknown, "unknown map type 99");
}

TEST(ValueBufferSize, PerCpuMapsUseRoundedStrideTimesPossibleCpus) {
  auto cpus = possible_cpus().value();
  EXPECT_EQ(value_buffer_size(MapType::hash, 12).value(), 12U);
  EXPECT_EQ(value_buffer_size(MapType::percpu_hash, 12).value(), 16U * cpus);
  EXPECT_EQ(value_buffer_size(MapType::percpu_array, 8).value(), 8U * cpus);
  EXPECT_EQ(value_buffer_size(MapType::lru_percpu_hash, 1).value(), 8U * cpus);
}

struct Padded {
  std::uint8_t a;
  std::uint32_t b;
};
struct Packed {
  std::uint32_t a, b;
};
static_assert(MapKey<Packed> && MapKey<std::uint64_t> && MapKey<LpmKey4> && MapKey<LpmKey6>);
static_assert(!MapKey<Padded> && MapValue<Padded>, "padding bytes are refused in keys but fine in values");
static_assert(!MapValue<std::string>);

struct OptedInPadded {
  std::uint8_t tag;
  std::uint32_t id;
};
}  // namespace
template <>
inline constexpr bool allow_padded_key<OptedInPadded> = true;
namespace {
static_assert(MapKey<OptedInPadded>, "a padded key is accepted once the user opts in");

TEST(TypedView, ViewOfAnInvalidMapFailsBeforeAnySyscall) {
  auto r = HashMap<std::uint32_t, std::uint64_t>::from(Map());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
}

TEST(TypedView, PerCpuValuesStrideAndSum) {
  PerCpuValues<std::uint32_t> values(3);
  static_assert(PerCpuValues<std::uint32_t>::kStride == 8);
  EXPECT_EQ(values.bytes().size(), 24U);
  values.set(0, 1);
  values.set(1, 2);
  values.set(2, 40);
  EXPECT_EQ(values[2], 40U);
  EXPECT_EQ(values.sum(), 43U);
}

}  // namespace
}  // namespace ebpf
