// Text assembler, mnemonic syntax of ubpf and the eBPF conformance suites: `mov32 r0, 1`, `ldxh r9, [r0+2]`,
// `stxdw [r1-8], r2`, `jeq r1, 5, +3`, `lddw r0, 0x123456789`, `be16 r9`, `call 1`.
#include <array>
#include <tuple>

#include "ebpf/assembler.hpp"
#include "isa/text_cursor.hpp"

namespace ebpf::text {
namespace {

using namespace isa;

// "b" "h" "w" "dw" → size
bool size_suffix(std::string_view s, Size& out) {
  if (s == "b") out = Size::u8;
  else if (s == "h") out = Size::u16;
  else if (s == "w") out = Size::u32;
  else if (s == "dw") out = Size::u64;
  else return false;
  return true;
}

// "[r1+4]" / "[r10-8]" / "[r1]"
bool parse_mem(Cursor& c, AnyReg& base, std::int16_t& off) {
  off = 0;
  if (!expect(c, "[") || !expect_reg(c, base)) return false;
  c.ws();
  if ((c.rest().starts_with("+") || c.rest().starts_with("-")) && !parse_off16(c, off, true)) return false;
  return expect(c, "]");
}

bool parse_alu(Cursor& c, Assembler& a, std::string_view m) {
  static constexpr std::array<std::tuple<std::string_view, AluOp, std::int16_t>, 14> kOps{{
      {"add", AluOp::add, 0}, {"sub", AluOp::sub, 0}, {"mul", AluOp::mul, 0}, {"div", AluOp::div, 0},
      {"sdiv", AluOp::div, 1}, {"mod", AluOp::mod, 0}, {"smod", AluOp::mod, 1}, {"or", AluOp::or_, 0},
      {"and", AluOp::and_, 0}, {"lsh", AluOp::lsh, 0}, {"rsh", AluOp::rsh, 0}, {"arsh", AluOp::arsh, 0},
      {"xor", AluOp::xor_, 0}, {"mov", AluOp::mov, 0},
  }};
  bool w = false;
  std::string_view base = m;
  if (base.ends_with("32")) w = true, base.remove_suffix(2);
  else if (base.ends_with("64")) base.remove_suffix(2);
  AnyReg d;
  if (base == "neg") {
    if (!expect_reg(c, d)) return false;
    a.emit(w ? neg(d.wr()) : neg(d.r()));
    return true;
  }
  for (const auto& [name, o, off] : kOps) {
    if (base != name) continue;
    if (!expect_reg(c, d) || !expect(c, ",")) return false;
    if (auto s = c.reg()) {
      a.emit(w ? alu32(o, d.wr(), s->wr(), off) : alu64(o, d.r(), s->r(), off));
      return true;
    }
    std::int32_t imm;
    if (!parse_imm32(c, imm)) return false;
    a.emit(w ? alu32(o, d.wr(), imm, off) : alu64(o, d.r(), imm, off));
    return true;
  }
  return false;
}

// movsx8 / movsx16 / movsx32 (64-bit), movsx8_32 / movsx16_32 (32-bit)
bool parse_movsx(Cursor& c, Assembler& a, std::string_view m) {
  if (!m.starts_with("movsx")) return false;
  m.remove_prefix(5);
  const bool w = m.ends_with("_32");
  if (w) m.remove_suffix(3);
  const int bits = m == "8" ? 8 : m == "16" ? 16 : m == "32" ? 32 : 0;
  if (bits == 0) return c.fail("movsx width must be 8, 16 or 32");
  AnyReg d, s;
  if (!expect_reg(c, d) || !expect(c, ",") || !expect_reg(c, s)) return false;
  a.emit(w ? movsx(d.wr(), s.wr(), bits) : movsx(d.r(), s.r(), bits));
  return true;
}

bool parse_endian(Cursor& c, Assembler& a, std::string_view m) {
  for (std::string_view kind : {"bswap", "be", "le"}) {
    if (!m.starts_with(kind)) continue;
    std::string_view bits = m.substr(kind.size());
    const int n = bits == "16" ? 16 : bits == "32" ? 32 : bits == "64" ? 64 : 0;
    if (n == 0) return false;
    AnyReg d;
    if (!expect_reg(c, d)) return false;
    a.emit(kind == "bswap" ? bswap(d.r(), n) : kind == "be" ? be(d.r(), n) : le(d.r(), n));
    return true;
  }
  return false;
}

bool parse_memory(Cursor& c, Assembler& a, std::string_view m) {
  Size s;
  AnyReg d, base;
  std::int16_t off;
  if (m.starts_with("ldxs") && size_suffix(m.substr(4), s)) {
    if (!expect_reg(c, d) || !expect(c, ",") || !parse_mem(c, base, off)) return false;
    return a.emit(ldsx(s, d.r(), base.r(), off)), true;
  }
  if (m.starts_with("ldx") && size_suffix(m.substr(3), s)) {
    if (!expect_reg(c, d) || !expect(c, ",") || !parse_mem(c, base, off)) return false;
    return a.emit(ldx(s, d.r(), base.r(), off)), true;
  }
  if (m.starts_with("stx") && size_suffix(m.substr(3), s)) {
    if (!parse_mem(c, base, off) || !expect(c, ",") || !expect_reg(c, d)) return false;
    return a.emit(stx(s, base.r(), off, d.r())), true;
  }
  if (m.starts_with("xadd") && size_suffix(m.substr(4), s)) {
    if (!parse_mem(c, base, off) || !expect(c, ",") || !expect_reg(c, d)) return false;
    return a.emit(atomic_add(s, base.r(), off, d.r())), true;
  }
  if (m.starts_with("st") && size_suffix(m.substr(2), s)) {
    std::int32_t imm;
    if (!parse_mem(c, base, off) || !expect(c, ",") || !parse_imm32(c, imm)) return false;
    return a.emit(st(s, base.r(), off, imm)), true;
  }
  if (m.starts_with("ldabs") && size_suffix(m.substr(5), s)) {
    std::int32_t imm;
    if (!parse_imm32(c, imm)) return false;
    return a.emit(ld_abs(s, imm)), true;
  }
  if (m.starts_with("ldind") && size_suffix(m.substr(5), s)) {
    std::int32_t imm;
    if (!expect_reg(c, base) || !expect(c, ",") || !parse_imm32(c, imm)) return false;
    return a.emit(ld_ind(s, base.r(), imm)), true;
  }
  if (m == "lddw") {
    if (!expect_reg(c, d) || !expect(c, ",")) return false;
    auto v = c.number();
    if (!v) return c.fail("expected a 64-bit immediate");
    return a.ld_imm64(d.r(), static_cast<std::uint64_t>(*v)), true;
  }
  return false;
}

bool parse_jump(Cursor& c, Assembler& a, std::string_view m) {
  static constexpr std::array<std::pair<std::string_view, JmpOp>, 11> kOps{{
      {"jeq", JmpOp::jeq}, {"jgt", JmpOp::jgt}, {"jge", JmpOp::jge}, {"jlt", JmpOp::jlt}, {"jle", JmpOp::jle},
      {"jset", JmpOp::jset}, {"jne", JmpOp::jne}, {"jsgt", JmpOp::jsgt}, {"jsge", JmpOp::jsge},
      {"jslt", JmpOp::jslt}, {"jsle", JmpOp::jsle},
  }};
  Target t;
  if (m == "ja") return parse_target(c, t) && emit_with_target(c, a, ja(0), t);
  if (m == "ja32" || m == "jal") return parse_target(c, t) && emit_with_target(c, a, gotol(0), t);
  const bool w = m.ends_with("32");
  if (w) m.remove_suffix(2);
  for (const auto& [name, o] : kOps) {
    if (m != name) continue;
    AnyReg d;
    Insn i;
    if (!expect_reg(c, d) || !expect(c, ",")) return false;
    if (auto s = c.reg()) {
      i = w ? jmp(o, d.wr(), s->wr(), 0) : jmp(o, d.r(), s->r(), 0);
    } else {
      std::int32_t imm;
      if (!parse_imm32(c, imm)) return false;
      i = w ? jmp(o, d.wr(), imm, 0) : jmp(o, d.r(), imm, 0);
    }
    return expect(c, ",") && parse_target(c, t) && emit_with_target(c, a, i, t);
  }
  return false;
}

}  // namespace

bool parse_mnemonic(Cursor& c, Assembler& a, std::string_view m) {
  if (parse_movsx(c, a, m) || c.failed()) return !c.failed();
  if (parse_alu(c, a, m) || c.failed()) return !c.failed();
  if (parse_endian(c, a, m) || c.failed()) return !c.failed();
  if (parse_memory(c, a, m) || c.failed()) return !c.failed();
  return parse_jump(c, a, m) && !c.failed();
}

}  // namespace ebpf::text
