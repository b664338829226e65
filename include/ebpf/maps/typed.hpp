// ebpf/maps/typed.hpp — typed views over a Map for trivially copyable keys and values.
//
// A view owns its Map. It is made by a factory that checks the map type and the key/value sizes once (an
// Errc::invalid_argument before any syscall otherwise); afterwards every typed call is one inline call to the
// sys:: wrapper, with no allocation and no size checks. Keys must have unique object representations (no
// padding bytes, which the kernel would hash and compare) unless the type opts in with
// `template <> inline constexpr bool ebpf::allow_padded_key<MyKey> = true;`.
//
//   auto counters = EBPF_TRY(ebpf::HashMap<std::uint32_t, std::uint64_t>::create("counters", 1024));
//   EBPF_TRY(counters.update(7, 1));
//   for (auto [key, value] : counters.entries()) ...
#pragma once

#include <algorithm>
#include <concepts>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "ebpf/map.hpp"

namespace ebpf {

template <class T>
inline constexpr bool allow_padded_key = false;

template <class T>
concept MapValue = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> && std::default_initializable<T>;

template <class T>
concept MapKey = MapValue<T> && (std::has_unique_object_representations_v<T> || allow_padded_key<T>);

namespace detail {

// "map 'x' (hash) has key size 8; HashMap needs 4" — the one check a view makes.
Result<void> check_view(const Map& map, std::string_view view, std::initializer_list<MapType> types,
                        std::uint32_t key_size, std::uint32_t value_size);

// How a typed value is decoded from the bytes of one element (plain values: memcpy).
template <class V>
struct ValueCodec {
  static void prepare(V&, std::size_t) {}
  static void decode(std::span<const std::byte> bytes, V& out) noexcept { std::memcpy(&out, bytes.data(), sizeof(V)); }
};

}  // namespace detail

// A range over all entries of a map: `for (const auto& [key, value] : view.entries())`. Reads the map in
// batches into buffers allocated once per iteration. If reading fails, iteration ends and error() says why.
template <class K, class V>
class EntryRange {
 public:
  struct Sentinel {};
  class Iterator {
   public:
    using value_type = std::pair<const K&, const V&>;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(EntryRange* range) : range_(range) {}
    value_type operator*() const noexcept { return {range_->key_, range_->value_}; }
    Iterator& operator++() {
      range_->advance();
      return *this;
    }
    void operator++(int) { range_->advance(); }
    bool operator==(Sentinel) const noexcept { return range_->at_end_; }

   private:
    EntryRange* range_ = nullptr;
  };

  EntryRange(const Map& map, std::uint32_t batch_size) : reader_(map, batch_size) {
    detail::ValueCodec<V>::prepare(value_, map.value_buffer_size());
  }
  EntryRange(const EntryRange&) = delete;
  EntryRange& operator=(const EntryRange&) = delete;

  Iterator begin() {
    advance();
    return Iterator(this);
  }
  Sentinel end() const noexcept { return {}; }
  // Set when reading the map failed part-way.
  const std::optional<Error>& error() const noexcept { return error_; }

 private:
  void advance() {
    if (at_end_) return;
    if (index_ + 1 >= count_) {
      auto n = reader_.next();
      if (!n || *n == 0) {
        if (!n) error_ = std::move(n).error();
        at_end_ = true;
        return;
      }
      count_ = *n;
      index_ = 0;
    } else {
      ++index_;
    }
    std::memcpy(&key_, reader_.key(index_).data(), sizeof(K));
    detail::ValueCodec<V>::decode(reader_.value(index_), value_);
  }

  MapReader reader_;
  std::uint32_t index_ = 0;
  std::uint32_t count_ = 0;
  bool at_end_ = false;
  K key_{};
  V value_{};
  std::optional<Error> error_;
};

namespace detail {

// Operations shared by every key/value view. `Self` supplies the allowed map types and how to create one.
template <MapKey K, class V>
class KeyValueView {
 public:
  using key_type = K;
  using value_type = V;

  const Map& map() const noexcept { return map_; }
  Map& map() noexcept { return map_; }
  int fd() const noexcept { return map_.fd(); }

  // Errc::key_not_found when the key is absent.
  Result<V> lookup(const K& key) const {
    V value;
    auto r = sys::map_lookup_elem(map_.fd(), &key, &value);
    if (!r) [[unlikely]]
      return std::move(r).error();
    return value;
  }
  Result<void> update(const K& key, const V& value, UpdateFlag flag = UpdateFlag::any) {
    return sys::map_update_elem(map_.fd(), &key, &value, static_cast<std::uint64_t>(flag));
  }
  Result<void> remove(const K& key) { return sys::map_delete_elem(map_.fd(), &key); }
  Result<V> lookup_and_delete(const K& key) {
    V value;
    auto r = sys::map_lookup_and_delete_elem(map_.fd(), &key, &value);
    if (!r) return std::move(r).error();
    return value;
  }
  // The key after `key` (or the first key with nullopt); Errc::key_not_found at the end.
  Result<K> next_key(const std::optional<K>& key = std::nullopt) const {
    K next;
    auto r = sys::map_get_next_key(map_.fd(), key ? &*key : nullptr, &next);
    if (!r) return std::move(r).error();
    return next;
  }

