// ebpf/map.hpp — BPF maps: creation from a MapSpec, the byte-span element API, batch operations, iteration,
// pinning, info, mmap, and (through the headers included at the end) typed views such as HashMap<K,V>.
//
// A `Map` owns its descriptor and remembers the map's type and sizes, so every byte-span call can check its
// arguments before the syscall. Typed views (ebpf/maps/*.hpp) check the sizes once when they are made and
// then call the syscall directly.
//
// Conventions decided here for every map type:
//   - a missing key (and "no next key", and an empty queue/stack) is Errc::key_not_found;
//   - per-CPU maps take and return value buffers of possible_cpus() × round_up(value_size, 8) bytes
//     (value_buffer_size());
//   - map-in-map and prog-array values are written as descriptors (u32) and read back as object ids.
// Threads: element operations on one Map (or view) may run concurrently — each is one syscall. A BatchCursor,
// MapReader or EntryRange belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/syscall.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

// Everything BPF_MAP_CREATE accepts. Fields left at their defaults are not passed.
struct MapSpec {
  MapType type = MapType::hash;
  std::string name;  // ≤ 15 characters of [A-Za-z0-9_.]
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t flags = 0;  // map_flags::*
  int inner_map_fd = -1;    // template for array_of_maps / hash_of_maps
  std::uint64_t map_extra = 0;               // bloom filter: hash count; arena: user address hint
  std::optional<std::uint32_t> numa_node = std::nullopt;  // sets map_flags::numa_node when present
  std::uint32_t ifindex = 0;                 // device offload
  int btf_fd = -1;                           // BTF describing key and value
  std::uint32_t btf_key_type_id = 0;
  std::uint32_t btf_value_type_id = 0;
  std::uint32_t btf_vmlinux_value_type_id = 0;  // struct_ops
  int value_type_btf_obj_fd = -1;               // struct_ops value type in module BTF
  int token_fd = -1;                            // BPF token (delegated privileges)
};

// Checks a spec against what the kernel requires of its type, without any syscall (name characters, key and
// value sizes, max_entries, flags). The error is Errc::invalid_argument with errno EINVAL and says what to fix.
Result<void> validate(const MapSpec& spec);

// Checks a kernel object name: at most 15 characters from [A-Za-z0-9_.].
Result<void> validate_object_name(std::string_view name, std::string_view operation);

// Size of the value buffer user space exchanges for one element of a map of this type (per-CPU maps: one
// 8-byte-aligned slot per possible CPU).
Result<std::size_t> value_buffer_size(MapType type, std::uint32_t value_size);
bool is_per_cpu(MapType type) noexcept;

// struct bpf_map_info as of Linux 6.18 (Debian's header is 6.1). Passed whole; the kernel fills what it knows.
struct BpfMapInfo {
  std::uint32_t type = 0;
  std::uint32_t id = 0;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t map_flags = 0;
  char name[16] = {};
  std::uint32_t ifindex = 0;
  std::uint32_t btf_vmlinux_value_type_id = 0;
  std::uint64_t netns_dev = 0;
  std::uint64_t netns_ino = 0;
  std::uint32_t btf_id = 0;
  std::uint32_t btf_key_type_id = 0;
  std::uint32_t btf_value_type_id = 0;
  std::uint32_t btf_vmlinux_id = 0;
  std::uint64_t map_extra = 0;
  std::uint64_t hash = 0;  // 6.18: pointer to a SHA-256 buffer for the map's content hash (left 0)
  std::uint32_t hash_size = 0;
  std::uint32_t pad = 0;
};
static_assert(offsetof(BpfMapInfo, netns_dev) == 48 && offsetof(BpfMapInfo, map_extra) == 80 &&
              sizeof(BpfMapInfo) == 104);

struct MapInfo {
  MapType type = MapType::unspec;
  std::uint32_t id = 0;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t flags = 0;
  std::string name;
  std::uint32_t ifindex = 0;
  std::uint64_t netns_dev = 0;
  std::uint64_t netns_ino = 0;
  std::uint32_t btf_id = 0;
  std::uint32_t btf_key_type_id = 0;
  std::uint32_t btf_value_type_id = 0;
  std::uint32_t btf_vmlinux_value_type_id = 0;
  std::uint32_t btf_vmlinux_id = 0;
  std::uint64_t map_extra = 0;
};

// BPF_OBJ_GET_INFO_BY_FD on any map descriptor (owned elsewhere): what Map::info() returns.
Result<MapInfo> map_info(int map_fd);

// Batch-operation flags: elem_flags (UpdateFlag values, BPF_F_LOCK) and the command flags (0 today).
struct BatchOptions {
  std::uint64_t elem_flags = 0;
  std::uint64_t flags = 0;
};

