// ebpf/maps/lpm.hpp — longest-prefix-match tries with IPv4/IPv6 keys parsed from CIDR strings.
//
// An LPM key is a u32 prefix length followed by the address bytes in network order; a lookup with a full
// prefix length returns the value of the longest stored prefix containing the address.
//
//   auto routes = EBPF_TRY((ebpf::LpmTrie<ebpf::LpmKey4, std::uint32_t>::create("routes", 1024)));
//   EBPF_TRY(routes.update(EBPF_TRY(ebpf::LpmKey4::parse("10.0.0.0/8")), 1));
//   auto hop = routes.lookup(EBPF_TRY(ebpf::LpmKey4::parse("10.1.2.3")));  // → 1
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "ebpf/map.hpp"
#include "ebpf/maps/typed.hpp"

namespace ebpf {

struct LpmKey4 {
  std::uint32_t prefixlen = 32;
  std::array<std::uint8_t, 4> addr{};  // network byte order

  // "10.0.0.0/8", or "10.1.2.3" for a /32. Bits beyond the prefix are cleared. Errc::bad_format otherwise.
  static Result<LpmKey4> parse(std::string_view cidr);
  std::string to_string() const;
  bool operator==(const LpmKey4&) const = default;
};
static_assert(sizeof(LpmKey4) == 8 && std::has_unique_object_representations_v<LpmKey4>);

struct LpmKey6 {
  std::uint32_t prefixlen = 128;
  std::array<std::uint8_t, 16> addr{};

  // "2001:db8::/32", or an address for a /128.
  static Result<LpmKey6> parse(std::string_view cidr);
  std::string to_string() const;
  bool operator==(const LpmKey6&) const = default;
};
static_assert(sizeof(LpmKey6) == 20 && std::has_unique_object_representations_v<LpmKey6>);

// K: LpmKey4, LpmKey6 or any key starting with a u32 prefix length followed by data bytes.
template <MapKey K, MapValue V>
class LpmTrie : public detail::KeyValueView<K, V> {
  static_assert(sizeof(K) > 4, "an LPM key is a u32 prefix length followed by data");

 public:
  EBPF_MAP_VIEW_FROM(LpmTrie, "LpmTrie", sizeof(K), sizeof(V), MapType::lpm_trie)
  // no_prealloc is added: the kernel requires it for tries.
  static Result<LpmTrie> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    auto map = EBPF_TRY(Map::create({.type = MapType::lpm_trie, .name = std::move(name), .key_size = sizeof(K),
                                     .value_size = sizeof(V), .max_entries = max_entries,
                                     .flags = flags | map_flags::no_prealloc}));
    return from(std::move(map));
  }
};

}  // namespace ebpf
