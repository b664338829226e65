// C header dump of BTF (like `bpftool btf dump ... format c`).
//
// Types are emitted in id order, but each definition first emits what it needs: complete definitions for
// by-value uses (members, array elements, typedef'd values), forward declarations where a pointer suffices.
// Anonymous structs/unions/enums are printed inline where they are used. Explicit padding and
// __attribute__((packed)) reproduce BTF offsets the natural C layout would not give.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ebpf/btf/dump.hpp"

namespace ebpf::btf {

namespace {

enum State : std::uint8_t { kNone, kEmitting, kDone };
constexpr int kMaxDepth = 64;

Error bad(std::string msg) { return Error(Errc::bad_format, "BTF dump", std::move(msg), EINVAL); }

std::string tabs(int n) { return std::string(static_cast<std::size_t>(n), '\t'); }
std::string join(const std::string& base, const std::string& inner) {
  return inner.empty() ? base : base + " " + inner;
}

class CDumper {
 public:
  explicit CDumper(const Btf& btf) : btf_(btf), state_(btf.type_count(), kNone), referenced_(btf.type_count()),
                                     names_(btf.type_count()) {}

  Result<std::string> run() {
    mark_references();
    for (TypeId id = 1; id < btf_.type_count(); ++id)  // the compiler's own; never redefine it
      if (btf_.at(id).kind() == Kind::typedef_ && btf_.at(id).name() == "__builtin_va_list") state_[id] = kDone;
    for (TypeId id = 1; id < btf_.type_count(); ++id) {
      Type t = btf_.at(id);
      switch (t.kind()) {
        case Kind::struct_: case Kind::union_: case Kind::typedef_:
          if (!t.name().empty()) EBPF_TRY(define(id, 0));
          break;
        case Kind::enum_: case Kind::enum64:
          if (!t.name().empty() || !referenced_[id]) EBPF_TRY(define(id, 0));
          break;
        case Kind::fwd:
          declare(id);
          break;
        default:
          break;
      }
    }
    return std::move(out_);
  }

 private:
  const Btf& btf_;
  std::string out_;
  std::vector<std::uint8_t> state_;
  std::vector<bool> referenced_;
  std::vector<bool> declared_ = std::vector<bool>(btf_.type_count());
  std::vector<std::string> names_;  // unique C names, assigned on first use
  std::unordered_map<std::string, TypeId> tags_, idents_;
  std::unordered_set<std::string> enumerators_;
  std::vector<std::uint8_t> align_cache_ = std::vector<std::uint8_t>(btf_.type_count());
  std::uint64_t inline_expansions_ = 0;
  std::uint64_t pad_counter_ = 0;

  void mark_references() {
    for (TypeId id = 1; id < btf_.type_count(); ++id) {
      Type t = btf_.at(id);
      auto mark = [&](TypeId r) { if (r < referenced_.size()) referenced_[r] = true; };
      switch (t.kind()) {
        case Kind::struct_: case Kind::union_:
          for (std::uint32_t i = 0; i < t.vlen(); ++i) mark(t.member(i).type);
          break;
        case Kind::array:
          mark(t.array().elem_type);
          break;
        case Kind::func_proto:
          for (std::uint32_t i = 0; i < t.vlen(); ++i) mark(t.param(i).type);
          mark(t.ref());
          break;
        case Kind::ptr: case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_:
        case Kind::type_tag: case Kind::var:
          mark(t.ref());
          break;
        default:
          break;
      }
    }
  }

  // Unique name in C's tag or ordinary-identifier namespace ("name___2" on a clash).
  const std::string& name_of(TypeId id) {
    if (!names_[id].empty()) return names_[id];
    Type t = btf_.at(id);
    std::string base(t.name());
    if (t.kind() == Kind::fwd) {
      names_[id] = std::move(base);
      return names_[id];
    }
    auto& space = t.kind() == Kind::typedef_ ? idents_ : tags_;
    std::string name = base;
    for (int n = 2; space.contains(name) && space[name] != id; ++n) name = base + "___" + std::to_string(n);
    space.emplace(name, id);
    names_[id] = std::move(name);
    return names_[id];
  }

  void declare(TypeId id) {
    if (state_[id] == kDone || declared_[id]) return;
    declared_[id] = true;
    Type t = btf_.at(id);
    if (t.name().empty()) return;
    bool is_union = t.kind() == Kind::fwd ? t.fwd_is_union() : t.kind() == Kind::union_;
    out_ += std::string(is_union ? "union " : "struct ") + name_of(id) + ";\n\n";
  }

