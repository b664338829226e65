// ebpf/btf.hpp — BPF Type Format: parse, inspect, build and load BTF blobs.
//
// `Btf` keeps the raw bytes (in native byte order) plus one u32 offset per type and decodes types lazily into
// small `Type` views, so parsing /sys/kernel/btf/vmlinux costs one pass and ~4 bytes per type. The name index
// used by find()/find_all() is built on first use. Every offset, length and type id is checked while parsing:
// malformed input yields Errc::bad_format naming the offset or type id. Type id 0 is `void`.
//
// Split BTF (kernel module BTF) is a blob whose type ids and string offsets continue after a base BTF; parse it
// with `Btf::parse(bytes, base)`. A `Btf` is immutable and cheap to copy (copies share the data); `Type` views
// stay valid as long as any copy of the Btf they came from is alive.
//
// Related headers: ebpf/btf/ext.hpp (.BTF.ext), ebpf/btf/core.hpp (CO-RE), ebpf/btf/dump.hpp (C / raw dump).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace ebpf::btf {

using TypeId = std::uint32_t;

inline constexpr std::uint16_t kMagic = 0xeB9F;
inline constexpr TypeId kVoid = 0;

// BTF_KIND_* values.
enum class Kind : std::uint8_t {
  void_ = 0,  // "UNKN" in the kernel; only type id 0
  int_ = 1,
  ptr = 2,
  array = 3,
  struct_ = 4,
  union_ = 5,
  enum_ = 6,
  fwd = 7,
  typedef_ = 8,
  volatile_ = 9,
  const_ = 10,
  restrict_ = 11,
  func = 12,
  func_proto = 13,
  var = 14,
  datasec = 15,
  float_ = 16,
  decl_tag = 17,
  type_tag = 18,
  enum64 = 19,
};
inline constexpr std::uint8_t kMaxKind = 19;

// "INT", "STRUCT", ... as bpftool prints them; "UNKN" for void.
std::string_view kind_name(Kind kind) noexcept;

// BTF_INT_* encoding bits.
inline constexpr std::uint32_t kIntSigned = 1, kIntChar = 2, kIntBool = 4;
// BTF_FUNC_* linkage and BTF_VAR_* linkage.
inline constexpr std::uint32_t kFuncStatic = 0, kFuncGlobal = 1, kFuncExtern = 2;
inline constexpr std::uint32_t kVarStatic = 0, kVarGlobal = 1, kVarExtern = 2;

struct Member {
  std::string_view name;
  TypeId type = 0;
  std::uint32_t bit_offset = 0;     // from the start of the struct
  std::uint32_t bitfield_size = 0;  // 0 unless a bitfield (only with kind_flag)
};

struct EnumValue {
  std::string_view name;
  std::int64_t value = 0;  // for unsigned enums, reinterpret as std::uint64_t
};

struct Param {
  std::string_view name;  // empty for unnamed parameters
  TypeId type = 0;        // 0 for the trailing `...` of a variadic prototype
};

struct VarSecinfo {
  TypeId type = 0;  // a VAR or FUNC
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

struct ArrayInfo {
  TypeId elem_type = 0;
  TypeId index_type = 0;
  std::uint32_t nelems = 0;
};

namespace detail {
struct BtfData;
}

// A lightweight view of one type. Accessors for a kind's extra data (member(), enum_value(), ...) must only be
// called for that kind and with i < vlen(); everything was bounds-checked at parse time.
class Type {
 public:
  Type() = default;

  TypeId id() const noexcept { return id_; }
  Kind kind() const noexcept;
  std::string_view name() const noexcept;
  std::uint32_t name_off() const noexcept;
  std::uint32_t vlen() const noexcept;
  bool kind_flag() const noexcept;
  bool is_void() const noexcept { return raw_ == nullptr; }

