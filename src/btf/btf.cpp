// BTF parsing and type access (see ebpf/btf.hpp). One pass over the type section records a u32 offset per
// type while checking every record, name offset and type reference against the blob's bounds.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "btf_data.hpp"
#include "ebpf/btf.hpp"

namespace ebpf::btf {

using detail::Blob;
using detail::BtfData;

std::string_view kind_name(Kind kind) noexcept {
  static constexpr std::string_view names[] = {"UNKN",     "INT",     "PTR",      "ARRAY",      "STRUCT",
                                               "UNION",    "ENUM",    "FWD",      "TYPEDEF",    "VOLATILE",
                                               "CONST",    "RESTRICT", "FUNC",    "FUNC_PROTO", "VAR",
                                               "DATASEC",  "FLOAT",   "DECL_TAG", "TYPE_TAG",   "ENUM64"};
  auto i = static_cast<std::size_t>(kind);
  return i < std::size(names) ? names[i] : "UNKN";
}

// ---- Type views ----

Kind Type::kind() const noexcept { return raw_ ? static_cast<Kind>(detail::info_kind(raw_[1])) : Kind::void_; }
std::uint32_t Type::name_off() const noexcept { return raw_ ? raw_[0] : 0; }
std::string_view Type::name() const noexcept { return raw_ ? data_->string(raw_[0]) : std::string_view(); }
std::uint32_t Type::vlen() const noexcept { return raw_ ? detail::info_vlen(raw_[1]) : 0; }
bool Type::kind_flag() const noexcept { return raw_ && detail::info_kflag(raw_[1]); }

std::uint32_t Type::size() const noexcept {
  switch (kind()) {
    case Kind::int_: case Kind::enum_: case Kind::enum64: case Kind::struct_: case Kind::union_:
    case Kind::datasec: case Kind::float_:
      return raw_[2];
    default:
      return 0;
  }
}

TypeId Type::ref() const noexcept {
  switch (kind()) {
    case Kind::ptr: case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_:
    case Kind::func: case Kind::func_proto: case Kind::var: case Kind::decl_tag: case Kind::type_tag:
      return raw_[2];
    default:
      return 0;
  }
}

bool Type::is_modifier() const noexcept {
  switch (kind()) {
    case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_: case Kind::type_tag:
      return true;
    default:
      return false;
  }
}

std::uint32_t Type::int_encoding() const noexcept { return (raw_[3] >> 24) & 0x0f; }
std::uint32_t Type::int_offset() const noexcept { return (raw_[3] >> 16) & 0xff; }
std::uint32_t Type::int_bits() const noexcept { return raw_[3] & 0xff; }
ArrayInfo Type::array() const noexcept { return {raw_[3], raw_[4], raw_[5]}; }

Member Type::member(std::uint32_t i) const noexcept {
  const std::uint32_t* m = raw_ + 3 + 3 * i;
  Member out{data_->string(m[0]), m[1], m[2], 0};
  if (kind_flag()) {
    out.bit_offset = m[2] & 0xffffff;
    out.bitfield_size = m[2] >> 24;
  }
  return out;
}

EnumValue Type::enum_value(std::uint32_t i) const noexcept {
  if (kind() == Kind::enum64) {
    const std::uint32_t* e = raw_ + 3 + 3 * i;
    return {data_->string(e[0]), static_cast<std::int64_t>((std::uint64_t{e[2]} << 32) | e[1])};
  }
  const std::uint32_t* e = raw_ + 3 + 2 * i;
  std::int64_t v = kind_flag() ? std::int64_t{static_cast<std::int32_t>(e[1])} : std::int64_t{e[1]};
  return {data_->string(e[0]), v};
}

Param Type::param(std::uint32_t i) const noexcept {
  const std::uint32_t* p = raw_ + 3 + 2 * i;
  return {data_->string(p[0]), p[1]};
}
std::uint32_t Type::var_linkage() const noexcept { return raw_[3]; }
VarSecinfo Type::secinfo(std::uint32_t i) const noexcept {
  const std::uint32_t* s = raw_ + 3 + 3 * i;
  return {s[0], s[1], s[2]};
}
std::int32_t Type::decl_tag_component() const noexcept { return static_cast<std::int32_t>(raw_[3]); }

std::span<const std::byte> Type::raw() const noexcept {
  if (!raw_) return {};
  long extra = detail::extra_size(detail::info_kind(raw_[1]), detail::info_vlen(raw_[1]));
  return {reinterpret_cast<const std::byte*>(raw_), static_cast<std::size_t>(12 + (extra < 0 ? 0 : extra))};
}

// ---- parsing ----

namespace {

constexpr const char* kOp = "BTF parse";

Error bad(std::string msg) { return Error(Errc::bad_format, kOp, std::move(msg), EINVAL); }

struct Header {
  std::uint16_t magic;
  std::uint8_t version, flags;
  std::uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

void swap_in_place(std::byte* blob, const Header& h) {
  auto* words = reinterpret_cast<std::uint32_t*>(blob + h.hdr_len + h.type_off);
  for (std::uint32_t i = 0; i < h.type_len / 4; ++i) words[i] = std::byteswap(words[i]);
}

Result<Header> read_header(std::byte* blob, std::size_t size) {
  if (size < detail::kHeaderSize)
    return bad("blob of " + std::to_string(size) + " bytes is smaller than the 24-byte BTF header");
  Header h;
  std::memcpy(&h.magic, blob, 2);
  bool swapped = false;
  if (h.magic == std::byteswap(kMagic)) {
    swapped = true;
  } else if (h.magic != kMagic) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%04x", h.magic);
    return bad(std::string("bad magic ") + buf + " at offset 0 (want 0xeb9f)");
  }
  h.version = static_cast<std::uint8_t>(blob[2]);
  h.flags = static_cast<std::uint8_t>(blob[3]);
  std::uint32_t f[5];
  std::memcpy(&h.hdr_len, blob + 4, 4);
  if (swapped) h.hdr_len = std::byteswap(h.hdr_len);
  if (h.version != 1) return bad("unsupported BTF version " + std::to_string(h.version) + " at offset 2");
  if (h.hdr_len < detail::kHeaderSize || h.hdr_len > size)
    return bad("header length " + std::to_string(h.hdr_len) + " at offset 4 is out of range");
  std::memcpy(f, blob + 8, sizeof f - 4);
  if (swapped)
    for (auto& v : f) v = std::byteswap(v);
  h.type_off = f[0], h.type_len = f[1], h.str_off = f[2], h.str_len = f[3];
  if (swapped) {  // store the header in native order too, so raw() is a valid native blob
    std::uint16_t m = kMagic;
    std::memcpy(blob, &m, 2);
    std::memcpy(blob + 4, &h.hdr_len, 4);
    std::memcpy(blob + 8, f, 16);
  }
  std::uint64_t body = size - h.hdr_len;
  if (std::uint64_t{h.type_off} + h.type_len > body)
    return bad("type section [" + std::to_string(h.type_off) + ", +" + std::to_string(h.type_len) +
               ") runs past the end of the blob (" + std::to_string(body) + " bytes after the header)");
  if (std::uint64_t{h.str_off} + h.str_len > body)
    return bad("string section [" + std::to_string(h.str_off) + ", +" + std::to_string(h.str_len) +
               ") runs past the end of the blob");
  if (h.type_off % 4 || h.type_len % 4 || h.hdr_len % 4)
    return bad("type section offset/length must be 4-byte aligned (hdr_len " + std::to_string(h.hdr_len) +
               ", type_off " + std::to_string(h.type_off) + ", type_len " + std::to_string(h.type_len) + ")");
  bool overlap = h.type_off < std::uint64_t{h.str_off} + h.str_len && h.str_off < std::uint64_t{h.type_off} + h.type_len;
  if (overlap && h.type_len && h.str_len) return bad("type and string sections overlap");
  if (swapped) swap_in_place(blob, h);
  return h;
}

// Checks one record's references; returns an error message or empty.
struct Checker {
  const BtfData& d;
  std::uint32_t count;  // type ids must be < count
  std::uint32_t strs;   // name offsets must be < strs

