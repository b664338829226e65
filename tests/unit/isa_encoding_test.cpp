// Encoding of every instruction form, checked against bytes derived from the RFC 9669 opcode tables, and the
// validator's verdict on encodings that are not instructions.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "ebpf/disasm.hpp"
#include "ebpf/helpers.hpp"
#include "ebpf/isa.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

std::string hex(const Insn& i) {
  unsigned char b[8];
  std::memcpy(b, &i, 8);
  std::string out;
  for (int k = 0; k < 8; ++k) {
    char buf[4];
    std::snprintf(buf, sizeof buf, k ? " %02x" : "%02x", b[k]);
    out += buf;
  }
  return out;
}

struct Case {
  Insn insn;
  const char* bytes;
  const char* text;
};

// {encoder call, little-endian bytes, disassembly}
const Case kCases[] = {
    {isa::add(r1, 7), "07 01 00 00 07 00 00 00", "r1 += 7"},
    {isa::add(r2, r3), "0f 32 00 00 00 00 00 00", "r2 += r3"},
    {isa::add(w4, -2), "04 04 00 00 fe ff ff ff", "w4 += -2"},
    {isa::add(w5, w6), "0c 65 00 00 00 00 00 00", "w5 += w6"},
    {isa::sub(r1, 7), "17 01 00 00 07 00 00 00", "r1 -= 7"},
    {isa::sub(r2, r3), "1f 32 00 00 00 00 00 00", "r2 -= r3"},
    {isa::sub(w4, -2), "14 04 00 00 fe ff ff ff", "w4 -= -2"},
    {isa::sub(w5, w6), "1c 65 00 00 00 00 00 00", "w5 -= w6"},
    {isa::mul(r1, 7), "27 01 00 00 07 00 00 00", "r1 *= 7"},
    {isa::mul(r2, r3), "2f 32 00 00 00 00 00 00", "r2 *= r3"},
    {isa::mul(w4, -2), "24 04 00 00 fe ff ff ff", "w4 *= -2"},
    {isa::mul(w5, w6), "2c 65 00 00 00 00 00 00", "w5 *= w6"},
    {isa::div(r1, 7), "37 01 00 00 07 00 00 00", "r1 /= 7"},
    {isa::div(r2, r3), "3f 32 00 00 00 00 00 00", "r2 /= r3"},
    {isa::div(w4, -2), "34 04 00 00 fe ff ff ff", "w4 /= -2"},
    {isa::div(w5, w6), "3c 65 00 00 00 00 00 00", "w5 /= w6"},
    {isa::or_(r1, 7), "47 01 00 00 07 00 00 00", "r1 |= 7"},
    {isa::or_(r2, r3), "4f 32 00 00 00 00 00 00", "r2 |= r3"},
    {isa::or_(w4, -2), "44 04 00 00 fe ff ff ff", "w4 |= -2"},
    {isa::or_(w5, w6), "4c 65 00 00 00 00 00 00", "w5 |= w6"},
    {isa::and_(r1, 7), "57 01 00 00 07 00 00 00", "r1 &= 7"},
    {isa::and_(r2, r3), "5f 32 00 00 00 00 00 00", "r2 &= r3"},
    {isa::and_(w4, -2), "54 04 00 00 fe ff ff ff", "w4 &= -2"},
    {isa::and_(w5, w6), "5c 65 00 00 00 00 00 00", "w5 &= w6"},
    {isa::lsh(r1, 7), "67 01 00 00 07 00 00 00", "r1 <<= 7"},
    {isa::lsh(r2, r3), "6f 32 00 00 00 00 00 00", "r2 <<= r3"},
    {isa::lsh(w4, -2), "64 04 00 00 fe ff ff ff", "w4 <<= -2"},
    {isa::lsh(w5, w6), "6c 65 00 00 00 00 00 00", "w5 <<= w6"},
    {isa::rsh(r1, 7), "77 01 00 00 07 00 00 00", "r1 >>= 7"},
    {isa::rsh(r2, r3), "7f 32 00 00 00 00 00 00", "r2 >>= r3"},
    {isa::rsh(w4, -2), "74 04 00 00 fe ff ff ff", "w4 >>= -2"},
    {isa::rsh(w5, w6), "7c 65 00 00 00 00 00 00", "w5 >>= w6"},
    {isa::mod(r1, 7), "97 01 00 00 07 00 00 00", "r1 %= 7"},
    {isa::mod(r2, r3), "9f 32 00 00 00 00 00 00", "r2 %= r3"},
    {isa::mod(w4, -2), "94 04 00 00 fe ff ff ff", "w4 %= -2"},
    {isa::mod(w5, w6), "9c 65 00 00 00 00 00 00", "w5 %= w6"},
    {isa::xor_(r1, 7), "a7 01 00 00 07 00 00 00", "r1 ^= 7"},
    {isa::xor_(r2, r3), "af 32 00 00 00 00 00 00", "r2 ^= r3"},
    {isa::xor_(w4, -2), "a4 04 00 00 fe ff ff ff", "w4 ^= -2"},
    {isa::xor_(w5, w6), "ac 65 00 00 00 00 00 00", "w5 ^= w6"},
    {isa::mov(r1, 7), "b7 01 00 00 07 00 00 00", "r1 = 7"},
    {isa::mov(r2, r3), "bf 32 00 00 00 00 00 00", "r2 = r3"},
    {isa::mov(w4, -2), "b4 04 00 00 fe ff ff ff", "w4 = -2"},
    {isa::mov(w5, w6), "bc 65 00 00 00 00 00 00", "w5 = w6"},
    {isa::arsh(r1, 7), "c7 01 00 00 07 00 00 00", "r1 s>>= 7"},
    {isa::arsh(r2, r3), "cf 32 00 00 00 00 00 00", "r2 s>>= r3"},
    {isa::arsh(w4, -2), "c4 04 00 00 fe ff ff ff", "w4 s>>= -2"},
    {isa::arsh(w5, w6), "cc 65 00 00 00 00 00 00", "w5 s>>= w6"},
    {isa::sdiv(r1, 7), "37 01 01 00 07 00 00 00", "r1 s/= 7"},
    {isa::sdiv(r2, r3), "3f 32 01 00 00 00 00 00", "r2 s/= r3"},
    {isa::sdiv(w4, -2), "34 04 01 00 fe ff ff ff", "w4 s/= -2"},
    {isa::sdiv(w5, w6), "3c 65 01 00 00 00 00 00", "w5 s/= w6"},
    {isa::smod(r1, 7), "97 01 01 00 07 00 00 00", "r1 s%= 7"},
    {isa::smod(r2, r3), "9f 32 01 00 00 00 00 00", "r2 s%= r3"},
    {isa::smod(w4, -2), "94 04 01 00 fe ff ff ff", "w4 s%= -2"},
    {isa::smod(w5, w6), "9c 65 01 00 00 00 00 00", "w5 s%= w6"},
    {isa::neg(r7), "87 07 00 00 00 00 00 00", "r7 = -r7"},
    {isa::neg(w7), "84 07 00 00 00 00 00 00", "w7 = -w7"},
    {isa::movsx(r1, r2, 8), "bf 21 08 00 00 00 00 00", "r1 = (s8)r2"},
    {isa::movsx(r1, r2, 16), "bf 21 10 00 00 00 00 00", "r1 = (s16)r2"},
    {isa::movsx(r1, r2, 32), "bf 21 20 00 00 00 00 00", "r1 = (s32)r2"},
    {isa::movsx(w1, w2, 8), "bc 21 08 00 00 00 00 00", "w1 = (s8)w2"},
    {isa::movsx(w1, w2, 16), "bc 21 10 00 00 00 00 00", "w1 = (s16)w2"},
    {isa::le(r3, 16), "d4 03 00 00 10 00 00 00", "r3 = le16 r3"},
    {isa::be(r3, 16), "dc 03 00 00 10 00 00 00", "r3 = be16 r3"},
    {isa::bswap(r3, 16), "d7 03 00 00 10 00 00 00", "r3 = bswap16 r3"},
    {isa::le(r3, 32), "d4 03 00 00 20 00 00 00", "r3 = le32 r3"},
    {isa::be(r3, 32), "dc 03 00 00 20 00 00 00", "r3 = be32 r3"},
    {isa::bswap(r3, 32), "d7 03 00 00 20 00 00 00", "r3 = bswap32 r3"},
    {isa::le(r3, 64), "d4 03 00 00 40 00 00 00", "r3 = le64 r3"},
    {isa::be(r3, 64), "dc 03 00 00 40 00 00 00", "r3 = be64 r3"},
    {isa::bswap(r3, 64), "d7 03 00 00 40 00 00 00", "r3 = bswap64 r3"},
    {isa::ldx(B, r0, r1, 4), "71 10 04 00 00 00 00 00", "r0 = *(u8 *)(r1 + 4)"},
    {isa::ldsx(B, r0, r10, -8), "91 a0 f8 ff 00 00 00 00", "r0 = *(s8 *)(r10 - 8)"},
    {isa::stx(B, r10, -8, r2), "73 2a f8 ff 00 00 00 00", "*(u8 *)(r10 - 8) = r2"},
    {isa::st(B, r1, 2, -5), "72 01 02 00 fb ff ff ff", "*(u8 *)(r1 + 2) = -5"},
    {isa::ld_abs(B, 12), "30 00 00 00 0c 00 00 00", "r0 = *(u8 *)skb[12]"},
    {isa::ld_ind(B, r6, 4), "50 60 00 00 04 00 00 00", "r0 = *(u8 *)skb[r6 + 4]"},
    {isa::load_acquire(B, r0, r1, 8), "d3 10 08 00 00 01 00 00", "w0 = load_acquire((u8 *)(r1 + 8))"},
    {isa::store_release(B, r1, 8, r2), "d3 21 08 00 10 01 00 00", "store_release((u8 *)(r1 + 8), w2)"},
    {isa::ldx(H, r0, r1, 4), "69 10 04 00 00 00 00 00", "r0 = *(u16 *)(r1 + 4)"},
    {isa::ldsx(H, r0, r10, -8), "89 a0 f8 ff 00 00 00 00", "r0 = *(s16 *)(r10 - 8)"},
    {isa::stx(H, r10, -8, r2), "6b 2a f8 ff 00 00 00 00", "*(u16 *)(r10 - 8) = r2"},
    {isa::st(H, r1, 2, -5), "6a 01 02 00 fb ff ff ff", "*(u16 *)(r1 + 2) = -5"},
    {isa::ld_abs(H, 12), "28 00 00 00 0c 00 00 00", "r0 = *(u16 *)skb[12]"},
    {isa::ld_ind(H, r6, 4), "48 60 00 00 04 00 00 00", "r0 = *(u16 *)skb[r6 + 4]"},
    {isa::load_acquire(H, r0, r1, 8), "cb 10 08 00 00 01 00 00", "w0 = load_acquire((u16 *)(r1 + 8))"},
    {isa::store_release(H, r1, 8, r2), "cb 21 08 00 10 01 00 00", "store_release((u16 *)(r1 + 8), w2)"},
    {isa::ldx(W, r0, r1, 4), "61 10 04 00 00 00 00 00", "r0 = *(u32 *)(r1 + 4)"},
    {isa::ldsx(W, r0, r10, -8), "81 a0 f8 ff 00 00 00 00", "r0 = *(s32 *)(r10 - 8)"},
    {isa::stx(W, r10, -8, r2), "63 2a f8 ff 00 00 00 00", "*(u32 *)(r10 - 8) = r2"},
    {isa::st(W, r1, 2, -5), "62 01 02 00 fb ff ff ff", "*(u32 *)(r1 + 2) = -5"},
    {isa::ld_abs(W, 12), "20 00 00 00 0c 00 00 00", "r0 = *(u32 *)skb[12]"},
    {isa::ld_ind(W, r6, 4), "40 60 00 00 04 00 00 00", "r0 = *(u32 *)skb[r6 + 4]"},
    {isa::load_acquire(W, r0, r1, 8), "c3 10 08 00 00 01 00 00", "w0 = load_acquire((u32 *)(r1 + 8))"},
    {isa::store_release(W, r1, 8, r2), "c3 21 08 00 10 01 00 00", "store_release((u32 *)(r1 + 8), w2)"},
    {isa::ldx(DW, r0, r1, 4), "79 10 04 00 00 00 00 00", "r0 = *(u64 *)(r1 + 4)"},
    {isa::stx(DW, r10, -8, r2), "7b 2a f8 ff 00 00 00 00", "*(u64 *)(r10 - 8) = r2"},
    {isa::st(DW, r1, 2, -5), "7a 01 02 00 fb ff ff ff", "*(u64 *)(r1 + 2) = -5"},
    {isa::load_acquire(DW, r0, r1, 8), "db 10 08 00 00 01 00 00", "r0 = load_acquire((u64 *)(r1 + 8))"},
    {isa::store_release(DW, r1, 8, r2), "db 21 08 00 10 01 00 00", "store_release((u64 *)(r1 + 8), r2)"},
    {isa::atomic_add(W, r1, 0, r2), "c3 21 00 00 00 00 00 00", "lock *(u32 *)(r1 + 0) += w2"},
    {isa::atomic_fetch_add(W, r1, -4, r2), "c3 21 fc ff 01 00 00 00", "w2 = atomic_fetch_add((u32 *)(r1 - 4), w2)"},
    {isa::atomic_or(W, r1, 0, r2), "c3 21 00 00 40 00 00 00", "lock *(u32 *)(r1 + 0) |= w2"},
    {isa::atomic_fetch_or(W, r1, -4, r2), "c3 21 fc ff 41 00 00 00", "w2 = atomic_fetch_or((u32 *)(r1 - 4), w2)"},
    {isa::atomic_and(W, r1, 0, r2), "c3 21 00 00 50 00 00 00", "lock *(u32 *)(r1 + 0) &= w2"},
    {isa::atomic_fetch_and(W, r1, -4, r2), "c3 21 fc ff 51 00 00 00", "w2 = atomic_fetch_and((u32 *)(r1 - 4), w2)"},
    {isa::atomic_xor(W, r1, 0, r2), "c3 21 00 00 a0 00 00 00", "lock *(u32 *)(r1 + 0) ^= w2"},
    {isa::atomic_fetch_xor(W, r1, -4, r2), "c3 21 fc ff a1 00 00 00", "w2 = atomic_fetch_xor((u32 *)(r1 - 4), w2)"},
    {isa::xchg(W, r1, 0, r3), "c3 31 00 00 e1 00 00 00", "w3 = xchg32_32(r1 + 0, w3)"},
    {isa::cmpxchg(W, r1, 0, r3), "c3 31 00 00 f1 00 00 00", "w0 = cmpxchg32_32(r1 + 0, w0, w3)"},
    {isa::atomic_add(DW, r1, 0, r2), "db 21 00 00 00 00 00 00", "lock *(u64 *)(r1 + 0) += r2"},
    {isa::atomic_fetch_add(DW, r1, -4, r2), "db 21 fc ff 01 00 00 00", "r2 = atomic_fetch_add((u64 *)(r1 - 4), r2)"},
    {isa::atomic_or(DW, r1, 0, r2), "db 21 00 00 40 00 00 00", "lock *(u64 *)(r1 + 0) |= r2"},
    {isa::atomic_fetch_or(DW, r1, -4, r2), "db 21 fc ff 41 00 00 00", "r2 = atomic_fetch_or((u64 *)(r1 - 4), r2)"},
    {isa::atomic_and(DW, r1, 0, r2), "db 21 00 00 50 00 00 00", "lock *(u64 *)(r1 + 0) &= r2"},
    {isa::atomic_fetch_and(DW, r1, -4, r2), "db 21 fc ff 51 00 00 00", "r2 = atomic_fetch_and((u64 *)(r1 - 4), r2)"},
    {isa::atomic_xor(DW, r1, 0, r2), "db 21 00 00 a0 00 00 00", "lock *(u64 *)(r1 + 0) ^= r2"},
    {isa::atomic_fetch_xor(DW, r1, -4, r2), "db 21 fc ff a1 00 00 00", "r2 = atomic_fetch_xor((u64 *)(r1 - 4), r2)"},
    {isa::xchg(DW, r1, 0, r3), "db 31 00 00 e1 00 00 00", "r3 = xchg_64(r1 + 0, r3)"},
    {isa::cmpxchg(DW, r1, 0, r3), "db 31 00 00 f1 00 00 00", "r0 = cmpxchg_64(r1 + 0, r0, r3)"},
    {isa::jeq(r1, 5, 3), "15 01 03 00 05 00 00 00", "if r1 == 0x5 goto +3"},
    {isa::jeq(r1, r2, -3), "1d 21 fd ff 00 00 00 00", "if r1 == r2 goto -3"},
    {isa::jeq(w1, -1, 1), "16 01 01 00 ff ff ff ff", "if w1 == -1 goto +1"},
    {isa::jeq(w1, w9, 0), "1e 91 00 00 00 00 00 00", "if w1 == w9 goto +0"},
    {isa::jgt(r1, 5, 3), "25 01 03 00 05 00 00 00", "if r1 > 0x5 goto +3"},
    {isa::jgt(r1, r2, -3), "2d 21 fd ff 00 00 00 00", "if r1 > r2 goto -3"},
    {isa::jgt(w1, -1, 1), "26 01 01 00 ff ff ff ff", "if w1 > -1 goto +1"},
    {isa::jgt(w1, w9, 0), "2e 91 00 00 00 00 00 00", "if w1 > w9 goto +0"},
    {isa::jge(r1, 5, 3), "35 01 03 00 05 00 00 00", "if r1 >= 0x5 goto +3"},
    {isa::jge(r1, r2, -3), "3d 21 fd ff 00 00 00 00", "if r1 >= r2 goto -3"},
    {isa::jge(w1, -1, 1), "36 01 01 00 ff ff ff ff", "if w1 >= -1 goto +1"},
    {isa::jge(w1, w9, 0), "3e 91 00 00 00 00 00 00", "if w1 >= w9 goto +0"},
    {isa::jset(r1, 5, 3), "45 01 03 00 05 00 00 00", "if r1 & 0x5 goto +3"},
    {isa::jset(r1, r2, -3), "4d 21 fd ff 00 00 00 00", "if r1 & r2 goto -3"},
    {isa::jset(w1, -1, 1), "46 01 01 00 ff ff ff ff", "if w1 & -1 goto +1"},
    {isa::jset(w1, w9, 0), "4e 91 00 00 00 00 00 00", "if w1 & w9 goto +0"},
    {isa::jne(r1, 5, 3), "55 01 03 00 05 00 00 00", "if r1 != 0x5 goto +3"},
    {isa::jne(r1, r2, -3), "5d 21 fd ff 00 00 00 00", "if r1 != r2 goto -3"},
    {isa::jne(w1, -1, 1), "56 01 01 00 ff ff ff ff", "if w1 != -1 goto +1"},
    {isa::jne(w1, w9, 0), "5e 91 00 00 00 00 00 00", "if w1 != w9 goto +0"},
    {isa::jsgt(r1, 5, 3), "65 01 03 00 05 00 00 00", "if r1 s> 0x5 goto +3"},
    {isa::jsgt(r1, r2, -3), "6d 21 fd ff 00 00 00 00", "if r1 s> r2 goto -3"},
    {isa::jsgt(w1, -1, 1), "66 01 01 00 ff ff ff ff", "if w1 s> -1 goto +1"},
    {isa::jsgt(w1, w9, 0), "6e 91 00 00 00 00 00 00", "if w1 s> w9 goto +0"},
    {isa::jsge(r1, 5, 3), "75 01 03 00 05 00 00 00", "if r1 s>= 0x5 goto +3"},
    {isa::jsge(r1, r2, -3), "7d 21 fd ff 00 00 00 00", "if r1 s>= r2 goto -3"},
    {isa::jsge(w1, -1, 1), "76 01 01 00 ff ff ff ff", "if w1 s>= -1 goto +1"},
    {isa::jsge(w1, w9, 0), "7e 91 00 00 00 00 00 00", "if w1 s>= w9 goto +0"},
    {isa::jlt(r1, 5, 3), "a5 01 03 00 05 00 00 00", "if r1 < 0x5 goto +3"},
    {isa::jlt(r1, r2, -3), "ad 21 fd ff 00 00 00 00", "if r1 < r2 goto -3"},
    {isa::jlt(w1, -1, 1), "a6 01 01 00 ff ff ff ff", "if w1 < -1 goto +1"},
    {isa::jlt(w1, w9, 0), "ae 91 00 00 00 00 00 00", "if w1 < w9 goto +0"},
    {isa::jle(r1, 5, 3), "b5 01 03 00 05 00 00 00", "if r1 <= 0x5 goto +3"},
    {isa::jle(r1, r2, -3), "bd 21 fd ff 00 00 00 00", "if r1 <= r2 goto -3"},
    {isa::jle(w1, -1, 1), "b6 01 01 00 ff ff ff ff", "if w1 <= -1 goto +1"},
    {isa::jle(w1, w9, 0), "be 91 00 00 00 00 00 00", "if w1 <= w9 goto +0"},
    {isa::jslt(r1, 5, 3), "c5 01 03 00 05 00 00 00", "if r1 s< 0x5 goto +3"},
    {isa::jslt(r1, r2, -3), "cd 21 fd ff 00 00 00 00", "if r1 s< r2 goto -3"},
    {isa::jslt(w1, -1, 1), "c6 01 01 00 ff ff ff ff", "if w1 s< -1 goto +1"},
    {isa::jslt(w1, w9, 0), "ce 91 00 00 00 00 00 00", "if w1 s< w9 goto +0"},
    {isa::jsle(r1, 5, 3), "d5 01 03 00 05 00 00 00", "if r1 s<= 0x5 goto +3"},
    {isa::jsle(r1, r2, -3), "dd 21 fd ff 00 00 00 00", "if r1 s<= r2 goto -3"},
    {isa::jsle(w1, -1, 1), "d6 01 01 00 ff ff ff ff", "if w1 s<= -1 goto +1"},
    {isa::jsle(w1, w9, 0), "de 91 00 00 00 00 00 00", "if w1 s<= w9 goto +0"},
    {isa::ja(-1), "05 00 ff ff 00 00 00 00", "goto -1"},
    {isa::gotol(100000), "06 00 00 00 a0 86 01 00", "gotol +100000"},
    {isa::may_goto(2), "e5 00 02 00 00 00 00 00", "may_goto +2"},
    {isa::call_helper(helper::map_lookup_elem), "85 00 00 00 01 00 00 00", "call bpf_map_lookup_elem#1"},
    {isa::call_helper(999), "85 00 00 00 e7 03 00 00", "call 999"},
    {isa::call_local(5), "85 10 00 00 05 00 00 00", "call pc+5"},
    {isa::call_kfunc(4242), "85 20 00 00 92 10 00 00", "call kfunc#4242"},
    {isa::call_kfunc(4242, 3), "85 20 03 00 92 10 00 00", "call kfunc#4242@3"},
    {isa::exit(), "95 00 00 00 00 00 00 00", "exit"},
};