  // Emits a top-level definition of a named struct/union/enum/typedef (or an unreferenced anonymous enum).
  Result<void> define(TypeId id, int depth) {
    if (state_[id] == kDone || state_[id] == kEmitting) return ok();
    if (depth > kMaxDepth) return bad("type [" + std::to_string(id) + "]: dependency chain too deep");
    Type t = btf_.at(id);
    state_[id] = kEmitting;
    switch (t.kind()) {
      case Kind::struct_: case Kind::union_:
        EBPF_TRY(members_needs(t, depth));
        out_ += (t.kind() == Kind::union_ ? "union " : "struct ") + name_of(id) + " " +
                EBPF_TRY(composite_body(t, 0, depth)) + ";\n\n";
        break;
      case Kind::enum_: case Kind::enum64:
        out_ += "enum " + (t.name().empty() ? std::string() : name_of(id) + " ") + enum_body(t, 0) + ";\n\n";
        if (!enum_mode(t).empty()) out_.insert(out_.size() - 3, enum_mode(t));
        break;
      case Kind::typedef_:
        EBPF_TRY(need(t.ref(), false, depth + 1));
        out_ += "typedef " + EBPF_TRY(decl(t.ref(), name_of(id), 0, depth)) + ";\n\n";
        break;
      default:
        break;
    }
    state_[id] = kDone;
    return ok();
  }

  Result<void> members_needs(const Type& t, int depth) {
    for (std::uint32_t i = 0; i < t.vlen(); ++i) EBPF_TRY(need(t.member(i).type, true, depth + 1));
    return ok();
  }

  // Makes `id` usable: complete if `by_value`, else at least declared.
  Result<void> need(TypeId id, bool by_value, int depth) {
    if (depth > kMaxDepth) return bad("type [" + std::to_string(id) + "]: dependency chain too deep (cycle?)");
    Type t = btf_.at(id);
    switch (t.kind()) {
      case Kind::volatile_: case Kind::const_: case Kind::restrict_: case Kind::type_tag:
        return need(t.ref(), by_value, depth + 1);
      case Kind::typedef_:
        if (state_[id] == kEmitting) return bad("typedef [" + std::to_string(id) + "] refers to itself");
        EBPF_TRY(define(id, depth + 1));
        if (by_value) EBPF_TRY(need(t.ref(), true, depth + 1));
        return ok();
      case Kind::ptr:
        return need(t.ref(), false, depth + 1);
      case Kind::array:
        return need(t.array().elem_type, true, depth + 1);
      case Kind::func_proto:
        EBPF_TRY(need(t.ref(), false, depth + 1));
        for (std::uint32_t i = 0; i < t.vlen(); ++i) EBPF_TRY(need(t.param(i).type, false, depth + 1));
        return ok();
      case Kind::struct_: case Kind::union_:
        if (t.name().empty()) {  // printed inline: its members' needs are met once
          if (state_[id] != kNone) return ok();
          state_[id] = kEmitting;
          EBPF_TRY(members_needs(t, depth));
          state_[id] = kDone;
          return ok();
        }
        if (by_value && state_[id] == kEmitting)
          return bad("struct/union [" + std::to_string(id) + "] contains itself by value");
        if (by_value) return define(id, depth + 1);
        declare(id);
        return ok();
      case Kind::enum_: case Kind::enum64:
        if (!t.name().empty()) return define(id, depth + 1);
        return ok();
      case Kind::fwd:
        declare(id);
        return ok();
      default:
        return ok();
    }
  }

  // Enums of other than 4 bytes (__packed kernel enums, 64-bit enums) keep their size through a mode.
  static std::string enum_mode(const Type& t) {
    switch (t.size()) {
      case 1: return " __attribute__((mode(QI)))";
      case 2: return " __attribute__((mode(HI)))";
      case 8: return " __attribute__((mode(DI)))";
      default: return {};
    }
  }

  std::string enum_body(const Type& t, int indent) {
    std::string s = "{\n";
    bool is64 = t.kind() == Kind::enum64;
    for (std::uint32_t i = 0; i < t.vlen(); ++i) {
      EnumValue v = t.enum_value(i);
      std::string name(v.name);
      for (int n = 2; enumerators_.contains(name); ++n) name = std::string(v.name) + "___" + std::to_string(n);
      enumerators_.insert(name);
      std::string val;
      if (is64)
        val = t.enum_signed() ? std::to_string(v.value) + "LL" : std::to_string(static_cast<std::uint64_t>(v.value)) + "ULL";
      else
        val = t.enum_signed() ? std::to_string(static_cast<std::int32_t>(v.value)) : std::to_string(static_cast<std::uint32_t>(v.value)) + "U";
      if (is64 && t.enum_signed() && v.value == INT64_MIN) val = "(-9223372036854775807LL - 1)";
      s += tabs(indent + 1) + name + " = " + val + ",\n";
    }
    return s + tabs(indent) + "}";
  }

