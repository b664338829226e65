// Text assembler: the driver (lines, labels, comments, directives, error positions) and the LLVM/bpftool
// syntax. The mnemonic syntax is in text_asm_mnemonic.cpp.
#include "ebpf/text_asm.hpp"

#include <array>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/helpers.hpp"
#include "isa/text_cursor.hpp"

namespace ebpf {
namespace text {

using namespace isa;

bool expect(Cursor& c, std::string_view tok) {
  if (c.eat(tok)) return true;
  return c.fail("expected '" + std::string(tok) + "'");
}

bool expect_reg(Cursor& c, AnyReg& r) {
  auto got = c.reg();
  if (!got) return c.fail("expected a register (r0..r10 or w0..w10)");
  r = *got;
  return true;
}

bool parse_imm32(Cursor& c, std::int32_t& out) {
  std::size_t at = c.pos();
  auto v = c.number();
  if (!v) return c.fail("expected a number");
  if (*v < INT32_MIN || *v > std::int64_t(UINT32_MAX)) return c.fail_at(at, "immediate does not fit in 32 bits");
  out = static_cast<std::int32_t>(static_cast<std::uint32_t>(*v));
  return true;
}

bool parse_off16(Cursor& c, std::int16_t& out, bool required_sign) {
  c.ws();
  std::size_t at = c.pos();
  if (required_sign && !c.rest().starts_with("+") && !c.rest().starts_with("-")) return c.fail("expected '+' or '-'");
  auto v = c.number();
  if (!v) return c.fail("expected an offset");
  if (*v < INT16_MIN || *v > INT16_MAX) return c.fail_at(at, "offset does not fit in 16 bits");
  out = static_cast<std::int16_t>(*v);
  return true;
}

// "+3", "-2", "pc+3", "3", "label"; an annotation "<name>" after a number is skipped.
bool parse_target(Cursor& c, Target& t) {
  c.eat_word("pc");
  if (auto n = c.number()) {
    t = {*n, {}};
    if (c.eat("<")) {
      while (!c.at_end() && !c.eat(">")) c.seek(c.pos() + 1);
    }
    return true;
  }
  if (auto id = c.ident()) {
    t = {0, *id};
    return true;
  }
  return c.fail("expected a jump offset or label");
}

bool emit_with_target(Cursor& c, Assembler& a, Insn i, const Target& t) {
  if (!t.label.empty()) {
    a.emit(i, t.label);
    return true;
  }
  if (is_ld_imm64(i) || !has_jump_offset(i)) {
    if (t.offset < INT32_MIN || t.offset > INT32_MAX) return c.fail("offset does not fit in 32 bits");
    i.imm = static_cast<std::int32_t>(t.offset);
  } else {
    if (t.offset < INT16_MIN || t.offset > INT16_MAX) return c.fail("jump offset does not fit in 16 bits (use gotol)");
    i.off = static_cast<std::int16_t>(t.offset);
  }
  if (is_ld_imm64(i)) {
    a.emit(Wide{i, make(0, 0, 0, 0, 0)});
  } else {
    a.emit(i);
  }
  return true;
}

namespace {

struct SizeTok {
  Size size;
  bool sign;
};

// "u8".."u64", "s8".."s32"
bool parse_size(Cursor& c, SizeTok& out, bool allow_sign) {
  std::size_t at = c.pos();
  auto id = c.ident();
  static constexpr std::array<std::pair<std::string_view, SizeTok>, 7> kSizes{{
      {"u8", {Size::u8, false}}, {"u16", {Size::u16, false}}, {"u32", {Size::u32, false}},
      {"u64", {Size::u64, false}}, {"s8", {Size::u8, true}}, {"s16", {Size::u16, true}}, {"s32", {Size::u32, true}},
  }};
  for (const auto& [name, s] : kSizes)
    if (id && *id == name) {
      if (s.sign && !allow_sign) return c.fail_at(at, "a signed size is only valid for loads");
      out = s;
      return true;
    }
  return c.fail_at(at, "expected an access size (u8, u16, u32, u64)");
}

// "r1 + 4" / "r10 - 8" / "r1"
bool parse_addr(Cursor& c, AnyReg& base, std::int16_t& off) {
  if (!expect_reg(c, base)) return false;
  off = 0;
  c.ws();
  if (c.rest().starts_with("+") || c.rest().starts_with("-")) return parse_off16(c, off, true);
  return true;
}

// "*(u32 *)" then "(r1 + 4)"
bool parse_deref(Cursor& c, SizeTok& s, AnyReg& base, std::int16_t& off, bool allow_sign) {
  return expect(c, "(") && parse_size(c, s, allow_sign) && expect(c, "*") && expect(c, ")") && expect(c, "(") &&
         parse_addr(c, base, off) && expect(c, ")");
}

bool parse_alu_rhs(Cursor& c, Assembler& a, AluOp o, AnyReg d, std::int16_t off) {
  if (auto s = c.reg()) {
    if (s->w != d.w) return c.fail("mixing 32-bit (w) and 64-bit (r) registers");
    a.emit(d.w ? alu32(o, d.wr(), s->wr(), off) : alu64(o, d.r(), s->r(), off));
    return true;
  }
  std::int32_t imm;
  if (!parse_imm32(c, imm)) return false;
  a.emit(d.w ? alu32(o, d.wr(), imm, off) : alu64(o, d.r(), imm, off));
  return true;
}

// `if r1 OP r2|imm goto TARGET`
bool parse_if(Cursor& c, Assembler& a) {
  AnyReg d;
  if (!expect_reg(c, d)) return false;
  static constexpr std::array<std::pair<std::string_view, JmpOp>, 11> kOps{{
      {"s>=", JmpOp::jsge}, {"s<=", JmpOp::jsle}, {"s>", JmpOp::jsgt}, {"s<", JmpOp::jslt}, {"==", JmpOp::jeq},
      {"!=", JmpOp::jne}, {">=", JmpOp::jge}, {"<=", JmpOp::jle}, {">", JmpOp::jgt}, {"<", JmpOp::jlt},
      {"&", JmpOp::jset},
  }};
  const JmpOp* o = nullptr;
  for (const auto& [tok, op] : kOps)
    if (c.eat(tok)) {
      o = &op;
      break;
    }
  if (o == nullptr) return c.fail("expected a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)");
  Insn i;
  if (auto s = c.reg()) {
    if (s->w != d.w) return c.fail("mixing 32-bit (w) and 64-bit (r) registers");
    i = d.w ? jmp(*o, d.wr(), s->wr(), 0) : jmp(*o, d.r(), s->r(), 0);
  } else {
    std::int32_t imm;
    if (!parse_imm32(c, imm)) return false;
    i = d.w ? jmp(*o, d.wr(), imm, 0) : jmp(*o, d.r(), imm, 0);
  }
  Target t;
  return expect(c, "goto") && parse_target(c, t) && emit_with_target(c, a, i, t);
}

bool parse_call(Cursor& c, Assembler& a) {
  if (c.eat_word("pc")) {
    Target t;
    return parse_target(c, t) && emit_with_target(c, a, call_local(0), t);
  }
  if (c.eat_word("kfunc")) {
    std::int32_t id;
    std::int16_t idx = 0;
    if (!expect(c, "#") || !parse_imm32(c, id)) return false;
    if (c.eat("@") && !parse_off16(c, idx)) return false;
    a.emit(call_kfunc(id, idx));
    return true;
  }
  std::size_t at = c.pos();
  if (c.number()) {  // a helper id; parse again with the 32-bit range check
    c.seek(at);
    std::int32_t id;
    if (!parse_imm32(c, id)) return false;
    a.call_helper(id);
    return true;
  }
  auto name = c.ident();
  if (!name) return c.fail("expected a helper name, helper id, 'pc+N' or a function label");
  if (c.eat("#")) {  // bpftool form: name#id — the id is authoritative
    std::int32_t id;
    if (!parse_imm32(c, id)) return false;
    a.call_helper(id);
    return true;
  }
  if (auto id = helper_by_name(*name)) {
    a.call_helper(*id);
    return true;
  }
  a.call_local(*name);
  return true;
}

// `lock *(u64 *)(r1 + 0) += r2`
bool parse_lock(Cursor& c, Assembler& a) {
  SizeTok s;
  AnyReg base, src;
  std::int16_t off;
  if (!expect(c, "*") || !parse_deref(c, s, base, off, false)) return false;
  AtomicOp o;
  if (c.eat("+=")) o = AtomicOp::add;
  else if (c.eat("|=")) o = AtomicOp::or_;
  else if (c.eat("&=")) o = AtomicOp::and_;
  else if (c.eat("^=")) o = AtomicOp::xor_;
  else return c.fail("expected +=, |=, &= or ^=");
  if (!expect_reg(c, src)) return false;
  a.emit(atomic(o, s.size, base.r(), off, src.r()));
  return true;
}

// `*(u32 *)(r1 + 4) = r2|imm`
bool parse_store(Cursor& c, Assembler& a) {
  SizeTok s;
  AnyReg base;
  std::int16_t off;
  if (!parse_deref(c, s, base, off, false) || !expect(c, "=")) return false;
  if (auto src = c.reg()) {
    a.emit(stx(s.size, base.r(), off, src->r()));
    return true;
  }
  std::int32_t imm;
  if (!parse_imm32(c, imm)) return false;
  a.emit(st(s.size, base.r(), off, imm));
  return true;
}

// `store_release((u64 *)(r1 + 0), r2)`
bool parse_store_release(Cursor& c, Assembler& a) {
  SizeTok s;
  AnyReg base, src;
  std::int16_t off;
  if (!expect(c, "(") || !parse_deref(c, s, base, off, false) || !expect(c, ",") || !expect_reg(c, src) ||
      !expect(c, ")"))
    return false;
  a.emit(store_release(s.size, base.r(), off, src.r()));
  return true;
}

bool parse_map(Cursor& c, Assembler& a, AnyReg d) {
  if (!expect(c, "[")) return false;
  std::string_view name;
  std::int32_t num = 0;
  enum { by_name, by_fd, by_idx } kind = by_name;
  auto id = c.ident();
  if (!id) return c.fail("expected a map name, fd:N or idx:N");
  if ((*id == "fd" || *id == "id" || *id == "idx") && c.eat(":")) {
    kind = *id == "idx" ? by_idx : by_fd;
    if (!parse_imm32(c, num)) return false;
  } else {
    name = *id;
  }
  if (!expect(c, "]")) return false;
  std::int32_t value_off = 0;
  const bool value = c.eat("[");
  if (value && (!expect(c, "0") || !expect(c, "]") || !expect(c, "+") || !parse_imm32(c, value_off))) return false;
  const auto uoff = static_cast<std::uint32_t>(value_off);
  if (kind == by_name) value ? a.ld_map_value(d.r(), name, uoff) : a.ld_map(d.r(), name);
  if (kind == by_fd) value ? a.ld_map_value(d.r(), int(num), uoff) : a.ld_map(d.r(), int(num));
  if (kind == by_idx) value ? a.ld_map_idx_value(d.r(), num, uoff) : a.ld_map_idx(d.r(), num);
  return true;
}

bool parse_btf(Cursor& c, Assembler& a, AnyReg d) {
  std::int32_t id, fd = 0;
  if (!expect(c, "[") || !expect(c, "id") || !expect(c, ":") || !parse_imm32(c, id) || !expect(c, "]")) return false;
  if (c.eat("[") && (!expect(c, "fd") || !expect(c, ":") || !parse_imm32(c, fd) || !expect(c, "]"))) return false;
  a.ld_btf_id(d.r(), id, fd);
  return true;
}

// After `rD = <name>(`: the atomic read-modify-write and acquire forms.
bool parse_atomic_call(Cursor& c, Assembler& a, AnyReg d, std::string_view fn) {
  static constexpr std::array<std::pair<std::string_view, AtomicOp>, 4> kFetch{{
      {"atomic_fetch_add", AtomicOp::fetch_add}, {"atomic_fetch_or", AtomicOp::fetch_or},
      {"atomic_fetch_and", AtomicOp::fetch_and}, {"atomic_fetch_xor", AtomicOp::fetch_xor}}};
  SizeTok s;
  AnyReg base, src, expected;
  std::int16_t off;
  for (const auto& [name, o] : kFetch)
    if (fn == name) {
      if (!parse_deref(c, s, base, off, false) || !expect(c, ",") || !expect_reg(c, src) || !expect(c, ")")) return false;
      if (src.id != d.id) return c.fail("atomic_fetch_* returns into its source register");
      a.emit(atomic(o, s.size, base.r(), off, src.r()));
      return true;
    }
  if (fn == "load_acquire") {
    if (!parse_deref(c, s, base, off, false) || !expect(c, ")")) return false;
    a.emit(load_acquire(s.size, d.r(), base.r(), off));
    return true;
  }
  const bool x64 = fn == "xchg_64" || fn == "cmpxchg_64";
  if (fn == "xchg_64" || fn == "xchg32_32") {
    if (!parse_addr(c, base, off) || !expect(c, ",") || !expect_reg(c, src) || !expect(c, ")")) return false;
    if (src.id != d.id) return c.fail("xchg returns into its source register");
    a.emit(xchg(x64 ? Size::u64 : Size::u32, base.r(), off, src.r()));
    return true;
  }
  if (fn == "cmpxchg_64" || fn == "cmpxchg32_32") {
    if (!parse_addr(c, base, off) || !expect(c, ",") || !expect_reg(c, expected) || !expect(c, ",") ||
        !expect_reg(c, src) || !expect(c, ")"))
      return false;
    if (d.id != 0 || expected.id != 0) return c.fail("cmpxchg compares with and returns into r0");
    a.emit(cmpxchg(x64 ? Size::u64 : Size::u32, base.r(), off, src.r()));
    return true;
  }
  return c.fail("unknown function '" + std::string(fn) + "'");
}

// `r0 = *(u8 *)skb[23]` / `r0 = *(u16 *)skb[r1 + 4]`
bool parse_skb_load(Cursor& c, Assembler& a, AnyReg d, const SizeTok& s) {
  if (d.id != 0) return c.fail("legacy packet loads write r0");
  if (!expect(c, "[")) return false;
  if (auto src = c.reg()) {
    std::int32_t imm = 0;
    if (c.eat("+")) {
      if (!parse_imm32(c, imm)) return false;
    } else if (c.eat("-")) {
      if (!parse_imm32(c, imm)) return false;
      imm = static_cast<std::int32_t>(0u - static_cast<std::uint32_t>(imm));
    }
    a.emit(ld_ind(s.size, src->r(), imm));
  } else {
    std::int32_t imm;
    if (!parse_imm32(c, imm)) return false;
    a.emit(ld_abs(s.size, imm));
  }
  return expect(c, "]");
}

bool parse_load(Cursor& c, Assembler& a, AnyReg d) {
  SizeTok s;
  if (!expect(c, "(") || !parse_size(c, s, true) || !expect(c, "*") || !expect(c, ")")) return false;
  if (c.eat_word("skb")) return parse_skb_load(c, a, d, s);
  AnyReg base;
  std::int16_t off;
  if (!expect(c, "(") || !parse_addr(c, base, off) || !expect(c, ")")) return false;
  a.emit(s.sign ? ldsx(s.size, d.r(), base.r(), off) : ldx(s.size, d.r(), base.r(), off));
  return true;
}

bool parse_byteswap(Cursor& c, Assembler& a, AnyReg d, std::string_view word) {
  for (std::string_view kind : {"bswap", "be", "le"}) {
    if (!word.starts_with(kind)) continue;
    std::string_view bits = word.substr(kind.size());
    int n = bits == "16" ? 16 : bits == "32" ? 32 : bits == "64" ? 64 : 0;
    if (n == 0) return c.fail("byte swap width must be 16, 32 or 64");
    AnyReg s;
    if (!expect_reg(c, s)) return false;
    if (s.id != d.id) return c.fail("byte swaps operate in place: source and destination must be the same register");
    a.emit(kind == "bswap" ? bswap(d.r(), n) : kind == "be" ? be(d.r(), n) : le(d.r(), n));
    return true;
  }
  return false;
}

// Everything after `rD =`.
bool parse_assign(Cursor& c, Assembler& a, AnyReg d) {
  if (c.eat("*")) return parse_load(c, a, d);
  std::size_t at = c.pos();
  if (c.eat("(")) {  // movsx: (s8)r1
    SizeTok s;
    if (!parse_size(c, s, true) || !expect(c, ")")) return false;
    if (!s.sign) return c.fail_at(at, "only (s8), (s16) and (s32) casts exist");
    return parse_alu_rhs(c, a, AluOp::mov, d, std::int16_t(bytes(s.size) * 8));
  }
  if (c.eat("-")) {
    if (auto s = c.reg()) {
      if (s->id != d.id || s->w != d.w) return c.fail("neg operates in place");
      a.emit(d.w ? neg(d.wr()) : neg(d.r()));
      return true;
    }
    c.seek(at);
  }
  if (auto word = c.ident()) {
    if (*word == "map") return parse_map(c, a, d);
    if (*word == "btf") return parse_btf(c, a, d);
    if (*word == "func") {
      Target t;
      return parse_target(c, t) && emit_with_target(c, a, ld_func(d.r(), 0)[0], t);
    }
    if (c.eat("(")) return parse_atomic_call(c, a, d, *word);
    if (parse_byteswap(c, a, d, *word) || c.failed()) return !c.failed();
    c.seek(at);
  }
  if (c.reg()) {
    c.seek(at);
    return parse_alu_rhs(c, a, AluOp::mov, d, 0);
  }
  auto v = c.number();
  if (!v) return c.fail("expected a value");
  if (c.eat_word("ll")) {
    if (d.w) return c.fail("64-bit immediates load into rN");
    a.ld_imm64(d.r(), static_cast<std::uint64_t>(*v));
    return true;
  }
  c.seek(at);
  return parse_alu_rhs(c, a, AluOp::mov, d, 0);
}

// `rD OP= src|imm`, `rD = ...`
bool parse_reg_statement(Cursor& c, Assembler& a, AnyReg d) {
  static constexpr std::array<std::tuple<std::string_view, AluOp, std::int16_t>, 14> kOps{{
      {"s>>=", AluOp::arsh, 0}, {"s/=", AluOp::div, 1}, {"s%=", AluOp::mod, 1}, {"<<=", AluOp::lsh, 0},
      {">>=", AluOp::rsh, 0}, {"+=", AluOp::add, 0}, {"-=", AluOp::sub, 0}, {"*=", AluOp::mul, 0},
      {"/=", AluOp::div, 0}, {"|=", AluOp::or_, 0}, {"&=", AluOp::and_, 0}, {"%=", AluOp::mod, 0},
      {"^=", AluOp::xor_, 0}, {"=", AluOp::mov, 0},
  }};
  for (const auto& [tok, o, off] : kOps)
    if (c.eat(tok)) return o == AluOp::mov ? parse_assign(c, a, d) : parse_alu_rhs(c, a, o, d, off);
  return c.fail("expected an assignment operator");
}

// `.insn code, dst, src, off, imm`
bool parse_raw(Cursor& c, Assembler& a) {
  std::int32_t f[5];
  for (int k = 0; k < 5; ++k) {
    if (k > 0 && !expect(c, ",")) return false;
    if (!parse_imm32(c, f[k])) return false;
  }
  if (f[0] < 0 || f[0] > 255 || f[1] < 0 || f[1] > 15 || f[2] < 0 || f[2] > 15 || f[3] < INT16_MIN || f[3] > INT16_MAX)
    return c.fail("field out of range (code 0..255, dst/src 0..15, off 16-bit)");
  a.emit_unchecked(make(std::uint8_t(f[0]), std::uint8_t(f[1]), std::uint8_t(f[2]), std::int16_t(f[3]), f[4]));
  return true;
}

bool parse_instruction(Cursor& c, Assembler& a) {
  if (c.eat(".insn")) return parse_raw(c, a);
  if (c.eat("*")) return parse_store(c, a);
  std::size_t at = c.pos();
  if (auto d = c.reg()) return parse_reg_statement(c, a, *d);
  if (c.failed()) return false;
  auto word = c.ident();
  if (!word) return c.fail("expected an instruction");
  if (*word == "exit") return a.exit(), true;
  if (*word == "if") return parse_if(c, a);
  if (*word == "call") return parse_call(c, a);
  if (*word == "lock") return parse_lock(c, a);
  if (*word == "store_release") return parse_store_release(c, a);
  Target t;
  if (*word == "goto") return parse_target(c, t) && emit_with_target(c, a, ja(0), t);
  if (*word == "gotol") return parse_target(c, t) && emit_with_target(c, a, gotol(0), t);
  if (*word == "may_goto") return parse_target(c, t) && emit_with_target(c, a, may_goto(0), t);
  if (parse_mnemonic(c, a, *word)) return true;
  if (!c.failed()) c.fail_at(at, "unknown instruction '" + std::string(*word) + "'");
  return false;
}

std::string_view strip_comment(std::string_view line) {
  std::size_t first = line.find_first_not_of(" \t");
  if (first != std::string_view::npos && line[first] == '#') return {};
  std::size_t cut = std::min(line.find(';'), line.find("//"));
  return cut == std::string_view::npos ? line : line.substr(0, cut);
}

// Leading "12:" (instruction index, ignored) or "name:" (label); repeatable.
bool parse_line_prefixes(Cursor& c, Assembler& a) {
  while (true) {
    std::size_t at = c.pos();
    if (c.number() && c.eat(":")) continue;
    c.seek(at);
    auto id = c.ident();
    if (id && c.eat(":")) {
      a.label(*id);
      continue;
    }
    c.seek(at);
    return !c.failed();
  }
}

Error text_error(std::size_t line, std::size_t column, const std::string& what) {
  return Error(Errc::bad_format, "assemble text", std::to_string(line) + ":" + std::to_string(column) + ": " + what,
               EINVAL);
}

}  // namespace
}  // namespace text

Result<Bytecode> assemble_text(std::string_view source) {
  Assembler a;
  std::vector<std::uint32_t> line_of;  // per emitted instruction slot
  std::size_t line_no = 0;
  while (!source.empty() || line_no == 0) {
    ++line_no;
    std::size_t nl = source.find('\n');
    std::string_view line = source.substr(0, nl);
    source = nl == std::string_view::npos ? std::string_view() : source.substr(nl + 1);
    text::Cursor c(text::strip_comment(line));
    if (!text::parse_line_prefixes(c, a)) return text::text_error(line_no, c.error_column(), c.error());
    if (!c.at_end()) {
      if (!text::parse_instruction(c, a) || (!c.at_end() && !c.fail("unexpected text after the instruction")))
        return text::text_error(line_no, c.error_column(), c.error());
    }
    line_of.resize(a.size(), static_cast<std::uint32_t>(line_no));
    if (source.empty()) break;
  }
  if (!a.link()) {
    const auto& f = a.failure();
    std::size_t line = f.insn < line_of.size() ? line_of[f.insn] : line_no;
    return text::text_error(line, 1, "instruction " + std::to_string(f.insn) + ": " + f.message);
  }
  return std::move(a).finish();
}

}  // namespace ebpf
