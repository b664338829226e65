// ebpf/maps/percpu.hpp — typed views of per-CPU maps (percpu_hash, lru_percpu_hash, percpu_array).
//
// User space reads and writes one value per *possible* CPU, each in an 8-byte aligned slot
// (round_up(sizeof(V), 8)); PerCpuValues<V> holds that buffer as the kernel lays it out, so a lookup writes
// into it directly, and offers per-CPU access and sum().
#pragma once

#include <cstring>
#include <vector>

#include "ebpf/map.hpp"
#include "ebpf/maps/typed.hpp"

namespace ebpf {

template <MapValue V>
class PerCpuValues {
 public:
  static constexpr std::size_t kStride = (sizeof(V) + 7) & ~std::size_t{7};

  PerCpuValues() = default;
  explicit PerCpuValues(std::size_t cpus) : raw_(cpus * kStride) {}

  std::size_t size() const noexcept { return raw_.size() / kStride; }
  V operator[](std::size_t cpu) const noexcept {
    V value;
    std::memcpy(&value, raw_.data() + cpu * kStride, sizeof(V));
    return value;
  }
  void set(std::size_t cpu, const V& value) noexcept { std::memcpy(raw_.data() + cpu * kStride, &value, sizeof(V)); }
  void fill(const V& value) noexcept {
    for (std::size_t cpu = 0; cpu < size(); ++cpu) set(cpu, value);
  }
  // Sum over CPUs (for arithmetic values or values with operator+).
  V sum() const
    requires requires(V a, V b) { a + b; }
  {
    V total{};
    for (std::size_t cpu = 0; cpu < size(); ++cpu) total = total + (*this)[cpu];
    return total;
  }
  std::span<std::byte> bytes() noexcept { return raw_; }
  std::span<const std::byte> bytes() const noexcept { return raw_; }
  void resize(std::size_t cpus) { raw_.resize(cpus * kStride); }

 private:
  std::vector<std::byte> raw_;
};

namespace detail {
template <class V>
struct ValueCodec<PerCpuValues<V>> {
  static void prepare(PerCpuValues<V>& out, std::size_t buffer_size) {
    out.resize(buffer_size / PerCpuValues<V>::kStride);
  }
  static void decode(std::span<const std::byte> bytes, PerCpuValues<V>& out) noexcept {
    std::memcpy(out.bytes().data(), bytes.data(), bytes.size());
  }
};

template <MapKey K, MapValue V>
class PerCpuView {
 public:
  using key_type = K;
  using value_type = PerCpuValues<V>;

  const Map& map() const noexcept { return map_; }
  int fd() const noexcept { return map_.fd(); }
  std::size_t cpus() const noexcept { return map_.value_buffer_size() / PerCpuValues<V>::kStride; }

  // Allocates the result; use the overload with an output to reuse one buffer.
  Result<PerCpuValues<V>> lookup(const K& key) const {
    PerCpuValues<V> values(cpus());
    EBPF_TRY(lookup(key, values));
    return values;
  }
  Result<void> lookup(const K& key, PerCpuValues<V>& out) const {
    if (out.size() != cpus()) out.resize(cpus());
    return sys::map_lookup_elem(map_.fd(), &key, out.bytes().data());
  }
  Result<void> update(const K& key, const PerCpuValues<V>& values, UpdateFlag flag = UpdateFlag::any) {
    if (values.size() != cpus())
      return Error::invalid("BPF_MAP_UPDATE_ELEM", std::to_string(values.size()) + " per-CPU values given, the " +
                                                       "system has " + std::to_string(cpus()) + " possible CPUs");
    return sys::map_update_elem(map_.fd(), &key, values.bytes().data(), static_cast<std::uint64_t>(flag));
  }
  // The same value on every CPU.
  Result<void> update_all(const K& key, const V& value, UpdateFlag flag = UpdateFlag::any) {
    PerCpuValues<V> values(cpus());
    values.fill(value);
    return update(key, values, flag);
  }
  Result<void> remove(const K& key) { return sys::map_delete_elem(map_.fd(), &key); }
  // Sum over CPUs of the value at `key`.
  Result<V> sum(const K& key) const
    requires requires(V a, V b) { a + b; }
  {
    auto values = EBPF_TRY(lookup(key));
    return values.sum();
  }

  EntryRange<K, PerCpuValues<V>> entries(std::uint32_t batch_size = 256) const {
    return EntryRange<K, PerCpuValues<V>>(map_, batch_size);
  }

 protected:
  Map map_;
};

}  // namespace detail

template <MapKey K, MapValue V>
class PerCpuHashMap : public detail::PerCpuView<K, V> {
 public:
  EBPF_MAP_VIEW_FROM(PerCpuHashMap, "PerCpuHashMap", sizeof(K), sizeof(V), MapType::percpu_hash,
                     MapType::lru_percpu_hash)
  // lru = true makes an lru_percpu_hash.
  static Result<PerCpuHashMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0,
                                      bool lru = false) {
    auto map = EBPF_TRY(Map::create({.type = lru ? MapType::lru_percpu_hash : MapType::percpu_hash,
                                     .name = std::move(name), .key_size = sizeof(K), .value_size = sizeof(V),
                                     .max_entries = max_entries, .flags = flags}));
    return from(std::move(map));
  }
};

template <MapValue V>
class PerCpuArrayMap : public detail::PerCpuView<std::uint32_t, V> {
 public:
  EBPF_MAP_VIEW_FROM(PerCpuArrayMap, "PerCpuArrayMap", 4, sizeof(V), MapType::percpu_array)
  static Result<PerCpuArrayMap> create(std::string name, std::uint32_t max_entries, std::uint32_t flags = 0) {
    auto map = EBPF_TRY(Map::create({.type = MapType::percpu_array, .name = std::move(name), .key_size = 4,
                                     .value_size = sizeof(V), .max_entries = max_entries, .flags = flags}));
    return from(std::move(map));
  }
};

}  // namespace ebpf
