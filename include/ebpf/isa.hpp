// ebpf/isa.hpp — the eBPF instruction set: opcode fields, typed registers and access sizes, one constexpr
// encoder per instruction, and the validator that says whether an encoding is a defined instruction.
//
// Follows RFC 9669 / the kernel's Documentation/bpf/standardization/instruction-set.rst as of Linux 6.18
// (signed div/mod, movsx, bswap, sign-extending loads, gotol, may_goto, load-acquire/store-release).
// Registers are typed: `r0..r10` select 64-bit operations, `w0..w10` the 32-bit (ALU / JMP32) forms, so
// `isa::add(w1, 5)` is an ALU32 add and `isa::jgt(r1, r2, 3)` a 64-bit comparison.
// Encoders never fail; whatever the types cannot express (register numbers, movsx widths, atomic sizes,
// reserved fields) is checked by `isa::check`, which the assembler runs on every instruction it emits.
// Labels, relocations and program building live in ebpf/assembler.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "ebpf/insn.hpp"

namespace ebpf::isa {

// --- opcode fields ----------------------------------------------------------------------------------------
// Plain constants (not enums) so they combine with `|` into an opcode byte.
inline constexpr std::uint8_t LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, JMP32 = 0x06,
                              ALU64 = 0x07;                                                   // class
inline constexpr std::uint8_t IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80, ATOMIC = 0xc0;  // mode
inline constexpr std::uint8_t K = 0x00, X = 0x08;                                             // source

enum class AluOp : std::uint8_t {
  add = 0x00, sub = 0x10, mul = 0x20, div = 0x30, or_ = 0x40, and_ = 0x50, lsh = 0x60, rsh = 0x70,
  neg = 0x80, mod = 0x90, xor_ = 0xa0, mov = 0xb0, arsh = 0xc0, end = 0xd0,
};
enum class JmpOp : std::uint8_t {
  ja = 0x00, jeq = 0x10, jgt = 0x20, jge = 0x30, jset = 0x40, jne = 0x50, jsgt = 0x60, jsge = 0x70,
  call = 0x80, exit = 0x90, jlt = 0xa0, jle = 0xb0, jslt = 0xc0, jsle = 0xd0, jcond = 0xe0,
};
// Atomic operations live in the imm field of STX|ATOMIC.
enum class AtomicOp : std::int32_t {
  add = 0x00, or_ = 0x40, and_ = 0x50, xor_ = 0xa0,
  fetch_add = 0x01, fetch_or = 0x41, fetch_and = 0x51, fetch_xor = 0xa1,
  xchg = 0xe1, cmpxchg = 0xf1, load_acquire = 0x100, store_release = 0x110,
};
inline constexpr std::int32_t kAtomicFetch = 0x01;

// Pseudo sources of LD_IMM64 (src field) and of CALL.
enum class Pseudo : std::uint8_t { none = 0, map_fd = 1, map_value = 2, btf_id = 3, func = 4, map_idx = 5, map_idx_value = 6 };
enum class CallKind : std::uint8_t { helper = 0, local = 1, kfunc = 2 };

// Memory access sizes (the size field of LD/LDX/ST/STX).
enum class Size : std::uint8_t { u32 = 0x00, u16 = 0x08, u8 = 0x10, u64 = 0x18 };
inline constexpr Size B = Size::u8, H = Size::u16, W = Size::u32, DW = Size::u64;
constexpr int bytes(Size s) { return s == Size::u8 ? 1 : s == Size::u16 ? 2 : s == Size::u32 ? 4 : 8; }

constexpr std::uint8_t cls(std::uint8_t code) { return code & 0x07; }
constexpr std::uint8_t op(std::uint8_t code) { return code & 0xf0; }
constexpr std::uint8_t mode(std::uint8_t code) { return code & 0xe0; }
constexpr Size size(std::uint8_t code) { return static_cast<Size>(code & 0x18); }
constexpr bool uses_reg_source(std::uint8_t code) { return (code & 0x08) != 0; }
constexpr bool is_ld_imm64(const Insn& i) { return i.code == (LD | IMM | 0x18); }

// --- registers --------------------------------------------------------------------------------------------
// A 64-bit view of a register (r0..r10).
struct Reg {
  std::uint8_t id;
  friend constexpr bool operator==(Reg, Reg) = default;
};
// The 32-bit view of the same register (w0..w10): selects ALU32 / JMP32 encodings.
struct WReg {
  std::uint8_t id;
  friend constexpr bool operator==(WReg, WReg) = default;
  constexpr Reg r() const { return Reg{id}; }
};
inline constexpr Reg r0{0}, r1{1}, r2{2}, r3{3}, r4{4}, r5{5}, r6{6}, r7{7}, r8{8}, r9{9}, r10{10};
inline constexpr WReg w0{0}, w1{1}, w2{2}, w3{3}, w4{4}, w5{5}, w6{6}, w7{7}, w8{8}, w9{9}, w10{10};
inline constexpr Reg fp = r10;  // frame pointer, read-only

// --- raw builder ------------------------------------------------------------------------------------------
constexpr Insn make(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  Insn i;
  i.code = code;
  i.dst = dst & 0x0f;
  i.src = src & 0x0f;
  i.off = off;
  i.imm = imm;
  return i;
}

// --- ALU --------------------------------------------------------------------------------------------------
constexpr Insn alu64(AluOp o, Reg dst, Reg src, std::int16_t off = 0) {
  return make(ALU64 | X | static_cast<std::uint8_t>(o), dst.id, src.id, off, 0);
}
constexpr Insn alu64(AluOp o, Reg dst, std::int32_t imm, std::int16_t off = 0) {
  return make(ALU64 | K | static_cast<std::uint8_t>(o), dst.id, 0, off, imm);
}
constexpr Insn alu32(AluOp o, WReg dst, WReg src, std::int16_t off = 0) {
  return make(ALU | X | static_cast<std::uint8_t>(o), dst.id, src.id, off, 0);
}
constexpr Insn alu32(AluOp o, WReg dst, std::int32_t imm, std::int16_t off = 0) {
  return make(ALU | K | static_cast<std::uint8_t>(o), dst.id, 0, off, imm);
}

#define EBPF_ISA_ALU_(name, op, off)                                                                 \
  constexpr Insn name(Reg dst, Reg src) { return alu64(AluOp::op, dst, src, off); }                \
  constexpr Insn name(Reg dst, std::int32_t imm) { return alu64(AluOp::op, dst, imm, off); }       \
  constexpr Insn name(WReg dst, WReg src) { return alu32(AluOp::op, dst, src, off); }              \
  constexpr Insn name(WReg dst, std::int32_t imm) { return alu32(AluOp::op, dst, imm, off); }
EBPF_ISA_ALU_(add, add, 0)
EBPF_ISA_ALU_(sub, sub, 0)
EBPF_ISA_ALU_(mul, mul, 0)
EBPF_ISA_ALU_(div, div, 0)
EBPF_ISA_ALU_(sdiv, div, 1)
EBPF_ISA_ALU_(mod, mod, 0)
EBPF_ISA_ALU_(smod, mod, 1)
EBPF_ISA_ALU_(or_, or_, 0)
EBPF_ISA_ALU_(and_, and_, 0)
EBPF_ISA_ALU_(lsh, lsh, 0)
EBPF_ISA_ALU_(rsh, rsh, 0)
EBPF_ISA_ALU_(arsh, arsh, 0)
EBPF_ISA_ALU_(xor_, xor_, 0)
EBPF_ISA_ALU_(mov, mov, 0)
#undef EBPF_ISA_ALU_

constexpr Insn neg(Reg dst) { return alu64(AluOp::neg, dst, 0); }
constexpr Insn neg(WReg dst) { return alu32(AluOp::neg, dst, 0); }
// Sign-extending move of the low `bits` (8, 16 or 32; 32 only for the 64-bit form) of src.
constexpr Insn movsx(Reg dst, Reg src, int bits) { return alu64(AluOp::mov, dst, src, std::int16_t(bits)); }
constexpr Insn movsx(WReg dst, WReg src, int bits) { return alu32(AluOp::mov, dst, src, std::int16_t(bits)); }
// Byte order conversions of the low `bits` (16, 32, 64): to big/little endian, and unconditional swap.
constexpr Insn be(Reg dst, int bits) { return make(ALU | X | 0xd0, dst.id, 0, 0, bits); }
constexpr Insn le(Reg dst, int bits) { return make(ALU | K | 0xd0, dst.id, 0, 0, bits); }
constexpr Insn bswap(Reg dst, int bits) { return make(ALU64 | K | 0xd0, dst.id, 0, 0, bits); }

// --- loads and stores -------------------------------------------------------------------------------------
// dst = *(size *)(base + off)
constexpr Insn ldx(Size s, Reg dst, Reg base, std::int16_t off) {
  return make(LDX | MEM | static_cast<std::uint8_t>(s), dst.id, base.id, off, 0);
}
// dst = *(s8/s16/s32 *)(base + off), sign-extended to 64 bits.
constexpr Insn ldsx(Size s, Reg dst, Reg base, std::int16_t off) {
  return make(LDX | MEMSX | static_cast<std::uint8_t>(s), dst.id, base.id, off, 0);
}
// *(size *)(base + off) = src
constexpr Insn stx(Size s, Reg base, std::int16_t off, Reg src) {
  return make(STX | MEM | static_cast<std::uint8_t>(s), base.id, src.id, off, 0);
}
// *(size *)(base + off) = imm
constexpr Insn st(Size s, Reg base, std::int16_t off, std::int32_t imm) {
  return make(ST | MEM | static_cast<std::uint8_t>(s), base.id, 0, off, imm);
}
// Legacy packet loads (socket filters): r0 = ntoh(*(size *)(skb->data + imm)) / (+ src + imm).
constexpr Insn ld_abs(Size s, std::int32_t imm) { return make(LD | ABS | static_cast<std::uint8_t>(s), 0, 0, 0, imm); }
constexpr Insn ld_ind(Size s, Reg src, std::int32_t imm) { return make(LD | IND | static_cast<std::uint8_t>(s), 0, src.id, 0, imm); }

// --- atomics (STX | ATOMIC; size u32 or u64, load-acquire/store-release any size) --------------------------
constexpr Insn atomic(AtomicOp o, Size s, Reg base, std::int16_t off, Reg src) {
  return make(STX | ATOMIC | static_cast<std::uint8_t>(s), base.id, src.id, off, std::int32_t(o));
}
constexpr Insn atomic_add(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::add, s, base, off, src); }
constexpr Insn atomic_or(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::or_, s, base, off, src); }
constexpr Insn atomic_and(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::and_, s, base, off, src); }
constexpr Insn atomic_xor(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::xor_, s, base, off, src); }
// src = fetch-and-op(*(base + off), src): src receives the old value.
constexpr Insn atomic_fetch_add(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::fetch_add, s, base, off, src); }
constexpr Insn atomic_fetch_or(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::fetch_or, s, base, off, src); }
constexpr Insn atomic_fetch_and(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::fetch_and, s, base, off, src); }
constexpr Insn atomic_fetch_xor(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::fetch_xor, s, base, off, src); }
constexpr Insn xchg(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::xchg, s, base, off, src); }
// r0 = cmpxchg(*(base + off), expected r0, new src)
constexpr Insn cmpxchg(Size s, Reg base, std::int16_t off, Reg src) { return atomic(AtomicOp::cmpxchg, s, base, off, src); }
// dst = load_acquire(*(size *)(base + off)); note dst travels in the dst field and base in src.
constexpr Insn load_acquire(Size s, Reg dst, Reg base, std::int16_t off) {
  return make(STX | ATOMIC | static_cast<std::uint8_t>(s), dst.id, base.id, off, std::int32_t(AtomicOp::load_acquire));
}
constexpr Insn store_release(Size s, Reg base, std::int16_t off, Reg src) {
  return atomic(AtomicOp::store_release, s, base, off, src);
}

