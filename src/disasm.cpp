// Disassembler: instructions to LLVM/bpftool-style text (see ebpf/disasm.hpp).
#include "ebpf/disasm.hpp"

#include <cstdio>
#include <map>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/helpers.hpp"
#include "ebpf/isa.hpp"

namespace ebpf {
namespace {

using namespace isa;

std::string dec(std::int64_t v) { return std::to_string(v); }

// Jump immediates print as bpftool does (hex), negative ones in decimal so they read back unchanged.
std::string jmp_imm(std::int32_t v) {
  if (v < 0) return dec(v);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(v));
  return buf;
}

std::string signed_off(std::int64_t v) { return (v < 0 ? "" : "+") + dec(v); }

std::string reg(unsigned n, bool w = false) { return (w ? "w" : "r") + std::to_string(n); }

std::string_view size_name(Size s, bool sign = false) {
  switch (s) {
    case Size::u8: return sign ? "s8" : "u8";
    case Size::u16: return sign ? "s16" : "u16";
    case Size::u32: return sign ? "s32" : "u32";
    case Size::u64: return "u64";
  }
  return "?";
}

std::string addr(unsigned base, std::int16_t off) {
  const int o = off;
  return reg(base) + (o < 0 ? " - " + dec(-o) : " + " + dec(o));
}

// "*(u32 *)(r1 + 4)" / "(u32 *)(r1 + 4)"
std::string mem(Size s, unsigned base, std::int16_t off, bool sign = false) {
  return "*(" + std::string(size_name(s, sign)) + " *)(" + addr(base, off) + ")";
}

std::string raw(const Insn& i) {
  char buf[96];
  std::snprintf(buf, sizeof buf, ".insn 0x%02x, %u, %u, %d, %d", i.code, unsigned(i.dst), unsigned(i.src), int(i.off),
                int(i.imm));
  return buf;
}

std::string_view alu_op(std::uint8_t o, bool sign) {
  switch (o) {
    case 0x00: return "+=";
    case 0x10: return "-=";
    case 0x20: return "*=";
    case 0x30: return sign ? "s/=" : "/=";
    case 0x40: return "|=";
    case 0x50: return "&=";
    case 0x60: return "<<=";
    case 0x70: return ">>=";
    case 0x90: return sign ? "s%=" : "%=";
    case 0xa0: return "^=";
    case 0xb0: return "=";
    case 0xc0: return "s>>=";
  }
  return "?";
}

std::string alu(const Insn& i) {
  const bool w = cls(i.code) == ALU, x = uses_reg_source(i.code);
  const std::uint8_t o = op(i.code);
  const std::string d = reg(i.dst, w);
  if (o == 0xd0) {
    const char* name = !w ? "bswap" : x ? "be" : "le";
    return reg(i.dst) + " = " + name + dec(i.imm) + " " + reg(i.dst);
  }
  if (o == 0x80) return d + " = -" + d;
  if (o == 0xb0 && x && i.off != 0) return d + " = (s" + dec(i.off) + ")" + reg(i.src, w);
  return d + " " + std::string(alu_op(o, i.off == 1)) + " " + (x ? reg(i.src, w) : dec(i.imm));
}

std::string atomic(const Insn& i) {
  const Size s = size(i.code);
  const bool w = s != Size::u64;
  const std::string sz(size_name(s)), a = addr(i.dst, i.off), src = reg(i.src, w);
  const std::string pm = "(" + sz + " *)(" + a + ")";
  switch (static_cast<AtomicOp>(i.imm)) {
    case AtomicOp::add: return "lock " + mem(s, i.dst, i.off) + " += " + src;
    case AtomicOp::or_: return "lock " + mem(s, i.dst, i.off) + " |= " + src;
    case AtomicOp::and_: return "lock " + mem(s, i.dst, i.off) + " &= " + src;
    case AtomicOp::xor_: return "lock " + mem(s, i.dst, i.off) + " ^= " + src;
    case AtomicOp::fetch_add: return src + " = atomic_fetch_add(" + pm + ", " + src + ")";
    case AtomicOp::fetch_or: return src + " = atomic_fetch_or(" + pm + ", " + src + ")";
    case AtomicOp::fetch_and: return src + " = atomic_fetch_and(" + pm + ", " + src + ")";
    case AtomicOp::fetch_xor: return src + " = atomic_fetch_xor(" + pm + ", " + src + ")";
    case AtomicOp::xchg: return src + " = " + (w ? "xchg32_32(" : "xchg_64(") + a + ", " + src + ")";
    case AtomicOp::cmpxchg:
      return reg(0, w) + " = " + (w ? "cmpxchg32_32(" : "cmpxchg_64(") + a + ", " + reg(0, w) + ", " + src + ")";
    case AtomicOp::load_acquire: return reg(i.dst, w) + " = load_acquire((" + sz + " *)(" + addr(i.src, i.off) + "))";
    case AtomicOp::store_release: return "store_release(" + pm + ", " + src + ")";
  }
  return raw(i);
}

std::string memory(const Insn& i) {
  const Size s = size(i.code);
  switch (cls(i.code)) {
    case LDX: return reg(i.dst) + " = " + mem(s, i.src, i.off, mode(i.code) == MEMSX);
    case ST: return mem(s, i.dst, i.off) + " = " + dec(i.imm);
    default:
      if (mode(i.code) == ATOMIC) return atomic(i);
      return mem(s, i.dst, i.off) + " = " + reg(i.src);
  }
}

std::string_view jmp_op(std::uint8_t o) {
  switch (o) {
    case 0x10: return "==";
    case 0x20: return ">";
    case 0x30: return ">=";
    case 0x40: return "&";
    case 0x50: return "!=";
    case 0x60: return "s>";
    case 0x70: return "s>=";
    case 0xa0: return "<";
    case 0xb0: return "<=";
    case 0xc0: return "s<";
    case 0xd0: return "s<=";
  }
  return "?";
}

std::string call(const Insn& i) {
  if (i.src == 1) return "call pc" + signed_off(i.imm);
  if (i.src == 2) return "call kfunc#" + dec(i.imm) + (i.off ? "@" + dec(i.off) : "");
  if (const HelperInfo* h = helper_info(i.imm); h != nullptr && i.imm != 0)
    return "call bpf_" + std::string(h->name) + "#" + dec(i.imm);
  return "call " + dec(i.imm);
}

std::string jump(const Insn& i) {
  const bool w = cls(i.code) == JMP32, x = uses_reg_source(i.code);
  switch (op(i.code)) {
    case 0x00: return w ? "gotol " + signed_off(i.imm) : "goto " + signed_off(i.off);
    case 0x80: return call(i);
    case 0x90: return "exit";
    case 0xe0: return "may_goto " + signed_off(i.off);
  }
  return "if " + reg(i.dst, w) + " " + std::string(jmp_op(op(i.code))) + " " + (x ? reg(i.src, w) : jmp_imm(i.imm)) +
         " goto " + signed_off(i.off);
}

std::string imm64(const Insn& i, const Insn& next, const std::string* map_name) {
  const std::string d = reg(i.dst) + " = ";
  const std::uint32_t hi = static_cast<std::uint32_t>(next.imm);
  const std::string value_off = "[0]+" + std::to_string(hi);
  switch (static_cast<Pseudo>(i.src)) {
    case Pseudo::none: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%llx ll",
                    static_cast<unsigned long long>((std::uint64_t(hi) << 32) | std::uint32_t(i.imm)));
      return d + buf;
    }
    case Pseudo::map_fd: return d + (map_name ? "map[" + *map_name + "]" : "map[fd:" + dec(i.imm) + "]");
    case Pseudo::map_value:
      return d + (map_name ? "map[" + *map_name + "]" : "map[fd:" + dec(i.imm) + "]") + value_off;
    case Pseudo::btf_id: return d + "btf[id:" + dec(i.imm) + "]" + (hi ? "[fd:" + dec(next.imm) + "]" : "");
    case Pseudo::func: return d + "func pc" + signed_off(i.imm);
    case Pseudo::map_idx: return d + "map[idx:" + dec(i.imm) + "]";
    case Pseudo::map_idx_value: return d + "map[idx:" + dec(i.imm) + "]" + value_off;
  }
  return raw(i);
}

