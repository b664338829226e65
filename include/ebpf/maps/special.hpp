// ebpf/maps/special.hpp — typed views of maps without ordinary key/value semantics: queue (FIFO), stack
// (LIFO), bloom filter (membership), prog array (tail-call table) and maps of maps.
//
// Values written into prog arrays and maps of maps are descriptors; reading returns the object's id.
#pragma once

#include "ebpf/map.hpp"
#include "ebpf/maps/typed.hpp"

namespace ebpf {

namespace detail {

// Queue and stack share everything but the order in which pop() returns elements.
template <MapValue V, MapType Type>
class PushPopView {
 public:
  const Map& map() const noexcept { return map_; }
  int fd() const noexcept { return map_.fd(); }

  // overwrite = true replaces the oldest element when full (BPF_EXIST); otherwise a full map is
  // Errc::no_space (E2BIG).
  Result<void> push(const V& value, bool overwrite = false) {
    return sys::map_update_elem(map_.fd(), nullptr, &value, overwrite ? 2 : 0);
  }
  // Errc::key_not_found when empty.
  Result<V> pop() {
    V value;
    auto r = sys::map_lookup_and_delete_elem(map_.fd(), nullptr, &value);
    if (!r) return std::move(r).error();
    return value;
  }
  Result<V> peek() const {
    V value;
    auto r = sys::map_lookup_elem(map_.fd(), nullptr, &value);
    if (!r) return std::move(r).error();
    return value;
  }

 protected:
  static Result<Map> create_map(std::string name, std::uint32_t max_entries, std::uint32_t flags) {
    return Map::create({.type = Type, .name = std::move(name), .key_size = 0, .value_size = sizeof(V),
                        .max_entries = max_entries, .flags = flags});
  }
  Map map_;
};

}  // namespace detail

template <MapValue V>
class QueueMap : public detail::PushPopView<V, MapType::queue> {
 public:
  EBPF_MAP_VIEW_FROM(QueueMap, "QueueMap", 0, sizeof(V), MapType::queue)
  static Result<QueueMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    return from(EBPF_TRY(QueueMap::create_map(std::move(name), max_entries, flags)));
  }
};

template <MapValue V>
class StackMap : public detail::PushPopView<V, MapType::stack> {
 public:
  EBPF_MAP_VIEW_FROM(StackMap, "StackMap", 0, sizeof(V), MapType::stack)
  static Result<StackMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    return from(EBPF_TRY(StackMap::create_map(std::move(name), max_entries, flags)));
  }
};

template <MapValue V>
class BloomFilter {
 public:
  EBPF_MAP_VIEW_FROM(BloomFilter, "BloomFilter", 0, sizeof(V), MapType::bloom_filter)
  // hashes: number of hash functions (1..15; 0 lets the kernel pick its default of 5).
  static Result<BloomFilter> create(std::string name, std::uint32_t max_entries, std::uint32_t hashes = 0,
                                    std::uint32_t flags = 0) {
    return from(EBPF_TRY(Map::create({.type = MapType::bloom_filter, .name = std::move(name), .key_size = 0,
                                      .value_size = sizeof(V), .max_entries = max_entries, .flags = flags,
                                      .map_extra = hashes})));
  }
  const Map& map() const noexcept { return map_; }

  Result<void> add(const V& value) { return sys::map_update_elem(map_.fd(), nullptr, &value, 0); }
  // false: certainly never added. true: probably added.
  Result<bool> contains(const V& value) const {
    V probe = value;
    auto r = sys::map_lookup_elem(map_.fd(), nullptr, &probe);
    if (r) return true;
    if (r.error().code() == Errc::key_not_found) return false;
    return std::move(r).error();
  }

 private:
  Map map_;
};

// Tail-call table: index → program.
class ProgArray {
 public:
  EBPF_MAP_VIEW_FROM(ProgArray, "ProgArray", 4, 4, MapType::prog_array)
  static Result<ProgArray> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    return from(EBPF_TRY(Map::create({.type = MapType::prog_array, .name = std::move(name), .key_size = 4,
                                      .value_size = 4, .max_entries = max_entries, .flags = flags})));
  }
  const Map& map() const noexcept { return map_; }

  Result<void> set(std::uint32_t index, int prog_fd) {
    auto value = static_cast<std::uint32_t>(prog_fd);
    return sys::map_update_elem(map_.fd(), &index, &value, 0);
  }
  Result<void> remove(std::uint32_t index) { return sys::map_delete_elem(map_.fd(), &index); }
  // The id of the program at `index`; Errc::key_not_found when the slot is empty.
  Result<std::uint32_t> program_id(std::uint32_t index) const {
    std::uint32_t id = 0;
    EBPF_TRY(sys::map_lookup_elem(map_.fd(), &index, &id));
    return id;
  }

 private:
  Map map_;
};

namespace detail {
template <MapKey K, MapType Type>
class MapOfMapsView {
 public:
  const Map& map() const noexcept { return map_; }
  int fd() const noexcept { return map_.fd(); }

  // Stores `inner` (it must be compatible with the template the outer map was created with).
  Result<void> set(const K& key, const Map& inner) {
    auto value = static_cast<std::uint32_t>(inner.fd());
    return sys::map_update_elem(map_.fd(), &key, &value, 0);
  }
  Result<void> remove(const K& key) { return sys::map_delete_elem(map_.fd(), &key); }
  // The id of the inner map at `key`.
  Result<std::uint32_t> inner_id(const K& key) const {
    std::uint32_t id = 0;
    EBPF_TRY(sys::map_lookup_elem(map_.fd(), &key, &id));
    return id;
  }
  // Opens the inner map at `key` (a new descriptor).
  Result<Map> get(const K& key) const { return Map::from_id(EBPF_TRY(inner_id(key))); }

 protected:
  static Result<Map> create_map(std::string name, std::uint32_t max_entries, const Map& inner_template,
                                std::uint32_t flags) {
    return Map::create({.type = Type, .name = std::move(name), .key_size = sizeof(K), .value_size = 4,
                        .max_entries = max_entries, .flags = flags, .inner_map_fd = inner_template.fd()});
  }
  Map map_;
};
}  // namespace detail

class ArrayOfMaps : public detail::MapOfMapsView<std::uint32_t, MapType::array_of_maps> {
 public:
  EBPF_MAP_VIEW_FROM(ArrayOfMaps, "ArrayOfMaps", 4, 4, MapType::array_of_maps)
  static Result<ArrayOfMaps> create(std::string name, std::uint32_t max_entries, const Map& inner_template,
                                    std::uint32_t flags = 0) {
    return from(EBPF_TRY(create_map(std::move(name), max_entries, inner_template, flags)));
  }
};

template <MapKey K>
class HashOfMaps : public detail::MapOfMapsView<K, MapType::hash_of_maps> {
 public:
  EBPF_MAP_VIEW_FROM(HashOfMaps, "HashOfMaps", sizeof(K), 4, MapType::hash_of_maps)
  static Result<HashOfMaps> create(std::string name, std::uint32_t max_entries, const Map& inner_template,
                                   std::uint32_t flags = 0) {
    return from(EBPF_TRY(HashOfMaps::create_map(std::move(name), max_entries, inner_template, flags)));
  }
};

}  // namespace ebpf