  // size for INT/ENUM/ENUM64/STRUCT/UNION/DATASEC/FLOAT; 0 otherwise.
  std::uint32_t size() const noexcept;
  // Referenced type for PTR/TYPEDEF/VOLATILE/CONST/RESTRICT/FUNC/FUNC_PROTO(return)/VAR/DECL_TAG/TYPE_TAG.
  TypeId ref() const noexcept;

  // INT
  std::uint32_t int_encoding() const noexcept;  // kIntSigned | kIntChar | kIntBool
  std::uint32_t int_offset() const noexcept;
  std::uint32_t int_bits() const noexcept;
  // ARRAY
  ArrayInfo array() const noexcept;
  // STRUCT / UNION
  Member member(std::uint32_t i) const noexcept;
  // ENUM / ENUM64 (kind_flag set = signed values)
  EnumValue enum_value(std::uint32_t i) const noexcept;
  bool enum_signed() const noexcept { return kind_flag(); }
  // FUNC_PROTO
  Param param(std::uint32_t i) const noexcept;
  // FUNC: linkage is stored in vlen.
  std::uint32_t func_linkage() const noexcept { return vlen(); }
  // VAR
  std::uint32_t var_linkage() const noexcept;
  // DATASEC
  VarSecinfo secinfo(std::uint32_t i) const noexcept;
  // DECL_TAG: -1 for the type itself, else the member/parameter index.
  std::int32_t decl_tag_component() const noexcept;
  // FWD: kind_flag set = union.
  bool fwd_is_union() const noexcept { return kind_flag(); }

  bool is_struct_or_union() const noexcept { return kind() == Kind::struct_ || kind() == Kind::union_; }
  bool is_enum() const noexcept { return kind() == Kind::enum_ || kind() == Kind::enum64; }
  bool is_modifier() const noexcept;  // TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG

  // The raw record (btf_type + kind data), native byte order.
  std::span<const std::byte> raw() const noexcept;

 private:
  friend struct detail::BtfData;
  friend class Btf;
  Type(const detail::BtfData* data, const std::uint32_t* raw, TypeId id) : data_(data), raw_(raw), id_(id) {}
  const detail::BtfData* data_ = nullptr;
  const std::uint32_t* raw_ = nullptr;  // nullptr = void
  TypeId id_ = 0;
};

struct LoadOptions;
struct KernelFeatures;

class Btf {
 public:
  Btf();  // empty BTF: only void

  // Parses a .BTF blob (either byte order; a big-endian blob is converted to native order).
  static Result<Btf> parse(std::span<const std::byte> bytes);
  // Parses split BTF whose ids and strings continue after `base` (kernel module BTF).
  static Result<Btf> parse(std::span<const std::byte> bytes, const Btf& base);
  // Reads a raw BTF file (e.g. /sys/kernel/btf/<module>, optionally split on top of `base`).
  static Result<Btf> load_file(const std::string& path);
  static Result<Btf> load_file(const std::string& path, const Btf& base);
  // /sys/kernel/btf/vmlinux
  static Result<Btf> load_vmlinux();
  // The BTF object the kernel holds under `id` (a program's or map's btf_id), read back with
  // BPF_BTF_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD; pass `base` for a module's split BTF.
  static Result<Btf> from_kernel(std::uint32_t id);
  static Result<Btf> from_kernel(std::uint32_t id, const Btf& base);

  // Total number of type ids, void and base types included (valid ids are 0 .. type_count()-1).
  std::uint32_t type_count() const noexcept;
  // First id owned by this blob: 1, or the base's type_count() for split BTF.
  TypeId start_id() const noexcept;
  const Btf* base() const noexcept;  // nullptr unless split

  // Type by id; Errc::not_found if out of range.
  Result<Type> type(TypeId id) const;
  // Unchecked-by-contract fast path: returns the void view when id is out of range.
  Type at(TypeId id) const noexcept;

