// Private: the storage behind ebpf::btf::Btf and helpers shared by the BTF sources.
#pragma once

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "ebpf/btf.hpp"

namespace ebpf::btf::detail {

inline constexpr std::uint32_t kHeaderSize = 24;
inline constexpr std::uint32_t kMaxResolveDepth = 32;  // same bound the kernel uses for modifier chains

inline std::uint32_t info_kind(std::uint32_t info) noexcept { return (info >> 24) & 0x1f; }
inline std::uint32_t info_vlen(std::uint32_t info) noexcept { return info & 0xffff; }
inline bool info_kflag(std::uint32_t info) noexcept { return (info >> 31) != 0; }

// Size in bytes of the kind-specific data following the 12-byte btf_type; -1 for an unknown kind.
inline long extra_size(std::uint32_t kind, std::uint32_t vlen) noexcept {
  switch (kind) {
    case 1: case 14: case 17: return 4;                  // INT, VAR, DECL_TAG
    case 3: return 12;                                   // ARRAY
    case 4: case 5: case 15: case 19: return 12L * vlen; // STRUCT, UNION, DATASEC, ENUM64
    case 6: case 13: return 8L * vlen;                   // ENUM, FUNC_PROTO
    case 2: case 7: case 8: case 9: case 10: case 11: case 12: case 16: case 18: return 0;
    default: return -1;
  }
}

// Owner of a BTF blob: a heap array, or a read-only private mapping of a sysfs BTF file (mapped_len != 0).
struct BlobFree {
  std::size_t mapped_len = 0;
  void operator()(std::byte* p) const noexcept;
};
using Blob = std::unique_ptr<std::byte[], BlobFree>;

struct BtfData {
  Blob blob;  // whole blob, native byte order
  std::size_t blob_size = 0;
  const std::uint32_t* types = nullptr;  // start of the type section (4-byte aligned)
  std::vector<std::uint32_t> offsets;     // word offset of each own type in `types`
  std::vector<TypeId> datasecs;           // ids of the own DATASEC types, ascending
  const char* strs = nullptr;
  std::uint32_t str_len = 0;
  std::shared_ptr<const BtfData> base;
  std::optional<Btf> base_handle;  // what Btf::base() returns
  std::uint32_t start_id = 1;      // first own id
  std::uint32_t base_str_len = 0;  // strings of the whole base chain

  // Name index (by essential name), built on first use: open addressing of chain heads + per-type next.
  mutable std::once_flag index_once;
  mutable std::atomic<bool> index_ready{false};
  mutable std::atomic<std::uint32_t> lookups{0};  // the first few lookups scan instead of building the index
  mutable std::vector<std::uint32_t> buckets;  // id+1 of chain head, 0 = empty
  mutable std::vector<std::uint32_t> next;     // per own type: id+1 of next in chain

  std::uint32_t type_count() const noexcept { return start_id + static_cast<std::uint32_t>(offsets.size()); }
  std::uint32_t total_str_len() const noexcept { return base_str_len + str_len; }

  Type at(TypeId id) const noexcept {
    if (id < start_id) return base ? base->at(id) : Type(this, nullptr, 0);
    std::uint32_t i = id - start_id;
    if (i >= offsets.size()) return Type(this, nullptr, 0);
    return Type(this, types + offsets[i], id);
  }
  std::string_view string(std::uint32_t off) const noexcept {
    if (off < base_str_len) return base->string(off);
    off -= base_str_len;
    if (off >= str_len) return {};
    return std::string_view(strs + off);  // NUL-termination of the section checked at parse time
  }
  void build_index() const;
  static std::string_view essential(std::string_view name) noexcept;
  void bucket_chain(std::string_view essential, std::vector<TypeId>& out) const;
};

}  // namespace ebpf::btf::detail