TEST(IsaEncoding, EveryFormMatchesSpecBytes) {
  for (const Case& c : kCases) EXPECT_EQ(hex(c.insn), c.bytes) << c.text;
}

TEST(IsaEncoding, EveryFormIsValid) {
  for (const Case& c : kCases) EXPECT_EQ(check(c.insn, nullptr), "") << c.text;
}

TEST(IsaEncoding, EveryFormDisassembles) {
  for (const Case& c : kCases) EXPECT_EQ(disassemble_one(c.insn), c.text) << c.bytes;
}

TEST(IsaEncoding, LdImm64AndPseudoSources) {
  auto imm = ld_imm64(r1, 0x1122334455667788ull);
  EXPECT_EQ(hex(imm[0]), "18 01 00 00 88 77 66 55");
  EXPECT_EQ(hex(imm[1]), "00 00 00 00 44 33 22 11");
  EXPECT_EQ(hex(ld_map_fd(r1, 5)[0]), "18 11 00 00 05 00 00 00");
  auto value = ld_map_value(r2, 6, 16);
  EXPECT_EQ(hex(value[0]), "18 22 00 00 06 00 00 00");
  EXPECT_EQ(hex(value[1]), "00 00 00 00 10 00 00 00");
  EXPECT_EQ(hex(ld_btf_id(r3, 77)[0]), "18 33 00 00 4d 00 00 00");
  EXPECT_EQ(hex(ld_func(r4, 9)[0]), "18 44 00 00 09 00 00 00");
  EXPECT_EQ(hex(ld_map_idx(r5, 2)[0]), "18 55 00 00 02 00 00 00");
  auto idx_value = ld_map_idx_value(r6, 3, 8);
  EXPECT_EQ(hex(idx_value[0]), "18 66 00 00 03 00 00 00");
  EXPECT_EQ(hex(idx_value[1]), "00 00 00 00 08 00 00 00");
  EXPECT_EQ(check(imm[0], &imm[1]), "");
  EXPECT_EQ(check(imm[0], nullptr), "LD_IMM64 is missing its second slot");
}