std::string text(const Insn& i, const Insn* next, const std::string* map_name) {
  if (!check(i, next).empty()) return raw(i);
  switch (cls(i.code)) {
    case ALU: case ALU64: return alu(i);
    case LDX: case ST: case STX: return memory(i);
    case JMP: case JMP32: return jump(i);
    default: break;
  }
  if (is_ld_imm64(i)) return imm64(i, *next, map_name);
  const std::string sz(size_name(size(i.code)));
  if (mode(i.code) == ABS) return "r0 = *(" + sz + " *)skb[" + dec(i.imm) + "]";
  return "r0 = *(" + sz + " *)skb[" + reg(i.src) + (i.imm < 0 ? " - " + dec(-std::int64_t(i.imm)) : " + " + dec(i.imm)) + "]";
}

// Index of the instruction a valid instruction transfers control to (or points at), if any.
std::optional<std::int64_t> target_of(const Insn& i, const Insn* next, std::size_t index) {
  if (!check(i, next).empty()) return std::nullopt;
  const auto base = static_cast<std::int64_t>(index) + 1;
  if (is_ld_imm64(i)) return i.src == std::uint8_t(Pseudo::func) ? std::optional(base + i.imm) : std::nullopt;
  if (has_jump_offset(i)) return base + i.off;
  if (cls(i.code) == JMP32 && op(i.code) == 0x00) return base + i.imm;
  if (cls(i.code) == JMP && op(i.code) == 0x80 && i.src == 1) return base + i.imm;
  return std::nullopt;
}