// --- 64-bit immediates (two slots) ------------------------------------------------------------------------
using Wide = std::array<Insn, 2>;
constexpr Wide ld_imm64_raw(Reg dst, Pseudo p, std::int32_t lo, std::int32_t hi) {
  return {make(LD | IMM | 0x18, dst.id, std::uint8_t(p), 0, lo), make(0, 0, 0, 0, hi)};
}
constexpr Wide ld_imm64(Reg dst, std::uint64_t v) {
  return ld_imm64_raw(dst, Pseudo::none, std::int32_t(std::uint32_t(v)), std::int32_t(std::uint32_t(v >> 32)));
}
constexpr Wide ld_map_fd(Reg dst, int fd) { return ld_imm64_raw(dst, Pseudo::map_fd, fd, 0); }
constexpr Wide ld_map_value(Reg dst, int fd, std::uint32_t off) {
  return ld_imm64_raw(dst, Pseudo::map_value, fd, std::int32_t(off));
}
// A kernel variable by BTF id; btf_fd selects a module's BTF (0: vmlinux).
constexpr Wide ld_btf_id(Reg dst, std::int32_t btf_id, int btf_fd = 0) { return ld_imm64_raw(dst, Pseudo::btf_id, btf_id, btf_fd); }
// Address of a subprogram at instruction offset `rel` from the next instruction (callbacks).
constexpr Wide ld_func(Reg dst, std::int32_t rel) { return ld_imm64_raw(dst, Pseudo::func, rel, 0); }
// Maps by index into the fd_array given at load time.
constexpr Wide ld_map_idx(Reg dst, std::int32_t idx) { return ld_imm64_raw(dst, Pseudo::map_idx, idx, 0); }
constexpr Wide ld_map_idx_value(Reg dst, std::int32_t idx, std::uint32_t off) {
  return ld_imm64_raw(dst, Pseudo::map_idx_value, idx, std::int32_t(off));
}