  // Alignment in bits of a type as C lays it out; memoised so nested structs are walked once.
  std::uint64_t align_bits(TypeId id, int depth = 0) {
    if (id >= align_cache_.size() || depth > kMaxDepth) return 8;
    if (align_cache_[id]) return std::uint64_t{align_cache_[id]} * 8;
    Type t = btf_.at(id);
    std::uint64_t bits = 8;
    switch (t.kind()) {
      case Kind::int_: case Kind::enum_: case Kind::enum64: case Kind::float_:
        bits = std::uint64_t{std::clamp<std::uint32_t>(t.size(), 1, 8)} * 8;
        break;
      case Kind::ptr:
        bits = 64;
        break;
      case Kind::array:
        bits = align_bits(t.array().elem_type, depth + 1);
        break;
      case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_: case Kind::type_tag:
        bits = align_bits(t.ref(), depth + 1);
        break;
      case Kind::struct_: case Kind::union_:
        for (std::uint32_t i = 0; i < t.vlen(); ++i) bits = std::max(bits, align_bits(t.member(i).type, depth + 1));
        break;
      default:
        break;
    }
    align_cache_[id] = static_cast<std::uint8_t>(bits / 8);
    return bits;
  }

  // Anonymous types are printed at each use; malformed BTF could make that exponential.
  Result<void> count_inline(TypeId id) {
    if (++inline_expansions_ > 4ull * btf_.type_count() + 1024 || out_.size() > (1u << 30))
      return bad("type [" + std::to_string(id) + "]: too many inline expansions of anonymous types");
    return ok();
  }

  bool needs_packed(const Type& t) {
    std::uint64_t max_align = 8;
    for (std::uint32_t i = 0; i < t.vlen(); ++i) {
      Member m = t.member(i);
      std::uint64_t a = align_bits(m.type);
      max_align = std::max(max_align, a);
      if (m.bitfield_size == 0 && m.bit_offset % a) return true;
    }
    return (std::uint64_t{t.size()} * 8) % max_align != 0;
  }

  // Explicit padding from bit `from` to bit `to` with unnamed bitfields (they never clash with member names):
  // sub-byte pieces, then bytes up to 8-byte alignment, then `long: 64` words, then trailing bytes.
  // Gaps over 256 bytes become one uniquely named char array, keeping the output linear in the type count.
  std::string padding(std::uint64_t from, std::uint64_t to, int indent) {
    std::string s;
    while (from < to) {
      std::uint64_t n;
      const char* type = "unsigned char";
      if (from % 8 == 0 && to - from > 256 * 8) {
        n = (to - from) / 8;
        s += tabs(indent) + "char __btf_pad" + std::to_string(pad_counter_++) + "[" + std::to_string(n) + "];\n";
        from += n * 8;
        continue;
      }
      if (from % 8) {
        n = std::min<std::uint64_t>(to - from, 8 - from % 8);
      } else if (from % 64 == 0 && to - from >= 64) {
        n = 64;
        type = "long";
      } else {
        n = std::min<std::uint64_t>(to - from, 8);
      }
      s += tabs(indent) + type + ": " + std::to_string(n) + ";\n";
      from += n;
    }
    return s;
  }

  Result<std::string> composite_body(const Type& t, int indent, int depth) {
    if (depth > kMaxDepth) return bad("type [" + std::to_string(t.id()) + "]: nesting too deep");
    bool is_union = t.kind() == Kind::union_;
    bool packed = !is_union && needs_packed(t);
    std::string s = "{\n";
    std::uint64_t cur = 0, max_align = 8;
    for (std::uint32_t i = 0; i < t.vlen(); ++i) {
      Member m = t.member(i);
      std::uint64_t a = align_bits(m.type);
      max_align = std::max(max_align, a);
      if (!is_union) {
        std::uint64_t natural = cur;
        if (m.bitfield_size) {
          std::uint64_t unit = std::max<std::uint64_t>(a, 8);
          if (!packed && natural / unit != (natural + m.bitfield_size - 1) / unit) natural = (natural + unit - 1) / unit * unit;
        } else {
          std::uint64_t step = packed ? 8 : a;
          natural = (natural + step - 1) / step * step;
        }
        if (natural < m.bit_offset) s += padding(cur, m.bit_offset, indent + 1);
      }
      std::string line = EBPF_TRY(decl(m.type, std::string(m.name), indent + 1, depth + 1));
      if (m.bitfield_size) line += ": " + std::to_string(m.bitfield_size);
      s += tabs(indent + 1) + line + ";\n";
      if (!is_union) {
        std::uint64_t size = m.bitfield_size;
        if (!size) size = std::uint64_t{btf_.resolve_size(m.type).value_or(0)} * 8;
        cur = m.bit_offset + size;
      }
    }
    if (!is_union) {
      std::uint64_t natural_end = packed ? (cur + 7) / 8 * 8 : (cur + max_align - 1) / max_align * max_align;
      if (natural_end < std::uint64_t{t.size()} * 8) s += padding(cur, std::uint64_t{t.size()} * 8, indent + 1);
    }
    s += tabs(indent) + "}";
    if (packed) s += " __attribute__((packed))";
    return s;
  }

