// bpftool-compatible raw BTF listing ("[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED").
#include <cinttypes>
#include <cstdio>
#include <string>

#include "ebpf/btf/dump.hpp"

namespace ebpf::btf {

namespace {

std::string quoted(std::string_view name) {
  std::string s("'");
  s.append(name.empty() ? std::string_view("(anon)") : name).append("'");
  return s;
}

std::string fmt(const char* f, auto... args) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

const char* int_encoding(std::uint32_t enc) {
  if (enc & kIntSigned) return "SIGNED";
  if (enc & kIntChar) return "CHAR";
  if (enc & kIntBool) return "BOOL";
  return "(none)";
}

const char* linkage(std::uint32_t l) { return l == 0 ? "static" : l == 1 ? "global" : l == 2 ? "extern" : "(unknown)"; }

void members(const Type& t, std::string& out) {
  for (std::uint32_t i = 0; i < t.vlen(); ++i) {
    Member m = t.member(i);
    out += "\n\t" + quoted(m.name) + fmt(" type_id=%u bits_offset=%u", m.type, m.bit_offset);
    if (m.bitfield_size) out += fmt(" bitfield_size=%u", m.bitfield_size);
  }
}

void enumerators(const Type& t, std::string& out) {
  bool is64 = t.kind() == Kind::enum64;
  for (std::uint32_t i = 0; i < t.vlen(); ++i) {
    EnumValue v = t.enum_value(i);
    out += "\n\t" + quoted(v.name);
    if (is64)
      out += t.enum_signed() ? fmt(" val=%" PRId64 "LL", v.value) : fmt(" val=%" PRIu64 "ULL", static_cast<std::uint64_t>(v.value));
    else
      out += t.enum_signed() ? fmt(" val=%d", static_cast<int>(v.value)) : fmt(" val=%u", static_cast<unsigned>(v.value));
  }
}

}  // namespace

std::string dump_raw_type(const Btf& btf, TypeId id) {
  Type t = btf.at(id);
  std::string out = fmt("[%u] ", id) + std::string(kind_name(t.kind())) + " " + quoted(t.name());
  switch (t.kind()) {
    case Kind::int_:
      out += fmt(" size=%u bits_offset=%u nr_bits=%u encoding=%s", t.size(), t.int_offset(), t.int_bits(),
                 int_encoding(t.int_encoding()));
      break;
    case Kind::ptr: case Kind::typedef_: case Kind::volatile_: case Kind::const_: case Kind::restrict_:
    case Kind::type_tag:
      out += fmt(" type_id=%u", t.ref());
      break;
    case Kind::array: {
      ArrayInfo a = t.array();
      out += fmt(" type_id=%u index_type_id=%u nr_elems=%u", a.elem_type, a.index_type, a.nelems);
      break;
    }
    case Kind::struct_: case Kind::union_:
      out += fmt(" size=%u vlen=%u", t.size(), t.vlen());
      members(t, out);
      break;
    case Kind::enum_: case Kind::enum64:
      out += fmt(" encoding=%s size=%u vlen=%u", t.enum_signed() ? "SIGNED" : "UNSIGNED", t.size(), t.vlen());
      enumerators(t, out);
      break;
    case Kind::fwd:
      out += fmt(" fwd_kind=%s", t.fwd_is_union() ? "union" : "struct");
      break;
    case Kind::func:
      out += fmt(" type_id=%u linkage=%s", t.ref(), linkage(t.func_linkage()));
      break;
    case Kind::func_proto:
      out += fmt(" ret_type_id=%u vlen=%u", t.ref(), t.vlen());
      for (std::uint32_t i = 0; i < t.vlen(); ++i) {
        Param p = t.param(i);
        out += "\n\t" + quoted(p.name) + fmt(" type_id=%u", p.type);
      }
      break;
    case Kind::var:
      out += fmt(" type_id=%u, linkage=%s", t.ref(), linkage(t.var_linkage()));
      break;
    case Kind::datasec:
      out += fmt(" size=%u vlen=%u", t.size(), t.vlen());
      for (std::uint32_t i = 0; i < t.vlen(); ++i) {
        VarSecinfo v = t.secinfo(i);
        Type vt = btf.at(v.type);
        out += fmt("\n\ttype_id=%u offset=%u size=%u (", v.type, v.offset, v.size) +
               std::string(kind_name(vt.kind())) + " " + quoted(vt.name()) + ")";
      }
      break;
    case Kind::float_:
      out += fmt(" size=%u", t.size());
      break;
    case Kind::decl_tag:
      out += fmt(" type_id=%u component_idx=%d", t.ref(), t.decl_tag_component());
      break;
    case Kind::void_:
      break;
  }
  return out;
}

std::string dump_raw(const Btf& btf) {
  std::string out;
  out.reserve(std::size_t{btf.type_count()} * 64);
  for (TypeId id = btf.start_id(); id < btf.type_count(); ++id) {
    out += dump_raw_type(btf, id);
    out += '\n';
  }
  return out;
}

}  // namespace ebpf::btf
