// Map element operations on byte spans: single elements, queue/stack/bloom, map-in-map, mmap.
// Each checks the span sizes against the map before the syscall.
#include <sys/mman.h>

#include <cstring>

#include "ebpf/map.hpp"
#include "ebpf/system.hpp"

namespace ebpf {

namespace {

constexpr std::string_view kLookup = "BPF_MAP_LOOKUP_ELEM";
constexpr std::string_view kUpdate = "BPF_MAP_UPDATE_ELEM";
constexpr std::string_view kDelete = "BPF_MAP_DELETE_ELEM";
constexpr std::string_view kLookupDelete = "BPF_MAP_LOOKUP_AND_DELETE_ELEM";
constexpr std::string_view kNextKey = "BPF_MAP_GET_NEXT_KEY";

const void* data_or_null(std::span<const std::byte> bytes) { return bytes.empty() ? nullptr : bytes.data(); }

}  // namespace

Result<void> Map::check_key(std::span<const std::byte> key, std::string_view op) const {
  if (key.size() != key_size_)
    return Error::invalid(std::string(op), "map '" + name_ + "': key size " + std::to_string(key.size()) +
                                               " does not match the map's key size " + std::to_string(key_size_));
  return ok();
}

Result<void> Map::check_value(std::size_t size, std::string_view op) const {
  if (size != value_buffer_size_) {
    std::string what = is_per_cpu(type_) ? "per-CPU value buffer size " : "the map's value size ";
    return Error::invalid(std::string(op), "map '" + name_ + "': value size " + std::to_string(size) +
                                               " does not match " + what + std::to_string(value_buffer_size_));
  }
  return ok();
}

Result<void> Map::lookup(std::span<const std::byte> key, std::span<std::byte> value, std::uint64_t flags) const {
  EBPF_TRY(check_key(key, kLookup));
  EBPF_TRY(check_value(value.size(), kLookup));
  return sys::map_lookup_elem(fd(), data_or_null(key), value.data(), flags);
}

Result<void> Map::update(std::span<const std::byte> key, std::span<const std::byte> value, UpdateFlag flag) {
  EBPF_TRY(check_key(key, kUpdate));
  EBPF_TRY(check_value(value.size(), kUpdate));
  return sys::map_update_elem(fd(), data_or_null(key), value.data(), static_cast<std::uint64_t>(flag));
}

Result<void> Map::remove(std::span<const std::byte> key) {
  EBPF_TRY(check_key(key, kDelete));
  return sys::map_delete_elem(fd(), data_or_null(key));
}

Result<void> Map::lookup_and_delete(std::span<const std::byte> key, std::span<std::byte> value) {
  EBPF_TRY(check_key(key, kLookupDelete));
  EBPF_TRY(check_value(value.size(), kLookupDelete));
  return sys::map_lookup_and_delete_elem(fd(), data_or_null(key), value.data());
}

Result<void> Map::get_next_key(std::span<const std::byte> key, std::span<std::byte> next_key) const {
  if (!key.empty()) EBPF_TRY(check_key(key, kNextKey));
  if (next_key.size() != key_size_)
    return Error::invalid(std::string(kNextKey), "map '" + name_ + "': next-key buffer of " +
                                                     std::to_string(next_key.size()) + " bytes, the key size is " +
                                                     std::to_string(key_size_));
  return sys::map_get_next_key(fd(), data_or_null(key), next_key.data());
}

Result<void> Map::freeze() {
  auto r = sys::map_freeze(fd());
  if (!r) return std::move(r).error().context("freeze map '" + name_ + "'");
  return ok();
}

// ---- queue / stack / bloom filter ----

Result<void> Map::push(std::span<const std::byte> value, UpdateFlag flag) {
  EBPF_TRY(check_value(value.size(), kUpdate));
  return sys::map_update_elem(fd(), nullptr, value.data(), static_cast<std::uint64_t>(flag));
}

Result<void> Map::pop(std::span<std::byte> value) {
  EBPF_TRY(check_value(value.size(), kLookupDelete));
  return sys::map_lookup_and_delete_elem(fd(), nullptr, value.data());
}

Result<void> Map::peek(std::span<std::byte> value) const {
  EBPF_TRY(check_value(value.size(), kLookup));
  return sys::map_lookup_elem(fd(), nullptr, value.data());
}

Result<bool> Map::contains(std::span<const std::byte> value) const {
  EBPF_TRY(check_value(value.size(), kLookup));
  // A bloom filter "lookup" compares against the given value: the buffer is read, not written.
  auto r = sys::map_lookup_elem(fd(), nullptr, const_cast<std::byte*>(value.data()));
  if (r) return true;
  if (r.error().code() == Errc::key_not_found) return false;
  return std::move(r).error();
}

// ---- map-in-map, prog_array ----

Result<void> Map::set_fd(std::span<const std::byte> key, int object_fd) {
  EBPF_TRY(check_key(key, kUpdate));
  if (value_size_ != 4)
    return Error::invalid(std::string(kUpdate), "map '" + name_ + "' does not store descriptors (value size " +
                                                    std::to_string(value_size_) + ")");
  auto value = static_cast<std::uint32_t>(object_fd);
  return sys::map_update_elem(fd(), key.data(), &value, 0);
}

Result<std::uint32_t> Map::stored_id(std::span<const std::byte> key) const {
  EBPF_TRY(check_key(key, kLookup));
  if (value_size_ != 4)
    return Error::invalid(std::string(kLookup), "map '" + name_ + "' does not store object ids");
  std::uint32_t id = 0;
  EBPF_TRY(sys::map_lookup_elem(fd(), key.data(), &id));
  return id;
}

Result<Map> Map::inner_map(std::span<const std::byte> key) const {
  if (type_ != MapType::array_of_maps && type_ != MapType::hash_of_maps)
    return Error::invalid(std::string(kLookup), "map '" + name_ + "' is not a map of maps");
  auto id = EBPF_TRY(stored_id(key));
  return Map::from_id(id);
}

// ---- mmap ----

MapMapping& MapMapping::operator=(MapMapping&& other) noexcept {
  if (this != &other) {
    reset();
    addr_ = other.addr_;
    size_ = other.size_;
    other.addr_ = nullptr;
  }
  return *this;
}

void MapMapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

Result<MapMapping> Map::mmap(bool writable) const {
  const std::size_t page = page_size();
  std::size_t size = 0;
  void* hint = nullptr;
  if (type_ == MapType::array && (flags_ & map_flags::mmapable)) {
    // The kernel lays elements out with an 8-byte stride and maps whole pages.
    std::size_t stride = (std::size_t{value_size_} + 7) & ~std::size_t{7};
    size = (stride * max_entries_ + page - 1) / page * page;
  } else if (type_ == MapType::arena) {
    size = std::size_t{max_entries_} * page;
    hint = reinterpret_cast<void*>(arena_address_);
  } else {
    return Error::invalid("mmap", "map '" + name_ + "' (" + std::string(ebpf::name(type_)) +
                                      ") cannot be mapped: only arrays created with map_flags::mmapable and arenas can");
  }
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = ::mmap(hint, size, prot, MAP_SHARED, fd(), 0);
  if (addr == MAP_FAILED) {
    int e = errno;
    std::string hint_text = (e == EACCES || e == EPERM) && writable
                                ? " (a frozen or rdonly_prog map can only be mapped read-only)"
                                : "";
    return Error::from_errno(e, "mmap", "cannot map map '" + name_ + "'" + hint_text);
  }
  if (type_ == MapType::arena && arena_address_ == 0) arena_address_ = reinterpret_cast<std::uintptr_t>(addr);
  return MapMapping(addr, size);
}

}  // namespace ebpf