  Result<std::uint32_t> update_batch(std::span<const K> keys, std::span<const V> values,
                                     UpdateFlag flag = UpdateFlag::any) {
    if (keys.size() != values.size())
      return Error::invalid("BPF_MAP_UPDATE_BATCH", std::to_string(keys.size()) + " keys but " +
                                                        std::to_string(values.size()) + " values");
    return map_.update_batch(std::as_bytes(keys), std::as_bytes(values),
                             {.elem_flags = static_cast<std::uint64_t>(flag)});
  }
  Result<std::uint32_t> delete_batch(std::span<const K> keys) { return map_.delete_batch(std::as_bytes(keys)); }
  // Reads up to keys.size() entries after `cursor` (see Map::lookup_batch).
  Result<std::uint32_t> lookup_batch(BatchCursor& cursor, std::span<K> keys, std::span<V> values) const {
    if (keys.size() != values.size())
      return Error::invalid("BPF_MAP_LOOKUP_BATCH", "key and value buffers differ in length");
    return map_.lookup_batch(cursor, std::as_writable_bytes(keys), std::as_writable_bytes(values));
  }

  EntryRange<K, V> entries(std::uint32_t batch_size = 256) const { return EntryRange<K, V>(map_, batch_size); }

  // Calls f(key, value) for every entry (f returns void, or Result<void> to stop early with an error).
  template <class F>
  Result<void> for_each(F&& f, std::uint32_t batch_size = 256) const {
    EntryRange<K, V> range(map_, batch_size);
    for (auto [key, value] : range) {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, const K&, const V&>>) {
        f(key, value);
      } else {
        EBPF_TRY(f(key, value));
      }
    }
    if (range.error()) return *range.error();
    return ok();
  }

 protected:
  KeyValueView() = default;
  explicit KeyValueView(Map map) : map_(std::move(map)) {}
  Map map_;
};

}  // namespace detail

// Declares the factory pair of a view: from(Map) checks once; create(...) makes a new kernel map.
#define EBPF_MAP_VIEW_FROM(View, view_name, key_bytes, value_bytes, ...)                        \
  static Result<View> from(Map map) {                                                           \
    EBPF_TRY(detail::check_view(map, view_name, {__VA_ARGS__}, key_bytes, value_bytes));        \
    View view;                                                                                  \
    view.map_ = std::move(map);                                                                 \
    return view;                                                                                \
  }

template <MapKey K, MapValue V>
class HashMap : public detail::KeyValueView<K, V> {
 public:
  EBPF_MAP_VIEW_FROM(HashMap, "HashMap", sizeof(K), sizeof(V), MapType::hash)
  static Result<HashMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    auto map = EBPF_TRY(Map::create({.type = MapType::hash, .name = std::move(name), .key_size = sizeof(K),
                                     .value_size = sizeof(V), .max_entries = max_entries, .flags = flags}));
    return from(std::move(map));
  }
};

template <MapKey K, MapValue V>
class LruHashMap : public detail::KeyValueView<K, V> {
 public:
  EBPF_MAP_VIEW_FROM(LruHashMap, "LruHashMap", sizeof(K), sizeof(V), MapType::lru_hash)
  static Result<LruHashMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    auto map = EBPF_TRY(Map::create({.type = MapType::lru_hash, .name = std::move(name), .key_size = sizeof(K),
                                     .value_size = sizeof(V), .max_entries = max_entries, .flags = flags}));
    return from(std::move(map));
  }
};

template <MapValue V>
class ArrayMap : public detail::KeyValueView<std::uint32_t, V> {
 public:
  EBPF_MAP_VIEW_FROM(ArrayMap, "ArrayMap", 4, sizeof(V), MapType::array)
  static Result<ArrayMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    auto map = EBPF_TRY(Map::create({.type = MapType::array, .name = std::move(name), .key_size = 4,
                                     .value_size = sizeof(V), .max_entries = max_entries, .flags = flags}));
    return from(std::move(map));
  }
  std::uint32_t size() const noexcept { return this->map_.max_entries(); }
};

}  // namespace ebpf

#include "ebpf/maps/lpm.hpp"
#include "ebpf/maps/percpu.hpp"
#include "ebpf/maps/special.hpp"