  bool id_ok(std::uint32_t id) const noexcept { return id < count; }
  bool str_ok(std::uint32_t off) const noexcept { return off < strs; }

  Result<void> fail(TypeId id, std::uint32_t byte_off, const std::string& what) const {
    return bad("type [" + std::to_string(id) + "] at type-section offset " + std::to_string(byte_off) + ": " +
               what);
  }

  Result<void> check(TypeId id, const std::uint32_t* t, std::uint32_t byte_off) const {
    std::uint32_t kind = detail::info_kind(t[1]), vlen = detail::info_vlen(t[1]);
    if (!str_ok(t[0])) return fail(id, byte_off, "name offset " + std::to_string(t[0]) + " out of range");
    switch (kind) {
      case 2: case 8: case 9: case 10: case 11: case 12: case 14: case 17: case 18:
        if (!id_ok(t[2])) return fail(id, byte_off, "references type " + std::to_string(t[2]) + " beyond the last id");
        return ok();
      case 3:
        if (!id_ok(t[3]) || !id_ok(t[4])) return fail(id, byte_off, "array element/index type out of range");
        return ok();
      case 13:
        if (!id_ok(t[2])) return fail(id, byte_off, "return type out of range");
        for (std::uint32_t i = 0; i < vlen; ++i)
          if (!str_ok(t[3 + 2 * i]) || !id_ok(t[4 + 2 * i]))
            return fail(id, byte_off, "parameter " + std::to_string(i) + " has a bad name or type");
        return ok();
      case 4: case 5:
        for (std::uint32_t i = 0; i < vlen; ++i)
          if (!str_ok(t[3 + 3 * i]) || !id_ok(t[4 + 3 * i]))
            return fail(id, byte_off, "member " + std::to_string(i) + " has a bad name or type");
        return ok();
      case 15:
        for (std::uint32_t i = 0; i < vlen; ++i)
          if (!id_ok(t[3 + 3 * i]))
            return fail(id, byte_off, "variable " + std::to_string(i) + " references a type beyond the last id");
        return ok();
      case 6:
        for (std::uint32_t i = 0; i < vlen; ++i)
          if (!str_ok(t[3 + 2 * i])) return fail(id, byte_off, "enumerator " + std::to_string(i) + " has a bad name");
        return ok();
      case 19:
        for (std::uint32_t i = 0; i < vlen; ++i)
          if (!str_ok(t[3 + 3 * i])) return fail(id, byte_off, "enumerator " + std::to_string(i) + " has a bad name");
        return ok();
      default:
        return ok();
    }
  }
};

// What each kind's record holds, as a table so the hot loops branch on data instead of a switch per type:
// words after the 12-byte header (fixed + per_vlen * vlen) and which words are type ids / name offsets.
struct KindLayout {
  std::uint8_t valid = 0, fixed = 0, per_vlen = 0;
  std::uint8_t ref = 0;      // t[2] is a type id
  std::uint8_t array = 0;    // t[3], t[4] are type ids
  std::uint8_t name0 = 0;    // each vlen entry starts with a name offset
  std::uint8_t type0 = 0;    // ... starts with a type id (DATASEC)
  std::uint8_t type1 = 0;    // ... has a type id in its second word
};
constexpr auto kLayouts = [] {
  std::array<KindLayout, 32> t{};
  for (int k : {2, 7, 8, 9, 10, 11, 12, 16, 18}) t[k].valid = 1;
  for (int k : {1, 14, 17}) t[k] = {1, 1, 0};
  t[3] = {1, 3, 0};
  for (int k : {4, 5, 15, 19}) t[k] = {1, 0, 3};
  for (int k : {6, 13}) t[k] = {1, 0, 2};
  for (int k : {2, 8, 9, 10, 11, 12, 13, 14, 17, 18}) t[k].ref = 1;
  t[3].array = 1;
  for (int k : {4, 5, 6, 13, 19}) t[k].name0 = 1;
  t[15].type0 = 1;
  for (int k : {4, 5, 13}) t[k].type1 = 1;
  return t;
}();

// The fast form of Checker::check, for a single pass that does not know the type count yet: true when every
// name offset is < strs; raises max_ref to the largest type id referenced.
inline bool names_ok(const std::uint32_t* t, std::uint32_t strs, std::uint32_t& max_ref) noexcept {
  const KindLayout& l = kLayouts[detail::info_kind(t[1])];
  bool ok = t[0] < strs;
  std::uint32_t m = max_ref;
  if (l.ref) m = std::max(m, t[2]);
  if (l.array) m = std::max({m, t[3], t[4]});
  const std::uint32_t vlen = l.per_vlen ? detail::info_vlen(t[1]) : 0;
  const std::uint32_t* w = t + 3;
  for (std::uint32_t i = 0; i < vlen; ++i, w += l.per_vlen) {
    ok &= (l.name0 == 0) || w[0] < strs;
    if (l.type0) m = std::max(m, w[0]);
    if (l.type1) m = std::max(m, w[1]);
  }
  max_ref = m;
  return ok;
}

Result<std::shared_ptr<BtfData>> parse_owned(Blob blob, std::size_t size,
                                             std::shared_ptr<const BtfData> base) {
  auto h = EBPF_TRY(read_header(blob.get(), size));
  auto d = std::make_shared<BtfData>();
  d->blob_size = size;
  d->base = base;
  d->start_id = base ? base->type_count() : 1;
  d->base_str_len = base ? base->total_str_len() : 0;
  d->strs = reinterpret_cast<const char*>(blob.get() + h.hdr_len + h.str_off);
  d->str_len = h.str_len;
  if (h.str_len && d->strs[h.str_len - 1] != '\0') return bad("string section is not NUL-terminated");
  if (!base && (h.str_len == 0 || d->strs[0] != '\0'))
    return bad("string section must start with an empty string at offset 0");
  d->types = reinterpret_cast<const std::uint32_t*>(blob.get() + h.hdr_len + h.type_off);
  const std::uint32_t words = h.type_len / 4;
  // One pass: the record layout, name offsets, and the largest type id referenced (checked against the count
  // at the end). Offsets (and DATASEC ids, in the second half) go to scratch sized for the most records that
  // fit, then are kept at their exact size.
  const std::uint32_t cap = words / 3 + 1;
  std::unique_ptr<std::uint32_t[]> scratch(new std::uint32_t[2 * std::size_t{cap}]);
  std::uint32_t n = 0, max_ref = 0, n_datasecs = 0;
  bool all_names_ok = true;
  for (std::uint32_t pos = 0; pos < words; ++n) {
    TypeId id = d->start_id + n;
    if (words - pos < 3) return bad("type [" + std::to_string(id) + "] header truncated at type-section offset " + std::to_string(pos * 4));
    std::uint32_t info = d->types[pos + 1];
    const KindLayout& layout = kLayouts[detail::info_kind(info)];
    long extra = layout.valid ? 4L * (layout.fixed + layout.per_vlen * detail::info_vlen(info)) : -1;
    if (extra < 0)
      return bad("type [" + std::to_string(id) + "] at type-section offset " + std::to_string(pos * 4) +
                 " has unknown kind " + std::to_string(detail::info_kind(info)));
    std::uint64_t len = 3 + static_cast<std::uint64_t>(extra) / 4;
    if (len > words - pos)
      return bad("type [" + std::to_string(id) + "] (" + std::string(kind_name(static_cast<Kind>(detail::info_kind(info)))) +
                 ", vlen " + std::to_string(detail::info_vlen(info)) + ") at type-section offset " +
                 std::to_string(pos * 4) + " runs past the end of the type section");
    scratch[n] = pos;
    all_names_ok &= names_ok(d->types + pos, d->total_str_len(), max_ref);
    if (detail::info_kind(info) == static_cast<std::uint32_t>(Kind::datasec)) scratch[cap + n_datasecs++] = id;
    pos += static_cast<std::uint32_t>(len);
  }
  d->offsets.assign(scratch.get(), scratch.get() + n);
  d->datasecs.assign(scratch.get() + cap, scratch.get() + cap + n_datasecs);
  scratch.reset();
  const std::uint32_t count = d->start_id + n;
  if (!all_names_ok || max_ref >= count) {  // something is out of range: find the first culprit, for the message
    Checker checker{*d, count, d->total_str_len()};
    for (std::uint32_t i = 0; i < n; ++i)
      EBPF_TRY(checker.check(d->start_id + i, d->types + d->offsets[i], d->offsets[i] * 4));
  }
  d->blob = std::move(blob);
  return d;
}

Result<std::shared_ptr<BtfData>> parse_copy(std::span<const std::byte> bytes, std::shared_ptr<const BtfData> base) {
  Blob blob(new std::byte[bytes.size() ? bytes.size() : 1]);
  if (!bytes.empty()) std::memcpy(blob.get(), bytes.data(), bytes.size());
  return parse_owned(std::move(blob), bytes.size(), std::move(base));
}

Result<std::shared_ptr<BtfData>> with_path(Result<std::shared_ptr<BtfData>> r, const std::string& path) {
  if (!r) {
    Error e = r.error();
    e.context(path);
    return e;
  }
  return r;
}

// Kernel BTF in sysfs (/sys/kernel/btf/vmlinux, 6.16+) can be mapped read-only: the parse then needs no copy
// and none of the ~1,300 read() calls sysfs's 4 KiB chunks cost (read() was two thirds of a vmlinux parse), and
// the 5 MB stay out of the heap. Only sysfs files qualify (they cannot shrink under the mapping, which would
// fault), only native byte order (a swapped blob is fixed in place, which needs a private copy). Null blob
// when mapping is not possible: the caller reads the file instead.
Blob map_sysfs_btf(int fd, const struct stat& st, std::size_t& size) {
  struct statfs fs{};
  if (st.st_size < 24 || ::fstatfs(fd, &fs) != 0 || fs.f_type != SYSFS_MAGIC) return Blob();
  const auto len = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return Blob();
  Blob blob(static_cast<std::byte*>(p), detail::BlobFree{len});
  std::uint16_t magic = 0;
  std::memcpy(&magic, blob.get(), sizeof magic);
  if (magic != 0xeb9f) return Blob();
  size = len;
  return blob;
}

Result<std::shared_ptr<BtfData>> read_file(const std::string& path, std::shared_ptr<const BtfData> base) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "open", "BTF file " + path);
  Fd owner(fd);
  struct stat st{};
  if (::fstat(owner.get(), &st) != 0) return Error::from_errno(errno, "fstat", path);
  std::size_t size = 0;
  Blob blob = map_sysfs_btf(owner.get(), st, size);
  if (blob) return with_path(parse_owned(std::move(blob), size, std::move(base)), path);
  // sysfs files report size 0 or a fixed size; read until EOF into a growing buffer.
  std::size_t cap = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 1 << 20;
  blob = Blob(new std::byte[cap]);
  for (;;) {
    if (size == cap) {
      Blob bigger(new std::byte[cap * 2]);
      std::memcpy(bigger.get(), blob.get(), size);
      blob = std::move(bigger);
      cap *= 2;
    }
    ssize_t n = ::read(owner.get(), blob.get() + size, cap - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "read", path);
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  return with_path(parse_owned(std::move(blob), size, std::move(base)), path);
}

}  // namespace

