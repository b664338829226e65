// CO-RE access specifications: parsing an access string against local BTF, matching it against a target
// candidate, and the type-compatibility relations libbpf documents for fields, types and type_matches.
#include <charconv>
#include <string>

#include "core_impl.hpp"

namespace ebpf::btf::core {

std::string_view essential_name(std::string_view name) noexcept {
  if (name.size() < 5) return name;
  for (std::size_t i = name.size() - 4; i > 0; --i)
    if (name[i - 1] != '_' && name[i] == '_' && name[i + 1] == '_' && name[i + 2] == '_' && name[i + 3] != '_')
      return name.substr(0, i);
  return name;
}

namespace detail {

namespace {
constexpr int kMaxDepth = 32;
Error bad(std::string msg) { return Error(Errc::bad_format, "CO-RE", std::move(msg), EINVAL); }

Result<std::vector<std::uint32_t>> parse_access(std::string_view s) {
  std::vector<std::uint32_t> out;
  if (s.empty()) return bad("empty access string");
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t colon = s.find(':', pos);
    std::string_view part = s.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos);
    std::uint32_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size())
      return bad("malformed access string '" + std::string(s) + "'");
    out.push_back(v);
    if (out.size() > 64) return bad("access string '" + std::string(s) + "' is too long");
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  return out;
}

bool is_flex_array(const Type& t) { return t.kind() == Kind::array && t.array().nelems == 0; }
}  // namespace

bool is_field_kind(RelocKind k) noexcept { return static_cast<std::uint32_t>(k) <= 5; }
bool is_type_kind(RelocKind k) noexcept {
  auto v = static_cast<std::uint32_t>(k);
  return (v >= 6 && v <= 9) || v == 12;
}
bool is_enum_kind(RelocKind k) noexcept { return k == RelocKind::enum_value_exists || k == RelocKind::enum_value; }

std::string Spec::describe() const {
  if (!btf || root == 0) return "<none>";
  Type r = btf->at(root);
  std::string s(kind_name(r.kind()));
  s.append(" ").append(r.name());
  for (std::size_t i = 1; i < named.size(); ++i) {
    if (named[i].is_array) {
      s.append("[").append(std::to_string(named[i].idx)).append("]");
    } else {
      s.append(".").append(named[i].name);
    }
  }
  s.append(" (");
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (i) s.append(":");
    s.append(std::to_string(raw[i]));
  }
  s.append(" @ bit ").append(std::to_string(bit_offset)).append(")");
  return s;
}