TEST(IsaEncoding, InvalidCombinationsAreRejected) {
  const Insn next = make(0, 0, 0, 0, 0);
  EXPECT_EQ(check(movsx(w1, w2, 32), nullptr), "32-bit movsx width must be 8 or 16");
  EXPECT_EQ(check(movsx(r1, r2, 4), nullptr), "movsx width must be 8, 16 or 32");
  EXPECT_EQ(check(alu64(AluOp::div, r1, r2, 2), nullptr), "div/mod offset must be 0 (unsigned) or 1 (signed)");
  EXPECT_EQ(check(alu64(AluOp::add, r1, r2, 1), nullptr), "ALU operation has a non-zero offset");
  EXPECT_EQ(check(be(r1, 8), nullptr), "byte swap width must be 16, 32 or 64");
  EXPECT_EQ(check(ldsx(DW, r0, r1, 0), nullptr), "sign-extending load of u64 does not exist");
  EXPECT_EQ(check(atomic_add(B, r1, 0, r2), nullptr), "atomic read-modify-write needs size u32 or u64");
  EXPECT_EQ(check(atomic(AtomicOp(0x20), W, r1, 0, r2), nullptr), "unknown atomic operation");
  EXPECT_EQ(check(ld_abs(DW, 0), nullptr), "legacy packet load of u64 does not exist");
  EXPECT_EQ(check(make(0xbf, 11, 0, 0, 0), nullptr), "destination register out of range");
  EXPECT_EQ(check(make(0xbf, 1, 12, 0, 0), nullptr), "source register out of range");
  EXPECT_EQ(check(make(0x85, 0, 3, 0, 1), nullptr), "unknown call kind");
  EXPECT_EQ(check(make(0x86, 0, 0, 0, 1), nullptr), "call, exit and may_goto exist only in the JMP class");
  EXPECT_EQ(check(make(0x95, 0, 0, 0, 1), nullptr), "exit uses reserved fields");
  EXPECT_EQ(check(make(0xf5, 1, 0, 0, 0), nullptr), "unknown jump operation");
  EXPECT_EQ(check(make(0xe4, 1, 0, 0, 0), nullptr), "unknown ALU operation");
  EXPECT_EQ(check(make(0x18, 1, 7, 0, 0), &next), "unknown LD_IMM64 pseudo source");
  EXPECT_EQ(check(make(0x07, 1, 2, 0, 5), nullptr), "immediate ALU operation has a non-zero source register");
  EXPECT_EQ(check(make(0x06, 0, 0, 5, 0), nullptr), "gotol has a non-zero offset");
  EXPECT_EQ(check(make(0xe5, 0, 1, 0, 0), nullptr), "unknown conditional pseudo jump (only may_goto)");
}