// --- jumps and calls --------------------------------------------------------------------------------------
// Offsets count instructions from the one after the jump.
constexpr Insn ja(std::int16_t off) { return make(JMP | 0x00, 0, 0, off, 0); }
constexpr Insn gotol(std::int32_t off) { return make(JMP32 | 0x00, 0, 0, 0, off); }
constexpr Insn may_goto(std::int16_t off) { return make(JMP | 0xe0, 0, 0, off, 0); }
constexpr Insn jmp(JmpOp o, Reg dst, Reg src, std::int16_t off) { return make(JMP | X | static_cast<std::uint8_t>(o), dst.id, src.id, off, 0); }
constexpr Insn jmp(JmpOp o, Reg dst, std::int32_t imm, std::int16_t off) { return make(JMP | K | static_cast<std::uint8_t>(o), dst.id, 0, off, imm); }
constexpr Insn jmp(JmpOp o, WReg dst, WReg src, std::int16_t off) { return make(JMP32 | X | static_cast<std::uint8_t>(o), dst.id, src.id, off, 0); }
constexpr Insn jmp(JmpOp o, WReg dst, std::int32_t imm, std::int16_t off) { return make(JMP32 | K | static_cast<std::uint8_t>(o), dst.id, 0, off, imm); }

#define EBPF_ISA_JMP_(name)                                                                                    \
  constexpr Insn name(Reg dst, Reg src, std::int16_t off) { return jmp(JmpOp::name, dst, src, off); }          \
  constexpr Insn name(Reg dst, std::int32_t imm, std::int16_t off) { return jmp(JmpOp::name, dst, imm, off); } \
  constexpr Insn name(WReg dst, WReg src, std::int16_t off) { return jmp(JmpOp::name, dst, src, off); }        \
  constexpr Insn name(WReg dst, std::int32_t imm, std::int16_t off) { return jmp(JmpOp::name, dst, imm, off); }