void detail::BlobFree::operator()(std::byte* p) const noexcept {
  if (mapped_len)
    ::munmap(p, mapped_len);
  else
    delete[] p;
}

Btf::Btf() {
  auto d = std::make_shared<BtfData>();
  static const char empty[1] = {0};
  d->strs = empty;
  d->str_len = 1;
  data_ = std::move(d);
}

Result<Btf> Btf::parse(std::span<const std::byte> bytes) { return Btf(EBPF_TRY(parse_copy(bytes, nullptr))); }
Result<Btf> Btf::parse(std::span<const std::byte> bytes, const Btf& base) {
  auto d = EBPF_TRY(parse_copy(bytes, base.data_));
  d->base_handle = base;
  return Btf(std::move(d));
}
Result<Btf> Btf::load_file(const std::string& path) { return Btf(EBPF_TRY(read_file(path, nullptr))); }
Result<Btf> Btf::load_file(const std::string& path, const Btf& base) {
  auto d = EBPF_TRY(read_file(path, base.data_));
  d->base_handle = base;
  return Btf(std::move(d));
}
Result<Btf> Btf::load_vmlinux() { return load_file("/sys/kernel/btf/vmlinux"); }

std::uint32_t Btf::type_count() const noexcept { return data_->type_count(); }
TypeId Btf::start_id() const noexcept { return data_->start_id; }
const Btf* Btf::base() const noexcept { return data_->base_handle ? &*data_->base_handle : nullptr; }

