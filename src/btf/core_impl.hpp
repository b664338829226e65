// Private: CO-RE access specifications and type-compatibility rules shared by core_spec.cpp and core.cpp.
#pragma once

#include <string>
#include <vector>

#include "ebpf/btf.hpp"
#include "ebpf/btf/core.hpp"

namespace ebpf::btf::core::detail {

// One step of an access path: the root (array index on the root pointer), a member or an array element.
struct Access {
  TypeId type = 0;        // the type indexed (root, or the struct/union/array after modifiers)
  std::uint32_t idx = 0;  // member / element / enumerator index
  std::string_view name;  // member or root name (empty for array steps)
  bool is_array = false;
};

struct Spec {
  const Btf* btf = nullptr;
  TypeId root = 0;
  std::vector<std::uint32_t> raw;    // indexes of the access string
  std::vector<Access> named;         // root, named members, array steps (anonymous members skipped)
  std::uint64_t bit_offset = 0;      // of the accessed field
  TypeId field_type = 0;             // type of the accessed field (member type or element type)
  std::uint32_t bitfield_size = 0;   // non-zero when the last step is a bitfield member
  std::int64_t enum_value = 0;       // enum relocations: value of the enumerator
  std::string describe() const;      // "struct task_struct.pid (0:26 @ byte 2392)"
};

bool is_field_kind(RelocKind k) noexcept;
bool is_type_kind(RelocKind k) noexcept;
bool is_enum_kind(RelocKind k) noexcept;

// Parses "0:1:2" against the local BTF. bad_format on a malformed string or out-of-range index.
Result<Spec> parse_spec(const Btf& local, TypeId root, std::string_view access, RelocKind kind);

// Matches a local spec against one target candidate root; false when the candidate does not fit.
Result<bool> match_spec(const Spec& local, const Btf& target, TypeId cand, RelocKind kind, Spec& out);

// libbpf-documented compatibility relations.
Result<bool> fields_compatible(const Btf& local, TypeId lid, const Btf& target, TypeId tid);
Result<bool> types_compatible(const Btf& local, TypeId lid, const Btf& target, TypeId tid, int depth = 0);
// behind_ptr: struct/union reached through a pointer match by name and kind only (as libbpf does), which
// also keeps self-referencing types (list_head's next/prev) from recursing forever.
Result<bool> types_match(const Btf& local, TypeId lid, const Btf& target, TypeId tid, int depth = 0,
                         bool behind_ptr = false);

}  // namespace ebpf::btf::core::detail
