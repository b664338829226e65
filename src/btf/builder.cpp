// ebpf::btf::Builder: appends BTF records word by word; used by tests, probes and synthetic programs.
#include <cstring>

#include "btf_data.hpp"
#include "ebpf/btf.hpp"

namespace ebpf::btf {

Builder::Builder() { strings_.push_back('\0'); }

Builder::Builder(const Btf& base) : next_id_(base.type_count()) {
  for (const Btf* b = &base; b != nullptr; b = b->base()) string_base_ += static_cast<std::uint32_t>(b->strings().size());
  strings_.push_back('\0');
}

std::uint32_t Builder::info(Kind kind, std::uint32_t vlen, bool kind_flag) noexcept {
  return (kind_flag ? 1u << 31 : 0u) | (static_cast<std::uint32_t>(kind) << 24) | (vlen & 0xffff);
}

std::uint32_t Builder::add_string(std::string_view s) {
  if (s.empty()) return 0;
  for (const auto& [str, off] : string_index_)
    if (str == s) return off;
  auto off = string_base_ + static_cast<std::uint32_t>(strings_.size());
  strings_.append(s);
  strings_.push_back('\0');
  string_index_.emplace_back(std::string(s), off);
  return off;
}

TypeId Builder::add_raw(std::uint32_t name_off, std::uint32_t info_word, std::uint32_t size_or_type,
                        std::span<const std::uint32_t> extra) {
  types_.push_back(name_off);
  types_.push_back(info_word);
  types_.push_back(size_or_type);
  types_.insert(types_.end(), extra.begin(), extra.end());
  return next_id_++;
}

TypeId Builder::add_int(std::string_view name, std::uint32_t size, std::uint32_t encoding, std::uint32_t bits,
                        std::uint32_t bit_offset) {
  if (bits == 0) bits = size * 8;
  std::uint32_t word = (encoding & 0xf) << 24 | (bit_offset & 0xff) << 16 | (bits & 0xff);
  return add_raw(add_string(name), info(Kind::int_, 0), size, std::span(&word, 1));
}

TypeId Builder::add_ptr(TypeId target) { return add_raw(0, info(Kind::ptr, 0), target); }

TypeId Builder::add_array(TypeId elem, TypeId index, std::uint32_t nelems) {
  std::uint32_t words[3] = {elem, index, nelems};
  return add_raw(0, info(Kind::array, 0), 0, words);
}

TypeId Builder::add_members(Kind kind, std::string_view name, std::uint32_t size,
                            const std::vector<BuildMember>& members) {
  bool bitfields = false;
  for (const auto& m : members) bitfields |= m.bitfield_size != 0;
  std::vector<std::uint32_t> words;
  for (const auto& m : members) {
    words.push_back(add_string(m.name));
    words.push_back(m.type);
    words.push_back(bitfields ? (m.bitfield_size << 24 | (m.bit_offset & 0xffffff)) : m.bit_offset);
  }
  std::uint32_t name_off = add_string(name);
  return add_raw(name_off, info(kind, static_cast<std::uint32_t>(members.size()), bitfields), size, words);
}

TypeId Builder::add_struct(std::string_view name, std::uint32_t size, const std::vector<BuildMember>& members) {
  return add_members(Kind::struct_, name, size, members);
}
TypeId Builder::add_union(std::string_view name, std::uint32_t size, const std::vector<BuildMember>& members) {
  return add_members(Kind::union_, name, size, members);
}

TypeId Builder::add_enum(std::string_view name, std::uint32_t size, const std::vector<BuildEnumValue>& values,
                         bool is_signed) {
  std::vector<std::uint32_t> words;
  for (const auto& v : values) {
    words.push_back(add_string(v.name));
    words.push_back(static_cast<std::uint32_t>(v.value));
  }
  std::uint32_t name_off = add_string(name);
  return add_raw(name_off, info(Kind::enum_, static_cast<std::uint32_t>(values.size()), is_signed), size, words);
}

TypeId Builder::add_enum64(std::string_view name, std::uint32_t size, const std::vector<BuildEnumValue>& values,
                           bool is_signed) {
  std::vector<std::uint32_t> words;
  for (const auto& v : values) {
    auto u = static_cast<std::uint64_t>(v.value);
    words.push_back(add_string(v.name));
    words.push_back(static_cast<std::uint32_t>(u));
    words.push_back(static_cast<std::uint32_t>(u >> 32));
  }
  std::uint32_t name_off = add_string(name);
  return add_raw(name_off, info(Kind::enum64, static_cast<std::uint32_t>(values.size()), is_signed), size, words);
}

TypeId Builder::add_fwd(std::string_view name, bool is_union) {
  return add_raw(add_string(name), info(Kind::fwd, 0, is_union), 0);
}
TypeId Builder::add_typedef(std::string_view name, TypeId target) {
  return add_raw(add_string(name), info(Kind::typedef_, 0), target);
}
TypeId Builder::add_volatile(TypeId target) { return add_raw(0, info(Kind::volatile_, 0), target); }
TypeId Builder::add_const(TypeId target) { return add_raw(0, info(Kind::const_, 0), target); }
TypeId Builder::add_restrict(TypeId target) { return add_raw(0, info(Kind::restrict_, 0), target); }

TypeId Builder::add_func(std::string_view name, TypeId proto, std::uint32_t linkage) {
  return add_raw(add_string(name), info(Kind::func, linkage), proto);
}

TypeId Builder::add_func_proto(TypeId ret, const std::vector<BuildParam>& params) {
  std::vector<std::uint32_t> words;
  for (const auto& p : params) {
    words.push_back(add_string(p.name));
    words.push_back(p.type);
  }
  return add_raw(0, info(Kind::func_proto, static_cast<std::uint32_t>(params.size())), ret, words);
}

TypeId Builder::add_var(std::string_view name, TypeId type, std::uint32_t linkage) {
  return add_raw(add_string(name), info(Kind::var, 0), type, std::span(&linkage, 1));
}

TypeId Builder::add_datasec(std::string_view name, std::uint32_t size, const std::vector<VarSecinfo>& vars) {
  std::vector<std::uint32_t> words;
  for (const auto& v : vars) {
    words.push_back(v.type);
    words.push_back(v.offset);
    words.push_back(v.size);
  }
  std::uint32_t name_off = add_string(name);
  return add_raw(name_off, info(Kind::datasec, static_cast<std::uint32_t>(vars.size())), size, words);
}

TypeId Builder::add_float(std::string_view name, std::uint32_t size) {
  return add_raw(add_string(name), info(Kind::float_, 0), size);
}

TypeId Builder::add_decl_tag(std::string_view value, TypeId target, std::int32_t component) {
  auto word = static_cast<std::uint32_t>(component);
  return add_raw(add_string(value), info(Kind::decl_tag, 0), target, std::span(&word, 1));
}

TypeId Builder::add_type_tag(std::string_view value, TypeId target) {
  return add_raw(add_string(value), info(Kind::type_tag, 0), target);
}

std::vector<std::byte> Builder::finish() const {
  std::uint32_t type_len = static_cast<std::uint32_t>(types_.size() * 4);
  std::uint32_t str_len = static_cast<std::uint32_t>(strings_.size());
  std::vector<std::byte> out(detail::kHeaderSize + type_len + str_len);
  std::uint16_t magic = kMagic;
  std::memcpy(out.data(), &magic, 2);
  out[2] = std::byte{1};  // version
  std::uint32_t hdr[5] = {detail::kHeaderSize, 0, type_len, type_len, str_len};
  std::memcpy(out.data() + 4, hdr, sizeof hdr);
  if (type_len) std::memcpy(out.data() + detail::kHeaderSize, types_.data(), type_len);
  std::memcpy(out.data() + detail::kHeaderSize + type_len, strings_.data(), str_len);
  return out;
}

}  // namespace ebpf::btf