  // First type named `name` of kind `kind` (base types included); Errc::not_found otherwise.
  Result<Type> find(std::string_view name, Kind kind) const;
  // The DATASEC types this blob owns, in id order (recorded while parsing: no lookup, no name index built).
  std::span<const TypeId> datasecs() const noexcept;
  // All ids with exactly this name (any kind), in id order.
  std::vector<TypeId> find_all(std::string_view name) const;
  // All ids whose name equals `essential` after dropping a "___flavour" suffix (used by CO-RE).
  std::vector<TypeId> find_by_essential_name(std::string_view essential) const;

  // Follows TYPEDEF/VOLATILE/CONST/RESTRICT/TYPE_TAG; bad_format on a reference cycle or bad id.
  Result<Type> skip_modifiers(TypeId id) const;
  // Like skip_modifiers but also skips only CONST/VOLATILE/RESTRICT/TYPE_TAG (keeps typedefs).
  Result<Type> skip_qualifiers(TypeId id) const;
  // Size in bytes of a type (through modifiers, arrays multiply, pointers = 8); bad_format if sizeless.
  Result<std::uint32_t> resolve_size(TypeId id) const;
  // Alignment in bytes as a C compiler would choose it (for dumps and padding checks).
  Result<std::uint32_t> resolve_align(TypeId id) const;

  // String at `offset` in the (possibly base+split) string section; empty when out of range.
  std::string_view string(std::uint32_t offset) const noexcept;
  // Checked variant: Errc::bad_format when out of range.
  Result<std::string_view> string_at(std::uint32_t offset) const;

  // Iteration over the types this blob owns (start_id() .. type_count()-1).
  class Iterator {
   public:
    Type operator*() const noexcept { return btf_->at(id_); }
    Iterator& operator++() noexcept { ++id_; return *this; }
    bool operator==(const Iterator& o) const noexcept { return id_ == o.id_; }
    const Btf* btf_;
    TypeId id_;
  };
  Iterator begin() const noexcept { return {this, start_id()}; }
  Iterator end() const noexcept { return {this, type_count()}; }

  // The blob this Btf was parsed from, in native byte order (header + types + strings).
  std::span<const std::byte> raw() const noexcept;
  // Just the string section (this blob's part for split BTF).
  std::span<const char> strings() const noexcept;

  // BPF_BTF_LOAD. The blob is sanitised first for `options.features` (default: everything supported).
  Result<Fd> load_into_kernel(const LoadOptions& options) const;
  Result<Fd> load_into_kernel() const;

 private:
  explicit Btf(std::shared_ptr<const detail::BtfData> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::BtfData> data_;
};

// ---- building BTF (tests, sanitising, synthetic programs) ----

struct BuildMember {
  std::string name;
  TypeId type = 0;
  std::uint32_t bit_offset = 0;
  std::uint32_t bitfield_size = 0;  // non-zero sets the struct's kind_flag
};
struct BuildEnumValue {
  std::string name;
  std::int64_t value = 0;
};
struct BuildParam {
  std::string name;
  TypeId type = 0;
};

// Appends types in id order (first add returns 1) and a deduplicated string table; finish() emits a
// little-endian-native .BTF blob. No validation: tests may build malformed blobs on purpose.
class Builder {
 public:
  Builder();
  // Split BTF on top of `base` (like a kernel module's): ids start at base.type_count(), string offsets after
  // the base's strings; base types are referenced by their ids.
  explicit Builder(const Btf& base);

  std::uint32_t add_string(std::string_view s);