Result<Spec> parse_spec(const Btf& local, TypeId root, std::string_view access, RelocKind kind) {
  Spec spec;
  spec.btf = &local;
  spec.root = root;
  spec.raw = EBPF_TRY(parse_access(access));
  Type rt = EBPF_TRY(local.type(root));
  if (root == 0) return bad("relocation against void (type id 0)");
  if (is_type_kind(kind)) {
    if (spec.raw.size() != 1 || spec.raw[0] != 0)
      return bad("type relocation on [" + std::to_string(root) + "] needs access string \"0\", got '" +
                 std::string(access) + "'");
    spec.named.push_back({root, 0, rt.name(), false});
    return spec;
  }
  if (is_enum_kind(kind)) {
    Type et = EBPF_TRY(local.skip_modifiers(root));
    if (!et.is_enum()) return bad("enum relocation on [" + std::to_string(root) + "], which is not an enum");
    if (spec.raw.size() != 1 || spec.raw[0] >= et.vlen())
      return bad("enum access '" + std::string(access) + "' out of range for [" + std::to_string(root) + "]");
    EnumValue v = et.enum_value(spec.raw[0]);
    spec.named.push_back({et.id(), spec.raw[0], v.name, false});
    spec.enum_value = v.value;
    return spec;
  }
  // Field relocation: raw[0] indexes an array of roots, the rest walks members / elements.
  std::uint32_t root_size = EBPF_TRY(local.resolve_size(root));
  spec.bit_offset = std::uint64_t{spec.raw[0]} * root_size * 8;
  spec.named.push_back({root, spec.raw[0], rt.name(), false});
  TypeId cur = root;
  for (std::size_t i = 1; i < spec.raw.size(); ++i) {
    Type t = EBPF_TRY(local.skip_modifiers(cur));
    std::uint32_t idx = spec.raw[i];
    spec.bitfield_size = 0;
    if (t.is_struct_or_union()) {
      if (idx >= t.vlen())
        return bad("access '" + std::string(access) + "': member " + std::to_string(idx) + " out of range for [" +
                   std::to_string(t.id()) + "] with " + std::to_string(t.vlen()) + " members");
      Member m = t.member(idx);
      spec.bit_offset += m.bit_offset;
      spec.bitfield_size = m.bitfield_size;
      if (!m.name.empty()) spec.named.push_back({t.id(), idx, m.name, false});
      cur = m.type;
    } else if (t.kind() == Kind::array) {
      ArrayInfo a = t.array();
      if (idx >= a.nelems && !is_flex_array(t))
        return bad("access '" + std::string(access) + "': index " + std::to_string(idx) + " out of bounds of [" +
                   std::to_string(t.id()) + "]");
      std::uint32_t esz = EBPF_TRY(local.resolve_size(a.elem_type));
      spec.bit_offset += std::uint64_t{idx} * esz * 8;
      spec.named.push_back({t.id(), idx, {}, true});
      cur = a.elem_type;
    } else {
      return bad("access '" + std::string(access) + "': step " + std::to_string(i) + " indexes [" +
                 std::to_string(t.id()) + "] (" + std::string(kind_name(t.kind())) + "), not a struct/union/array");
    }
  }
  spec.field_type = cur;
  return spec;
}

namespace {
// Finds member `name` in composite `tid`, descending into anonymous members; accumulates the bit offset.
Result<bool> find_member(const Btf& btf, TypeId tid, std::string_view name, std::uint64_t& bit_off,
                         TypeId& member_type, std::uint32_t& bitfield, int depth) {
  if (depth > kMaxDepth) return bad("anonymous member nesting too deep in [" + std::to_string(tid) + "]");
  Type t = EBPF_TRY(btf.skip_modifiers(tid));
  if (!t.is_struct_or_union()) return false;
  for (std::uint32_t i = 0; i < t.vlen(); ++i) {
    Member m = t.member(i);
    if (m.name == name) {
      bit_off += m.bit_offset;
      member_type = m.type;
      bitfield = m.bitfield_size;
      return true;
    }
    if (m.name.empty()) {
      std::uint64_t inner = bit_off + m.bit_offset;
      if (EBPF_TRY(find_member(btf, m.type, name, inner, member_type, bitfield, depth + 1))) {
        bit_off = inner;
        return true;
      }
    }
  }
  return false;
}
}  // namespace