// Where a batch lookup continues. Start with a default-constructed cursor; done() once the map is exhausted.
class BatchCursor {
 public:
  bool done() const noexcept { return done_; }
  void reset() noexcept { started_ = done_ = false; }

 private:
  friend class Map;
  std::vector<std::byte> token_;     // the kernel's opaque in/out batch position (u32 for hash, a key for array)
  std::vector<std::byte> last_key_;  // fallback mode: the last key returned by get_next_key
  bool started_ = false;
  bool done_ = false;
  bool fallback_ = false;
};

// An mmap'd view of a MMAPABLE array or an arena; unmapped on destruction.
class MapMapping {
 public:
  MapMapping() noexcept = default;
  MapMapping(void* addr, std::size_t size) noexcept : addr_(addr), size_(size) {}
  ~MapMapping() { reset(); }
  MapMapping(MapMapping&& other) noexcept : addr_(other.addr_), size_(other.size_) { other.addr_ = nullptr; }
  MapMapping& operator=(MapMapping&& other) noexcept;
  MapMapping(const MapMapping&) = delete;
  MapMapping& operator=(const MapMapping&) = delete;

  void* data() const noexcept { return addr_; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> bytes() const noexcept { return {static_cast<std::byte*>(addr_), size_}; }
  // The mapping as an array of T (T must fit the mapping's alignment; the page start is page-aligned).
  template <class T>
  std::span<T> as() const noexcept {
    return {static_cast<T*>(addr_), size_ / sizeof(T)};
  }
  void reset() noexcept;

 private:
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

class Map {
 public:
  Map() = default;

  static Result<Map> create(const MapSpec& spec);
  // Takes ownership of a descriptor; fails with a clear error if it is not a BPF map.
  static Result<Map> from_fd(Fd fd);
  static Result<Map> from_id(std::uint32_t id);
  // file_flags: map_flags::rdonly / wronly or 0. A missing path is Errc::not_found.
  static Result<Map> open_pinned(const std::string& path, std::uint32_t file_flags = 0);
  static Result<void> unpin(const std::string& path);
  Result<void> pin(const std::string& path) const;
  // A second Map sharing the same kernel map (dup'd descriptor).
  Result<Map> clone() const;

  int fd() const noexcept { return fd_.get(); }
  bool valid() const noexcept { return fd_.valid(); }
  MapType type() const noexcept { return type_; }
  const std::string& name() const noexcept { return name_; }
  std::uint32_t key_size() const noexcept { return key_size_; }
  std::uint32_t value_size() const noexcept { return value_size_; }
  std::uint32_t max_entries() const noexcept { return max_entries_; }
  std::uint32_t flags() const noexcept { return flags_; }
  // Bytes of one value as user space sees it (value_size, or the per-CPU total).
  std::size_t value_buffer_size() const noexcept { return value_buffer_size_; }
  Result<MapInfo> info() const;
  Result<std::uint32_t> id() const;

  // ---- single elements ----
  Result<void> lookup(std::span<const std::byte> key, std::span<std::byte> value,
                      std::uint64_t flags = 0) const;
  Result<void> update(std::span<const std::byte> key, std::span<const std::byte> value,
                      UpdateFlag flag = UpdateFlag::any);
  Result<void> remove(std::span<const std::byte> key);
  Result<void> lookup_and_delete(std::span<const std::byte> key, std::span<std::byte> value);
  // An empty `key` asks for the first key. Errc::key_not_found when there is no next key.
  Result<void> get_next_key(std::span<const std::byte> key, std::span<std::byte> next_key) const;
  // After freeze() user space can no longer update the map (EPERM); programs still can.
  Result<void> freeze();

  // ---- batches ---- (each returns how many elements were processed)
  // Reads up to keys.size()/key_size entries after `cursor`. Fewer (even 0) does not mean the end: check
  // cursor.done(). Falls back to get_next_key + lookup when the map type has no batch support.
  Result<std::uint32_t> lookup_batch(BatchCursor& cursor, std::span<std::byte> keys, std::span<std::byte> values,
                                     const BatchOptions& options = {}) const;
  Result<std::uint32_t> lookup_and_delete_batch(BatchCursor& cursor, std::span<std::byte> keys,
                                                std::span<std::byte> values, const BatchOptions& options = {});
  Result<std::uint32_t> update_batch(std::span<const std::byte> keys, std::span<const std::byte> values,
                                     const BatchOptions& options = {});
  Result<std::uint32_t> delete_batch(std::span<const std::byte> keys, const BatchOptions& options = {});

  // ---- queue / stack / bloom filter (key_size 0) ----
  // flag = UpdateFlag::exist replaces the oldest element of a full queue/stack.
  Result<void> push(std::span<const std::byte> value, UpdateFlag flag = UpdateFlag::any);
  Result<void> pop(std::span<std::byte> value);
  Result<void> peek(std::span<std::byte> value) const;
  // Bloom filter membership: false means certainly absent.
  Result<bool> contains(std::span<const std::byte> value) const;

  // ---- map-in-map (array_of_maps / hash_of_maps) and prog_array ----
  Result<void> set_fd(std::span<const std::byte> key, int fd);
  Result<void> set_inner_map(std::span<const std::byte> key, const Map& inner) { return set_fd(key, inner.fd()); }
  // The id of the object stored at `key`.
  Result<std::uint32_t> stored_id(std::span<const std::byte> key) const;
  Result<Map> inner_map(std::span<const std::byte> key) const;

  // ---- mmap (array with map_flags::mmapable, arena) ----
  // Maps the whole map; read-only when `writable` is false (required for frozen or rdonly_prog arrays).
  // An arena lives at one user address (map_extra, or wherever it was first mapped): later mappings through
  // this Map ask for the same address, as the kernel requires.
  Result<MapMapping> mmap(bool writable = true) const;

  // ---- iteration (byte level) ----
  // Calls f(key, value) for every entry, reading `batch_size` entries per syscall; stops early and returns
  // the error when f returns an error.
  template <class F>
  Result<void> for_each_bytes(F&& f, std::uint32_t batch_size = 256) const;

 private:
  static Result<Map> make(Fd fd, MapType type, std::string name, std::uint32_t key_size, std::uint32_t value_size,
                          std::uint32_t max_entries, std::uint32_t flags);
  static Result<Map> from_info(Fd fd, const BpfMapInfo& info);
  Result<void> check_key(std::span<const std::byte> key, std::string_view op) const;
  Result<void> check_value(std::size_t size, std::string_view op) const;
  Result<std::uint32_t> lookup_batch_fallback(BatchCursor& cursor, std::span<std::byte> keys,
                                              std::span<std::byte> values) const;
  Result<std::uint32_t> run_lookup_batch(sys::Cmd cmd, BatchCursor& cursor, std::span<std::byte> keys,
                                         std::span<std::byte> values, const BatchOptions& options) const;

  Fd fd_;
  MapType type_ = MapType::unspec;
  std::string name_;
  std::uint32_t key_size_ = 0;
  std::uint32_t value_size_ = 0;
  std::uint32_t max_entries_ = 0;
  std::uint32_t flags_ = 0;
  std::size_t value_buffer_size_ = 0;
  mutable std::uintptr_t arena_address_ = 0;  // first user address of an arena mapping
};

// Reads a map chunk by chunk into reused buffers (one allocation for the whole iteration).
class MapReader {
 public:
  explicit MapReader(const Map& map, std::uint32_t batch_size = 256);
  // Reads the next chunk. 0 means the map is exhausted.
  Result<std::uint32_t> next();
  std::span<const std::byte> key(std::uint32_t i) const noexcept {
    return {keys_.data() + std::size_t{i} * key_size_, key_size_};
  }
  std::span<const std::byte> value(std::uint32_t i) const noexcept {
    return {values_.data() + i * value_size_, value_size_};
  }

 private:
  const Map* map_;
  std::size_t key_size_;
  std::size_t value_size_;
  std::uint32_t batch_size_;
  std::vector<std::byte> keys_;
  std::vector<std::byte> values_;
  BatchCursor cursor_;
};

template <class F>
Result<void> Map::for_each_bytes(F&& f, std::uint32_t batch_size) const {
  MapReader reader(*this, batch_size);
  while (true) {
    auto n = EBPF_TRY(reader.next());
    if (n == 0) return ok();
    for (std::uint32_t i = 0; i < n; ++i) EBPF_TRY(f(reader.key(i), reader.value(i)));
  }
}

// Byte view of a trivially copyable object, for the byte-span API: map.update(as_bytes_of(k), as_bytes_of(v)).
template <class T>
std::span<const std::byte> as_bytes_of(const T& object) noexcept {
  return {reinterpret_cast<const std::byte*>(&object), sizeof(T)};
}
template <class T>
std::span<std::byte> as_writable_bytes_of(T& object) noexcept {
  return {reinterpret_cast<std::byte*>(&object), sizeof(T)};
}

}  // namespace ebpf

// Typed views (typed.hpp pulls in the per-CPU, LPM and special-purpose views after its own definitions, so
// any of these headers can be included first).
#include "ebpf/maps/typed.hpp"