Result<Type> Btf::type(TypeId id) const {
  if (id >= type_count())
    return Error(Errc::not_found, "BTF type", "type id " + std::to_string(id) + " out of range (" +
                                                  std::to_string(type_count()) + " types)");
  return data_->at(id);
}
Type Btf::at(TypeId id) const noexcept { return data_->at(id); }
std::span<const TypeId> Btf::datasecs() const noexcept { return data_->datasecs; }

std::string_view Btf::string(std::uint32_t offset) const noexcept {
  return offset < data_->total_str_len() ? data_->string(offset) : std::string_view();
}
Result<std::string_view> Btf::string_at(std::uint32_t offset) const {
  if (offset >= data_->total_str_len())
    return bad("string offset " + std::to_string(offset) + " beyond the string section (" +
               std::to_string(data_->total_str_len()) + " bytes)");
  return data_->string(offset);
}

std::span<const std::byte> Btf::raw() const noexcept {
  if (!data_->blob) return {};
  return {data_->blob.get(), data_->blob_size};
}
std::span<const char> Btf::strings() const noexcept { return {data_->strs, data_->str_len}; }

// ---- resolution ----

static Error cycle(TypeId id) {
  return Error(Errc::bad_format, "BTF resolve",
               "type [" + std::to_string(id) + "]: modifier chain longer than 32 (reference cycle?)", EINVAL);
}