Result<bool> match_spec(const Spec& local, const Btf& target, TypeId cand, RelocKind kind, Spec& out) {
  out = Spec{};
  out.btf = &target;
  out.root = cand;
  out.raw = local.raw;
  Type ct = EBPF_TRY(target.type(cand));
  if (is_type_kind(kind)) {
    out.named.push_back({cand, 0, ct.name(), false});
    if (kind == RelocKind::type_matches) return types_match(*local.btf, local.root, target, cand);
    return types_compatible(*local.btf, local.root, target, cand);
  }
  if (is_enum_kind(kind)) {
    Type et = EBPF_TRY(target.skip_modifiers(cand));
    if (!et.is_enum()) return false;
    std::string_view want = essential_name(local.named[0].name);
    for (std::uint32_t i = 0; i < et.vlen(); ++i) {
      EnumValue v = et.enum_value(i);
      if (essential_name(v.name) == want) {
        out.raw = {i};
        out.named.push_back({et.id(), i, v.name, false});
        out.enum_value = v.value;
        return true;
      }
    }
    return false;
  }
  std::uint32_t size = EBPF_TRY(target.resolve_size(cand));
  out.bit_offset = std::uint64_t{local.raw[0]} * size * 8;
  out.named.push_back({cand, local.raw[0], ct.name(), false});
  TypeId cur = cand;
  for (std::size_t i = 1; i < local.named.size(); ++i) {
    const Access& la = local.named[i];
    Type t = EBPF_TRY(target.skip_modifiers(cur));
    if (la.is_array) {
      if (t.kind() != Kind::array) return false;
      ArrayInfo a = t.array();
      if (la.idx >= a.nelems && !is_flex_array(t)) return false;
      std::uint32_t esz = EBPF_TRY(target.resolve_size(a.elem_type));
      out.bit_offset += std::uint64_t{la.idx} * esz * 8;
      out.named.push_back({t.id(), la.idx, {}, true});
      out.bitfield_size = 0;
      cur = a.elem_type;
      continue;
    }
    TypeId member_type = 0;
    std::uint32_t bitfield = 0;
    if (!EBPF_TRY(find_member(target, t.id(), la.name, out.bit_offset, member_type, bitfield, 0))) return false;
    // The local member's type: from the local struct at this step.
    Type lt = local.btf->at(la.type);
    TypeId local_member_type = lt.member(la.idx).type;
    if (!EBPF_TRY(fields_compatible(*local.btf, local_member_type, target, member_type))) return false;
    out.named.push_back({t.id(), 0, la.name, false});
    out.bitfield_size = bitfield;
    cur = member_type;
  }
  // A trailing array step after the last named member: compatible element types were checked above.
  out.field_type = cur;
  return true;
}

Result<bool> fields_compatible(const Btf& local, TypeId lid, const Btf& target, TypeId tid) {
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    Type l = EBPF_TRY(local.skip_modifiers(lid));
    Type t = EBPF_TRY(target.skip_modifiers(tid));
    if (l.is_struct_or_union() && t.is_struct_or_union()) return true;
    if (l.kind() != t.kind()) return l.is_enum() && t.is_enum();
    switch (l.kind()) {
      case Kind::ptr: case Kind::float_:
        return true;
      case Kind::fwd: case Kind::enum_: case Kind::enum64:
        return l.name().empty() || essential_name(l.name()) == essential_name(t.name());
      case Kind::int_:
        return l.int_offset() == 0 && t.int_offset() == 0;
      case Kind::array:
        lid = l.array().elem_type;
        tid = t.array().elem_type;
        continue;
      default:
        return false;
    }
  }
  return bad("field type nesting deeper than 32 at local [" + std::to_string(lid) + "]");
}

namespace {
bool core_kinds_compatible(const Type& l, const Type& t) {
  return l.kind() == t.kind() || (l.is_enum() && t.is_enum());
}
}  // namespace

// Recursive comparisons branch over parameters and members: a step budget (reset at the top-level call)
// keeps malformed BTF from making them exponential.
thread_local long compare_budget = 0;
constexpr long kCompareBudget = 1'000'000;
Result<void> spend(int depth, TypeId lid) {
  if (depth == 0) compare_budget = kCompareBudget;
  if (--compare_budget < 0) return bad("comparing local [" + std::to_string(lid) + "]: type graph too complex");
  return ok();
}