TEST(IsaEncoding, EncodersAreConstexpr) {
  static_assert(add(r1, 1).code == 0x07);
  static_assert(jeq(w1, w2, 4).code == 0x1e && jeq(w1, w2, 4).off == 4);
  static_assert(check(atomic_fetch_add(DW, r1, 0, r2), nullptr).empty());
  static_assert(!check(movsx(w1, w2, 32), nullptr).empty());
  SUCCEED();
}

TEST(Helpers, CatalogueCoversEveryId) {
  ASSERT_EQ(helpers().size(), 212u);
  EXPECT_EQ(helpers()[1].name, "map_lookup_elem");
  EXPECT_EQ(helpers()[1].ret, HelperRet::pointer);
  ASSERT_EQ(helpers()[1].arguments().size(), 2u);
  EXPECT_EQ(helpers()[1].arguments()[0], HelperArg::map);
  EXPECT_EQ(helpers()[12].name, "tail_call");
  EXPECT_EQ(helpers()[44].name, "xdp_adjust_head");
  EXPECT_EQ(helpers()[211].name, "cgrp_storage_delete");
  EXPECT_EQ(helper_by_name("bpf_ringbuf_output"), 130);
  EXPECT_EQ(helper_by_name("ringbuf_output"), 130);
  EXPECT_EQ(helper_by_name("no_such_helper"), std::nullopt);
  EXPECT_EQ(helper_info(212), nullptr);
  static_assert(*helper_by_name("map_update_elem") == helper::map_update_elem);
  for (std::size_t id = 1; id < helpers().size(); ++id) EXPECT_FALSE(helpers()[id].name.empty()) << id;
}

}  // namespace
