// Batch operations with a per-element fallback, and MapReader (chunked iteration over reused buffers).
//
// Kernel behaviour this relies on:
//   - a map type without batch support answers ENOTSUPP (524) or EOPNOTSUPP (some paths EINVAL) before
//     touching any element, so falling back to one syscall per element is safe;
//   - LOOKUP_BATCH on a hash map returns whole buckets: fewer entries than asked, ENOSPC when one bucket holds
//     more than the buffer, and ENOENT (with a valid count) at the end;
//   - get_next_key from a key that was deleted meanwhile restarts at the first key (hash maps).
#include <cstring>

#include "ebpf/map.hpp"

namespace ebpf {

namespace {

constexpr int kENOTSUPP = 524;  // kernel-internal "not supported", seen by user space

// Types whose kernel implementation has batch operations: for them EINVAL is a real error.
bool has_batch_ops(MapType type) {
  switch (type) {
    case MapType::hash: case MapType::lru_hash: case MapType::percpu_hash: case MapType::lru_percpu_hash:
    case MapType::array: case MapType::percpu_array: case MapType::lpm_trie: case MapType::array_of_maps:
    case MapType::hash_of_maps:
      return true;
    default:
      return false;
  }
}

// The kernel refuses unsupported batch commands before touching any element (attr.count is then left as
// passed in, so it cannot tell us anything).
bool batch_unsupported(const Error& error, MapType type) {
  int e = error.sys_errno();
  return e == kENOTSUPP || e == EOPNOTSUPP || (e == EINVAL && !has_batch_ops(type));
}

Error batch_error(Error error, const std::string& map_name) {
  return std::move(error.context("map '" + map_name + "'"));
}

// Runs a write batch command; where the kernel has no batch support for this map type, applies `one(i)` to
// each element instead (a genuine EINVAL then shows up again on the first element).
template <class PerElement>
Result<std::uint32_t> batch_or_each(sys::Cmd cmd, sys::MapBatchAttr& attr, MapType type, const std::string& name,
                                    std::size_t count, PerElement one) {
  auto r = sys::map_batch(cmd, attr);
  if (r) return attr.count;
  if (!batch_unsupported(r.error(), type)) return batch_error(std::move(r).error(), name);
  for (std::size_t i = 0; i < count; ++i) {
    auto done = one(i);
    if (!done) return batch_error(std::move(done).error(), name).context("element " + std::to_string(i));
  }
  return static_cast<std::uint32_t>(count);
}

}  // namespace

Result<std::uint32_t> Map::lookup_batch(BatchCursor& cursor, std::span<std::byte> keys, std::span<std::byte> values,
                                        const BatchOptions& options) const {
  return run_lookup_batch(sys::Cmd::map_lookup_batch, cursor, keys, values, options);
}

Result<std::uint32_t> Map::lookup_and_delete_batch(BatchCursor& cursor, std::span<std::byte> keys,
                                                   std::span<std::byte> values, const BatchOptions& options) {
  return run_lookup_batch(sys::Cmd::map_lookup_and_delete_batch, cursor, keys, values, options);
}

Result<std::uint32_t> Map::run_lookup_batch(sys::Cmd cmd, BatchCursor& cursor, std::span<std::byte> keys,
                                            std::span<std::byte> values, const BatchOptions& options) const {
  // The operation name becomes a std::string only on error paths: the hot path must not allocate.
  const std::string_view op = sys::name(cmd);
  if (key_size_ == 0) return Error::invalid(std::string(op), "map '" + name_ + "' has no keys to iterate");
  if (keys.size() % key_size_ != 0 || keys.empty())
    return Error::invalid(std::string(op), "map '" + name_ + "': key buffer of " + std::to_string(keys.size()) +
                                  " bytes is not a non-zero multiple of the key size " + std::to_string(key_size_));
  const std::size_t count = keys.size() / key_size_;
  if (values.size() != count * value_buffer_size_)
    return Error::invalid(std::string(op), "map '" + name_ + "': value buffer of " + std::to_string(values.size()) +
                                  " bytes, expected " + std::to_string(count) + " × " +
                                  std::to_string(value_buffer_size_));
  if (cursor.done_) return 0U;
  if (cursor.fallback_) return lookup_batch_fallback(cursor, keys, values);
  if (cursor.token_.empty()) cursor.token_.resize(std::max<std::size_t>(8, key_size_));

  sys::MapBatchAttr attr;
  attr.in_batch = cursor.started_ ? sys::ptr(cursor.token_.data()) : 0;
  attr.out_batch = sys::ptr(cursor.token_.data());
  attr.keys = sys::ptr(keys.data());
  attr.values = sys::ptr(values.data());
  attr.count = static_cast<std::uint32_t>(count);
  attr.map_fd = static_cast<std::uint32_t>(fd());
  attr.elem_flags = options.elem_flags;
  attr.flags = options.flags;
  auto r = sys::map_batch(cmd, attr);
  if (r) {
    cursor.started_ = true;
    return attr.count;
  }
  const int e = r.error().sys_errno();
  if (e == ENOENT) {  // the end; attr.count entries were still copied
    cursor.started_ = cursor.done_ = true;
    return attr.count;
  }
  if (e == ENOSPC && attr.count == 0) {
    // One hash bucket holds more entries than the buffer; the cursor was written and stays at that bucket.
    cursor.started_ = true;
    return Error(Errc::no_space, std::string(op), "map '" + name_ + "': a hash bucket holds more than " + std::to_string(count) +
                                         " entries; retry with a larger batch", ENOSPC);
  }
  if (!cursor.started_ && batch_unsupported(r.error(), type_) && cmd == sys::Cmd::map_lookup_batch &&
      options.elem_flags == 0) {
    cursor.fallback_ = true;
    return lookup_batch_fallback(cursor, keys, values);
  }
  return batch_error(std::move(r).error(), name_);
}

Result<std::uint32_t> Map::lookup_batch_fallback(BatchCursor& cursor, std::span<std::byte> keys,
                                                 std::span<std::byte> values) const {
  const std::size_t count = keys.size() / key_size_;
  if (cursor.last_key_.size() != key_size_) cursor.last_key_.resize(key_size_);
  std::uint32_t got = 0;
  while (got < count) {
    std::byte* key = keys.data() + std::size_t{got} * key_size_;
    std::byte* value = values.data() + std::size_t{got} * value_buffer_size_;
    auto next = sys::map_get_next_key(fd(), cursor.started_ ? cursor.last_key_.data() : nullptr, key);
    if (!next) {
      if (next.error().code() == Errc::key_not_found) {
        cursor.done_ = true;
        break;
      }
      return batch_error(std::move(next).error(), name_);
    }
    cursor.started_ = true;
    std::memcpy(cursor.last_key_.data(), key, key_size_);
    auto found = sys::map_lookup_elem(fd(), key, value);
    if (!found) {
      // Deleted between get_next_key and lookup: skip it. The next get_next_key from this (now missing) key
      // restarts at the first key, as the kernel documents, so entries may then be seen again.
      if (found.error().code() == Errc::key_not_found) continue;
      return batch_error(std::move(found).error(), name_);
    }
    ++got;
  }
  return got;
}

Result<std::uint32_t> Map::update_batch(std::span<const std::byte> keys, std::span<const std::byte> values,
                                        const BatchOptions& options) {
  const std::string_view op = sys::name(sys::Cmd::map_update_batch);
  if (key_size_ == 0 || keys.size() % key_size_ != 0)
    return Error::invalid(std::string(op), "map '" + name_ + "': key buffer of " + std::to_string(keys.size()) +
                                  " bytes is not a multiple of the key size " + std::to_string(key_size_));
  const std::size_t count = keys.size() / key_size_;
  if (values.size() != count * value_buffer_size_)
    return Error::invalid(std::string(op), "map '" + name_ + "': " + std::to_string(count) + " keys need " +
                                  std::to_string(count * value_buffer_size_) + " value bytes, got " +
                                  std::to_string(values.size()));
  if (count == 0) return 0U;
  sys::MapBatchAttr attr;
  attr.keys = sys::ptr(keys.data());
  attr.values = sys::ptr(values.data());
  attr.count = static_cast<std::uint32_t>(count);
  attr.map_fd = static_cast<std::uint32_t>(fd());
  attr.elem_flags = options.elem_flags;
  attr.flags = options.flags;
  return batch_or_each(sys::Cmd::map_update_batch, attr, type_, name_, count, [&](std::size_t i) {
    return sys::map_update_elem(fd(), keys.data() + i * key_size_, values.data() + i * value_buffer_size_,
                                options.elem_flags);
  });
}

Result<std::uint32_t> Map::delete_batch(std::span<const std::byte> keys, const BatchOptions& options) {
  const std::string_view op = sys::name(sys::Cmd::map_delete_batch);
  if (key_size_ == 0 || keys.size() % key_size_ != 0)
    return Error::invalid(std::string(op), "map '" + name_ + "': key buffer of " + std::to_string(keys.size()) +
                                  " bytes is not a multiple of the key size " + std::to_string(key_size_));
  const std::size_t count = keys.size() / key_size_;
  if (count == 0) return 0U;
  sys::MapBatchAttr attr;
  attr.keys = sys::ptr(keys.data());
  attr.count = static_cast<std::uint32_t>(count);
  attr.map_fd = static_cast<std::uint32_t>(fd());
  attr.elem_flags = options.elem_flags;
  attr.flags = options.flags;
  return batch_or_each(sys::Cmd::map_delete_batch, attr, type_, name_, count, [&](std::size_t i) {
    return sys::map_delete_elem(fd(), keys.data() + i * key_size_, options.elem_flags);
  });
}

// ---- MapReader ----

MapReader::MapReader(const Map& map, std::uint32_t batch_size)
    : map_(&map),
      key_size_(map.key_size()),
      value_size_(map.value_buffer_size()),
      batch_size_(batch_size == 0 ? 1 : batch_size) {}

Result<std::uint32_t> MapReader::next() {
  if (keys_.empty()) {
    keys_.resize(std::size_t{batch_size_} * key_size_);
    values_.resize(std::size_t{batch_size_} * value_size_);
  }
  while (!cursor_.done()) {
    auto n = map_->lookup_batch(cursor_, keys_, values_);
    if (!n) {
      if (n.error().sys_errno() != ENOSPC || batch_size_ >= (1U << 20)) return std::move(n).error();
      // A bucket larger than the buffer: grow once and retry from the same cursor (rare, not per entry).
      batch_size_ *= 2;
      keys_.resize(std::size_t{batch_size_} * key_size_);
      values_.resize(std::size_t{batch_size_} * value_size_);
      continue;
    }
    if (*n > 0) return *n;
  }
  return 0U;
}

}  // namespace ebpf