Result<bool> types_compatible(const Btf& local, TypeId lid, const Btf& target, TypeId tid, int depth) {
  EBPF_TRY(spend(depth, lid));
  for (; depth < kMaxDepth; ++depth) {
    Type l = EBPF_TRY(local.skip_modifiers(lid));
    Type t = EBPF_TRY(target.skip_modifiers(tid));
    if (!core_kinds_compatible(l, t)) return false;
    switch (l.kind()) {
      case Kind::void_: case Kind::struct_: case Kind::union_: case Kind::enum_: case Kind::enum64:
      case Kind::fwd: case Kind::float_:
        return true;
      case Kind::int_:
        return l.int_offset() == 0 && t.int_offset() == 0;
      case Kind::ptr:
        lid = l.ref();
        tid = t.ref();
        continue;
      case Kind::array:
        lid = l.array().elem_type;
        tid = t.array().elem_type;
        continue;
      case Kind::func_proto: {
        if (l.vlen() != t.vlen()) return false;
        for (std::uint32_t i = 0; i < l.vlen(); ++i)
          if (!EBPF_TRY(types_compatible(local, l.param(i).type, target, t.param(i).type, depth + 1))) return false;
        lid = l.ref();
        tid = t.ref();
        continue;
      }
      default:
        return false;
    }
  }
  return bad("type nesting deeper than 32 comparing local [" + std::to_string(lid) + "]");
}

Result<bool> types_match(const Btf& local, TypeId lid, const Btf& target, TypeId tid, int depth, bool behind_ptr) {
  EBPF_TRY(spend(depth, lid));
  if (depth > kMaxDepth) return bad("type nesting deeper than 32 comparing local [" + std::to_string(lid) + "]");
  Type l = EBPF_TRY(local.skip_modifiers(lid));
  Type t = EBPF_TRY(target.skip_modifiers(tid));
  if (!l.name().empty() && essential_name(l.name()) != essential_name(t.name())) return false;
  if (l.kind() == Kind::fwd || t.kind() == Kind::fwd) {
    bool lu = l.kind() == Kind::fwd ? l.fwd_is_union() : l.kind() == Kind::union_;
    bool tu = t.kind() == Kind::fwd ? t.fwd_is_union() : t.kind() == Kind::union_;
    return lu == tu && (l.kind() == Kind::fwd || l.is_struct_or_union()) && (t.kind() == Kind::fwd || t.is_struct_or_union());
  }
  if (!core_kinds_compatible(l, t)) return false;
  switch (l.kind()) {
    case Kind::void_:
      return true;
    case Kind::int_:
      return l.size() == t.size() && (l.int_encoding() & kIntSigned) == (t.int_encoding() & kIntSigned);
    case Kind::float_:
      return l.size() == t.size();
    case Kind::enum_: case Kind::enum64: {
      if (l.size() != t.size()) return false;
      for (std::uint32_t i = 0; i < l.vlen(); ++i) {
        bool found = false;
        for (std::uint32_t j = 0; j < t.vlen() && !found; ++j)
          found = essential_name(l.enum_value(i).name) == essential_name(t.enum_value(j).name);
        if (!found) return false;
      }
      return true;
    }
    case Kind::ptr:
      return types_match(local, l.ref(), target, t.ref(), depth + 1, true);
    case Kind::array:
      return l.array().nelems == t.array().nelems &&
             types_match(local, l.array().elem_type, target, t.array().elem_type, depth + 1);
    case Kind::func_proto: {
      if (l.vlen() != t.vlen()) return false;
      for (std::uint32_t i = 0; i < l.vlen(); ++i)
        if (!EBPF_TRY(types_match(local, l.param(i).type, target, t.param(i).type, depth + 1))) return false;
      return types_match(local, l.ref(), target, t.ref(), depth + 1);
    }
    case Kind::struct_: case Kind::union_: {
      if (l.kind() != t.kind()) return false;
      if (behind_ptr) return true;
      for (std::uint32_t i = 0; i < l.vlen(); ++i) {
        Member lm = l.member(i);
        bool found = false;
        for (std::uint32_t j = 0; j < t.vlen() && !found; ++j) {
          Member tm = t.member(j);
          if (tm.name != lm.name || tm.bitfield_size != lm.bitfield_size) continue;
          found = EBPF_TRY(types_match(local, lm.type, target, tm.type, depth + 1));
        }
        if (!found) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace detail
}  // namespace ebpf::btf::core