  TypeId add_int(std::string_view name, std::uint32_t size, std::uint32_t encoding = 0, std::uint32_t bits = 0,
                 std::uint32_t bit_offset = 0);
  TypeId add_ptr(TypeId target);
  TypeId add_array(TypeId elem, TypeId index, std::uint32_t nelems);
  TypeId add_struct(std::string_view name, std::uint32_t size, const std::vector<BuildMember>& members);
  TypeId add_union(std::string_view name, std::uint32_t size, const std::vector<BuildMember>& members);
  TypeId add_enum(std::string_view name, std::uint32_t size, const std::vector<BuildEnumValue>& values,
                  bool is_signed = false);
  TypeId add_enum64(std::string_view name, std::uint32_t size, const std::vector<BuildEnumValue>& values,
                    bool is_signed = false);
  TypeId add_fwd(std::string_view name, bool is_union = false);
  TypeId add_typedef(std::string_view name, TypeId target);
  TypeId add_volatile(TypeId target);
  TypeId add_const(TypeId target);
  TypeId add_restrict(TypeId target);
  TypeId add_func(std::string_view name, TypeId proto, std::uint32_t linkage = kFuncGlobal);
  TypeId add_func_proto(TypeId ret, const std::vector<BuildParam>& params);
  TypeId add_var(std::string_view name, TypeId type, std::uint32_t linkage = kVarGlobal);
  TypeId add_datasec(std::string_view name, std::uint32_t size, const std::vector<VarSecinfo>& vars);
  TypeId add_float(std::string_view name, std::uint32_t size);
  TypeId add_decl_tag(std::string_view value, TypeId target, std::int32_t component = -1);
  TypeId add_type_tag(std::string_view value, TypeId target);
  // Raw record: btf_type {name_off, info, size_or_type} followed by `extra` words, unvalidated.
  TypeId add_raw(std::uint32_t name_off, std::uint32_t info, std::uint32_t size_or_type,
                 std::span<const std::uint32_t> extra = {});
  static std::uint32_t info(Kind kind, std::uint32_t vlen, bool kind_flag = false) noexcept;

  TypeId next_id() const noexcept { return next_id_; }
  std::vector<std::byte> finish() const;
  Result<Btf> build() const { auto bytes = finish(); return Btf::parse(bytes); }

 private:
  TypeId add_members(Kind kind, std::string_view name, std::uint32_t size, const std::vector<BuildMember>& m);
  std::vector<std::uint32_t> types_;
  std::string strings_;
  std::vector<std::pair<std::string, std::uint32_t>> string_index_;  // small; linear dedup is fine in tests
  TypeId next_id_ = 1;
  std::uint32_t string_base_ = 0;  // split BTF: length of the base's strings
};

// ---- kernel loading and sanitising ----

// What the running kernel's BTF loader understands; a missing feature makes sanitize() rewrite those kinds
// into older equivalents the way loaders do (var/datasec -> int/struct, func -> typedef, func_proto -> enum,
// float -> struct, decl_tag -> int, type_tag -> const, enum64 -> union, signed/unsigned enum flag cleared).
struct KernelFeatures {
  bool func = true;         // FUNC / FUNC_PROTO (4.20)
  bool datasec = true;      // VAR / DATASEC (5.2)
  bool float_ = true;       // FLOAT (5.13)
  bool decl_tag = true;     // DECL_TAG (5.16)
  bool type_tag = true;     // TYPE_TAG (5.17)
  bool enum64 = true;       // ENUM64 and enum kind_flag signedness (6.0)
  bool func_global = true;  // BTF_FUNC_GLOBAL linkage (5.6)

  static KernelFeatures all() { return {}; }
  static KernelFeatures none() { return {false, false, false, false, false, false, false}; }
};

// Probes the running kernel by loading tiny BTF blobs (one BPF_BTF_LOAD each).
Result<KernelFeatures> probe_kernel_features();

// A copy of `btf`'s blob with unsupported kinds rewritten; type ids are preserved (types may be appended).
Result<std::vector<std::byte>> sanitize(const Btf& btf, const KernelFeatures& features);

struct LoadOptions {
  KernelFeatures features = KernelFeatures::all();
  std::uint32_t log_level = 0;      // >0: retry with a log on failure is automatic; this forces a log
  std::uint32_t log_size = 1 << 20;  // bytes for the verifier log on failure
};

// Loads raw BTF bytes as-is (no sanitising). On rejection the kernel's log is attached to the error.
Result<Fd> load_raw_into_kernel(std::span<const std::byte> blob, const LoadOptions& options = {});

}  // namespace ebpf::btf

namespace ebpf {
using Btf = btf::Btf;
}