struct Names {
  std::map<std::int64_t, std::string> labels;  // target index -> label
  std::map<std::uint32_t, std::string> maps;   // insn index -> map name
};

std::string render(std::span<const Insn> insns, Names names, const DisasmOptions& o) {
  const auto next_of = [&](std::size_t k) { return k + 1 < insns.size() ? &insns[k + 1] : nullptr; };
  // A valid LD_IMM64 prints as one line for two slots; anything invalid prints slot by slot as `.insn`.
  const auto step = [&](std::size_t k) -> std::size_t {
    return is_ld_imm64(insns[k]) && check(insns[k], next_of(k)).empty() ? 2 : 1;
  };
  for (std::size_t k = 0; k < insns.size(); k += step(k))
    if (auto t = target_of(insns[k], next_of(k), k); t && !names.labels.contains(*t))
      names.labels[*t] = "L" + std::to_string(*t);
  std::string out;
  for (std::size_t k = 0; k < insns.size(); k += step(k)) {
    if (auto l = names.labels.find(std::int64_t(k)); o.labels && l != names.labels.end()) out += l->second + ":\n";
    if (o.indices) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%4zu: ", k);
      out += buf;
    }
    auto m = names.maps.find(std::uint32_t(k));
    out += o.indent + text(insns[k], next_of(k), m == names.maps.end() ? nullptr : &m->second);
    if (auto t = target_of(insns[k], next_of(k), k); o.labels && t) {
      auto l = names.labels.find(*t);
      out += " <" + l->second + ">";
    }
    out += '\n';
  }
  return out;
}

}  // namespace

std::string disassemble_one(const Insn& insn, const Insn* next) { return text(insn, next, nullptr); }

std::string disassemble(std::span<const Insn> insns, const DisasmOptions& options) {
  return render(insns, {}, options);
}

std::string disassemble(const Bytecode& code, const DisasmOptions& options) {
  Names names;
  for (const Symbol& s : code.symbols) names.labels.emplace(s.insn, s.name);
  for (const MapRelocation& m : code.maps)
    if (!m.resolved) names.maps[m.insn] = m.map;
  return render(code.insns, std::move(names), options);
}

}  // namespace ebpf