  Result<std::string> params(const Type& proto, int indent, int depth) {
    if (proto.vlen() == 0) return std::string("void");
    std::string s;
    for (std::uint32_t i = 0; i < proto.vlen(); ++i) {
      Param p = proto.param(i);
      if (i) s += ", ";
      s += p.type == 0 && i + 1 == proto.vlen() ? std::string("...") : EBPF_TRY(decl(p.type, "", indent, depth + 1));
    }
    return s;
  }

  // C declaration of `inner` (a name or abstract declarator) with type `id`.
  Result<std::string> decl(TypeId id, const std::string& inner, int indent, int depth) {
    if (depth > kMaxDepth) return bad("type [" + std::to_string(id) + "]: declarator nesting too deep (cycle?)");
    Type t = btf_.at(id);
    switch (t.kind()) {
      case Kind::void_:
        return join("void", inner);
      case Kind::int_: case Kind::float_:
        return join(std::string(t.name()), inner);
      case Kind::struct_: case Kind::union_: {
        std::string kw = t.kind() == Kind::union_ ? "union " : "struct ";
        if (!t.name().empty()) return join(kw + name_of(id), inner);
        EBPF_TRY(count_inline(id));
        return join(kw + EBPF_TRY(composite_body(t, indent, depth + 1)), inner);
      }
      case Kind::enum_: case Kind::enum64:
        if (!t.name().empty()) return join("enum " + name_of(id), inner);
        EBPF_TRY(count_inline(id));
        return join("enum " + enum_body(t, indent) + enum_mode(t), inner);
      case Kind::fwd:
        return join((t.fwd_is_union() ? "union " : "struct ") + name_of(id), inner);
      case Kind::typedef_:
        return join(name_of(id), inner);
      case Kind::ptr: {
        Type target = btf_.at(t.ref());
        for (int i = 0; target.kind() == Kind::type_tag && i < kMaxDepth; ++i) target = btf_.at(target.ref());
        bool wrap = target.kind() == Kind::array || target.kind() == Kind::func_proto;
        return decl(t.ref(), wrap ? "(*" + inner + ")" : "*" + inner, indent, depth + 1);
      }
      case Kind::const_: case Kind::volatile_: case Kind::restrict_: {
        const char* q = t.kind() == Kind::const_ ? "const" : t.kind() == Kind::volatile_ ? "volatile" : "restrict";
        Type next = btf_.at(t.ref());
        for (int i = 0; next.kind() == Kind::type_tag && i < kMaxDepth; ++i) next = btf_.at(next.ref());
        if (next.kind() == Kind::ptr) return decl(t.ref(), std::string(q) + " " + inner, indent, depth + 1);
        // A qualified array is an array of qualified elements, which BTF already records on the element.
        if (next.kind() == Kind::array) return decl(t.ref(), inner, indent, depth + 1);
        return std::string(q) + " " + EBPF_TRY(decl(t.ref(), inner, indent, depth + 1));
      }
      case Kind::type_tag:
        return decl(t.ref(), inner, indent, depth + 1);
      case Kind::array:
        return decl(t.array().elem_type, inner + "[" + std::to_string(t.array().nelems) + "]", indent, depth + 1);
      case Kind::func_proto:
        return decl(t.ref(), inner + "(" + EBPF_TRY(params(t, indent, depth)) + ")", indent, depth + 1);
      default:
        return join("void", inner);
    }
  }
};

}  // namespace

Result<std::string> dump_c(const Btf& btf, const DumpCOptions& options) {
  std::string out;
  if (options.header_guard) out += "#ifndef " + options.guard + "\n#define " + options.guard + "\n\n";
  if (options.preserve_access_index)
    out += "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
           "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
           "#endif\n\n";
  CDumper dumper(btf);
  out += EBPF_TRY(dumper.run());
  if (options.preserve_access_index)
    out += "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n";
  if (options.header_guard) out += "#endif /* " + options.guard + " */\n";
  return out;
}

}  // namespace ebpf::btf
