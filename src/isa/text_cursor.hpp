// Private to the text assembler: a cursor over one source line that parses tokens and remembers the first
// error with its column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ebpf/isa.hpp"

namespace ebpf::text {

struct AnyReg {
  std::uint8_t id;
  bool w;  // written as wN
  isa::Reg r() const { return {id}; }
  isa::WReg wr() const { return {id}; }
};

class Cursor {
 public:
  explicit Cursor(std::string_view line) : s_(line) {}

  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool at_end() { ws(); return pos_ >= s_.size(); }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t p) { pos_ = p; }
  std::string_view rest() const { return s_.substr(pos_); }

  // Punctuation (or any literal) after optional blanks.
  bool eat(std::string_view tok) {
    ws();
    if (!s_.substr(pos_).starts_with(tok)) return false;
    pos_ += tok.size();
    return true;
  }
  // The identifier `w` as a whole word.
  bool eat_word(std::string_view w) {
    std::size_t save = pos_;
    if (auto id = ident(); id && *id == w) return true;
    pos_ = save;
    return false;
  }
  std::optional<std::string_view> ident() {
    ws();
    std::size_t b = pos_;
    if (pos_ >= s_.size() || !(alpha(s_[pos_]) || s_[pos_] == '_' || s_[pos_] == '.')) return std::nullopt;
    while (pos_ < s_.size() && (alpha(s_[pos_]) || digit(s_[pos_]) || s_[pos_] == '_' || s_[pos_] == '.')) ++pos_;
    return s_.substr(b, pos_ - b);
  }
  // [+-]?(0x hex | decimal); magnitude up to 2^64-1.
  std::optional<std::int64_t> number() {
    ws();
    std::size_t b = pos_;
    bool neg = false;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) neg = s_[pos_++] == '-';
    ws();
    unsigned base = 10;
    if (s_.substr(pos_).starts_with("0x") || s_.substr(pos_).starts_with("0X")) base = 16, pos_ += 2;
    std::uint64_t v = 0;
    std::size_t digits = 0;
    for (; pos_ < s_.size(); ++pos_, ++digits) {
      int d = digit_value(s_[pos_]);
      if (d < 0 || unsigned(d) >= base) break;
      if (v > (UINT64_MAX - unsigned(d)) / base) return fail_at(b, "number too large"), std::nullopt;
      v = v * base + unsigned(d);
    }
    if (digits == 0 || (pos_ < s_.size() && (alpha(s_[pos_]) || s_[pos_] == '_'))) {
      pos_ = b;
      return std::nullopt;
    }
    if (neg && v > std::uint64_t(INT64_MAX) + 1) return fail_at(b, "number too small"), std::nullopt;
    return neg ? std::int64_t(0 - v) : std::int64_t(v);
  }
  // rN / wN (also %rN), N in 0..10.
  std::optional<AnyReg> reg() {
    ws();
    std::size_t b = pos_;
    if (pos_ < s_.size() && s_[pos_] == '%') ++pos_;
    auto id = ident();
    if (id && id->size() >= 2 && id->size() <= 3 && ((*id)[0] == 'r' || (*id)[0] == 'w') && digit((*id)[1]) &&
        (id->size() == 2 || digit((*id)[2]))) {
      int n = ((*id)[1] - '0') * (id->size() == 3 ? 10 : 1) + (id->size() == 3 ? (*id)[2] - '0' : 0);
      if (n <= 10) return AnyReg{std::uint8_t(n), (*id)[0] == 'w'};
      fail_at(b, "no register " + std::string(*id) + " (r0..r10)");
    }
    pos_ = b;
    return std::nullopt;
  }

  bool fail(std::string msg) { return fail_at(pos_, std::move(msg)); }
  bool fail_at(std::size_t p, std::string msg) {
    if (!error_.empty()) return false;
    error_ = std::move(msg);
    error_col_ = p + 1;
    return false;
  }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t error_column() const { return error_col_; }

 private:
  static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  static int digit_value(char c) {
    if (digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
  std::size_t error_col_ = 0;
};

// Shared parsing steps (text_asm.cpp), used by both syntaxes.
struct Target {
  std::int64_t offset = 0;
  std::string_view label;  // empty: numeric offset
};
bool parse_target(Cursor& c, Target& t);
bool parse_imm32(Cursor& c, std::int32_t& out);    // accepts -2^31 .. 2^32-1 (wrapping)
bool parse_off16(Cursor& c, std::int16_t& out, bool required_sign = false);
bool expect_reg(Cursor& c, AnyReg& r);
bool expect(Cursor& c, std::string_view tok);

}  // namespace ebpf::text

namespace ebpf {
class Assembler;
}

namespace ebpf::text {
// Emits a jump/call/func-load whose target is `t` (numeric offsets are range-checked for 16-bit fields).
bool emit_with_target(Cursor& c, Assembler& a, Insn i, const Target& t);
// One instruction in the mnemonic (ubpf / conformance suite) syntax; `mnemonic` was already consumed.
bool parse_mnemonic(Cursor& c, Assembler& a, std::string_view mnemonic);
}  // namespace ebpf::text