Result<Type> Btf::skip_modifiers(TypeId id) const {
  Type t = EBPF_TRY(type(id));
  for (std::uint32_t depth = 0; t.is_modifier(); ++depth) {
    if (depth == detail::kMaxResolveDepth) return cycle(id);
    t = data_->at(t.ref());
  }
  return t;
}

Result<Type> Btf::skip_qualifiers(TypeId id) const {
  Type t = EBPF_TRY(type(id));
  for (std::uint32_t depth = 0; t.is_modifier() && t.kind() != Kind::typedef_; ++depth) {
    if (depth == detail::kMaxResolveDepth) return cycle(id);
    t = data_->at(t.ref());
  }
  return t;
}

Result<std::uint32_t> Btf::resolve_size(TypeId id) const {
  std::uint64_t mult = 1;
  Type t = EBPF_TRY(type(id));
  for (std::uint32_t depth = 0;; ++depth) {
    if (depth > detail::kMaxResolveDepth) return cycle(id);
    switch (t.kind()) {
      case Kind::int_: case Kind::enum_: case Kind::enum64: case Kind::struct_: case Kind::union_:
      case Kind::datasec: case Kind::float_: {
        std::uint64_t total = mult * t.size();
        if (total > UINT32_MAX)
          return Error(Errc::bad_format, "BTF resolve", "type [" + std::to_string(id) + "]: size overflows", EINVAL);
        return static_cast<std::uint32_t>(total);
      }
      case Kind::ptr:
        return static_cast<std::uint32_t>(mult * 8);
      case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_: case Kind::type_tag:
      case Kind::var:
        t = data_->at(t.ref());
        break;
      case Kind::array:
        mult *= t.array().nelems;
        if (mult > UINT32_MAX)
          return Error(Errc::bad_format, "BTF resolve", "type [" + std::to_string(id) + "]: size overflows", EINVAL);
        t = data_->at(t.array().elem_type);
        break;
      default:
        return Error(Errc::bad_format, "BTF resolve",
                     "type [" + std::to_string(id) + "] (" + std::string(kind_name(t.kind())) + ") has no size",
                     EINVAL);
    }
  }
}