EBPF_ISA_JMP_(jeq)
EBPF_ISA_JMP_(jne)
EBPF_ISA_JMP_(jgt)
EBPF_ISA_JMP_(jge)
EBPF_ISA_JMP_(jlt)
EBPF_ISA_JMP_(jle)
EBPF_ISA_JMP_(jsgt)
EBPF_ISA_JMP_(jsge)
EBPF_ISA_JMP_(jslt)
EBPF_ISA_JMP_(jsle)
EBPF_ISA_JMP_(jset)
#undef EBPF_ISA_JMP_

constexpr Insn call_helper(std::int32_t id) { return make(JMP | 0x80, 0, 0, 0, id); }
// bpf-to-bpf call; rel counts from the instruction after the call.
constexpr Insn call_local(std::int32_t rel) { return make(JMP | 0x80, 0, 1, 0, rel); }
// Kernel function by BTF id; off selects the module BTF in fd_array (0: vmlinux).
constexpr Insn call_kfunc(std::int32_t btf_id, std::int16_t btf_fd_idx = 0) { return make(JMP | 0x80, 0, 2, btf_fd_idx, btf_id); }
constexpr Insn exit() { return make(JMP | 0x90, 0, 0, 0, 0); }

// --- validation -------------------------------------------------------------------------------------------
// Why `i` is not a defined instruction, or "" when it is. `next` is the following slot (for LD_IMM64; pass
// nullptr when there is none). Checks opcode, register numbers, and that unused fields are zero.
constexpr std::string_view check(const Insn& i, const Insn* next);