namespace {
// Alignment with a depth bound (nesting) and a step budget (wide, repeated nesting in malformed BTF).
Result<std::uint32_t> align_of(const BtfData& d, TypeId root, TypeId id, int depth, long& budget) {
  for (;; ++depth) {
    if (depth > static_cast<int>(detail::kMaxResolveDepth) || --budget < 0) return cycle(root);
    Type t = d.at(id);
    switch (t.kind()) {
      case Kind::int_: case Kind::enum_: case Kind::enum64: case Kind::float_:
        return std::min<std::uint32_t>(t.size() ? t.size() : 1, 8);
      case Kind::ptr:
        return 8u;
      case Kind::array:
        id = t.array().elem_type;
        break;
      case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_: case Kind::type_tag:
        id = t.ref();
        break;
      case Kind::struct_: case Kind::union_: {
        std::uint32_t align = 1;
        for (std::uint32_t i = 0; i < t.vlen(); ++i) {
          std::uint32_t a = EBPF_TRY(align_of(d, root, t.member(i).type, depth + 1, budget));
          align = std::max(align, a);
        }
        return align;
      }
      default:
        return 1u;
    }
  }
}
}  // namespace

Result<std::uint32_t> Btf::resolve_align(TypeId id) const {
  EBPF_TRY(type(id));
  long budget = 1'000'000;
  return align_of(*data_, id, id, 0, budget);
}

}  // namespace ebpf::btf