// Number of slots the instruction starting with `i` occupies (2 for LD_IMM64).
constexpr int slots(const Insn& i) { return is_ld_imm64(i) ? 2 : 1; }

// True for jumps whose off field is a pc-relative target (not call/exit, not gotol).
constexpr bool has_jump_offset(const Insn& i) {
  std::uint8_t c = cls(i.code), o = op(i.code);
  return (c == JMP || c == JMP32) && o != 0x80 && o != 0x90 && !(c == JMP32 && o == 0x00);
}

// --- validation, implementation ---------------------------------------------------------------------------
namespace check_detail {
constexpr bool reg(std::uint8_t r) { return r <= 10; }

constexpr std::string_view alu(const Insn& i) {
  const bool is64 = cls(i.code) == ALU64, x = uses_reg_source(i.code);
  const std::uint8_t o = op(i.code);
  if (o == 0xd0) {  // byte order: ALU has a be/le flag in the source bit, ALU64 (bswap) has none
    if (is64 && x) return "bswap has no source flag";
    if (i.src != 0 || i.off != 0) return "byte swap uses reserved fields";
    if (i.imm != 16 && i.imm != 32 && i.imm != 64) return "byte swap width must be 16, 32 or 64";
    return {};
  }
  if (o > 0xd0) return "unknown ALU operation";
  if (o == 0x80) {
    if (x || i.src != 0 || i.off != 0 || i.imm != 0) return "neg uses reserved fields";
    return {};
  }
  if (x && !reg(i.src)) return "source register out of range";
  if (x && i.imm != 0) return "register-source ALU operation has a non-zero immediate";
  if (!x && i.src != 0) return "immediate ALU operation has a non-zero source register";
  if (o == 0x30 || o == 0x90) {
    if (i.off != 0 && i.off != 1) return "div/mod offset must be 0 (unsigned) or 1 (signed)";
  } else if (o == 0xb0 && x) {
    if (i.off != 0 && i.off != 8 && i.off != 16 && !(is64 && i.off == 32))
      return is64 ? "movsx width must be 8, 16 or 32" : "32-bit movsx width must be 8 or 16";
  } else if (i.off != 0) {
    return "ALU operation has a non-zero offset";
  }
  return {};
}

constexpr std::string_view atomic(const Insn& i) {
  const Size s = size(i.code);
  switch (static_cast<AtomicOp>(i.imm)) {
    case AtomicOp::load_acquire:
    case AtomicOp::store_release: return {};
    case AtomicOp::add: case AtomicOp::or_: case AtomicOp::and_: case AtomicOp::xor_:
    case AtomicOp::fetch_add: case AtomicOp::fetch_or: case AtomicOp::fetch_and: case AtomicOp::fetch_xor:
    case AtomicOp::xchg: case AtomicOp::cmpxchg:
      if (s != Size::u32 && s != Size::u64) return "atomic read-modify-write needs size u32 or u64";
      return {};
  }
  return "unknown atomic operation";
}

constexpr std::string_view memory(const Insn& i) {
  const std::uint8_t c = cls(i.code), m = mode(i.code);
  if (c != ST && !reg(i.src)) return "source register out of range";
  if (c == LDX) {
    if (m == MEMSX && size(i.code) == Size::u64) return "sign-extending load of u64 does not exist";
    if (m != MEM && m != MEMSX) return "unknown LDX mode";
    return i.imm != 0 ? "load has a non-zero immediate" : "";
  }
  if (c == ST) {
    if (m != MEM) return "unknown ST mode";
    return i.src != 0 ? "store of an immediate has a non-zero source register" : "";
  }
  if (m == ATOMIC) return atomic(i);
  if (m != MEM) return "unknown STX mode";
  return i.imm != 0 ? "store has a non-zero immediate" : "";
}

constexpr std::string_view ld(const Insn& i, const Insn* next) {
  const std::uint8_t m = mode(i.code);
  if (m == ABS || m == IND) {
    if (size(i.code) == Size::u64) return "legacy packet load of u64 does not exist";
    if (i.dst != 0 || i.off != 0 || (m == ABS && i.src != 0)) return "legacy packet load uses reserved fields";
    return reg(i.src) ? "" : "source register out of range";
  }
  if (m != IMM || size(i.code) != Size::u64) return "unknown LD opcode";
  if (i.src > 6) return "unknown LD_IMM64 pseudo source";
  if (i.off != 0) return "LD_IMM64 has a non-zero offset";
  if (next == nullptr) return "LD_IMM64 is missing its second slot";
  if (next->code != 0 || next->dst != 0 || next->src != 0 || next->off != 0)
    return "LD_IMM64 second slot uses reserved fields";
  const auto p = static_cast<Pseudo>(i.src);
  if ((p == Pseudo::map_fd || p == Pseudo::func || p == Pseudo::map_idx) && next->imm != 0)
    return "LD_IMM64 pseudo load has a non-zero upper immediate";
  return {};
}

constexpr std::string_view jump(const Insn& i) {
  const bool j32 = cls(i.code) == JMP32, x = uses_reg_source(i.code);
  const std::uint8_t o = op(i.code);
  if (o == 0x00) {
    if (x || i.dst != 0 || i.src != 0) return "goto uses reserved fields";
    if (j32 ? i.off != 0 : i.imm != 0) return j32 ? "gotol has a non-zero offset" : "goto has a non-zero immediate";
    return {};
  }
  if (o == 0x80 || o == 0x90 || o == 0xe0) {
    if (j32) return "call, exit and may_goto exist only in the JMP class";
    if (x || i.dst != 0) return "call/exit/may_goto uses reserved fields";
    if (o == 0x90) return (i.src || i.off || i.imm) ? "exit uses reserved fields" : "";
    if (o == 0xe0) return (i.src || i.imm) ? "unknown conditional pseudo jump (only may_goto)" : "";
    if (i.src > 2) return "unknown call kind";
    return (i.src != 2 && i.off != 0) ? "call has a non-zero offset" : "";
  }
  if (o == 0xf0) return "unknown jump operation";
  if (x && !reg(i.src)) return "source register out of range";
  if (x && i.imm != 0) return "register comparison has a non-zero immediate";
  if (!x && i.src != 0) return "immediate comparison has a non-zero source register";
  return {};
}
}  // namespace check_detail

constexpr std::string_view check(const Insn& i, const Insn* next) {
  if (!check_detail::reg(i.dst)) return "destination register out of range";
  switch (cls(i.code)) {
    case ALU: case ALU64: return check_detail::alu(i);
    case LDX: case ST: case STX: return check_detail::memory(i);
    case LD: return check_detail::ld(i, next);
    default: return check_detail::jump(i);
  }
}

}  // namespace ebpf::isa
