// Checksum building blocks (see ebpf/dsl/checksum.hpp for byte order and the register contracts).
#include "ebpf/dsl/checksum.hpp"

#include <string>
#include <vector>

#include "ebpf/helpers.hpp"
#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

using detail::local_label;

// sum = ~HC (the 16-bit checksum at base + off, complemented); with opts.udp jumps to `skip` when HC is 0.
void load_complemented(Assembler& a, Reg base, std::int16_t off, Reg sum, const CsumOptions& opts,
                       const std::string& skip) {
  a.ldx(H, sum, base, off);
  if (opts.udp) a.jeq(sum, 0, skip);
  a.xor_(sum, 0xffff);
}

// HC' = ~fold(sum), stored at base + off; with opts.udp a result of 0 is written as 0xffff.
void store_complemented(Assembler& a, Reg base, std::int16_t off, const CsumScratch& s, const CsumOptions& opts,
                        const std::string& skip) {
  csum_fold(a, s.sum, s.tmp);
  a.xor_(s.sum, 0xffff);
  if (opts.udp) {
    const std::string store = skip + "_store";
    a.jne(s.sum, 0, store).mov(s.sum, 0xffff).label(store);
  }
  a.stx(H, base, off, s.sum);
  if (opts.udp) a.label(skip);
}

// sum += ~word(ptr + off) where word is 32 bits: ~ of the whole word equals ~ of each 16-bit half.
void add_complement32(Assembler& a, Reg sum, Reg tmp, Reg ptr, std::int16_t off) {
  a.ldx(W, tmp, ptr, off).xor_(WReg{tmp.id}, -1).add(sum, tmp);
}
}  // namespace

Assembler& csum_fold(Assembler& a, Reg sum, Reg tmp) {
  // Three folds bring any sum below 2^40 to 0..0xffff: < 2^24 + 2^16, then < 2^16 + 2^8, then <= 0xffff.
  for (int i = 0; i < 3; ++i) a.mov(tmp, sum).rsh(tmp, 16).and_(sum, 0xffff).add(sum, tmp);
  return a;
}

Assembler& csum_replace2(Assembler& a, Reg base, std::int16_t off, Reg from, Reg to, const CsumScratch& s,
                         const CsumOptions& opts) {
  const std::string skip = local_label(a, "csum_r2_skip");
  load_complemented(a, base, off, s.sum, opts, skip);
  a.mov(s.tmp, from).xor_(s.tmp, 0xffff).add(s.sum, s.tmp).add(s.sum, to);  // + ~m + m'
  store_complemented(a, base, off, s, opts, skip);
  return a;
}

Assembler& csum_replace4(Assembler& a, Reg base, std::int16_t off, Reg from, Reg to, const CsumScratch& s,
                         const CsumOptions& opts) {
  const std::string skip = local_label(a, "csum_r4_skip");
  load_complemented(a, base, off, s.sum, opts, skip);
  // A 32-bit mov/xor zero-extends: tmp = ~from as a 32-bit value, i.e. both 16-bit halves complemented.
  a.mov(WReg{s.tmp.id}, WReg{from.id}).xor_(WReg{s.tmp.id}, -1).add(s.sum, s.tmp).add(s.sum, to);
  store_complemented(a, base, off, s, opts, skip);
  return a;
}

Assembler& csum_replace16(Assembler& a, Reg base, std::int16_t off, Memory16 from, Memory16 to,
                          const CsumScratch& s, const CsumOptions& opts) {
  const std::string skip = local_label(a, "csum_r16_skip");
  load_complemented(a, base, off, s.sum, opts, skip);
  for (std::int16_t word = 0; word < 16; word += 4) {
    add_complement32(a, s.sum, s.tmp, from.ptr, static_cast<std::int16_t>(from.off + word));
    a.ldx(W, s.tmp, to.ptr, static_cast<std::int16_t>(to.off + word)).add(s.sum, s.tmp);
  }
  store_complemented(a, base, off, s, opts, skip);
  return a;
}

// --- helper calls ------------------------------------------------------------------------------------------

namespace {
// One pending register-to-register move of a helper argument: dst = src (+ off when `address`).
struct Move {
  Reg dst;
  Reg src;
  std::int16_t off = 0;
  bool address = false;
};

void emit_move(Assembler& a, const Move& m) {
  if (m.dst != m.src) a.mov(m.dst, m.src);
  if (m.address) a.add(m.dst, m.off);
}

bool is_source(const std::vector<Move>& moves, Reg r, std::size_t except) {
  for (std::size_t i = 0; i < moves.size(); ++i)
    if (i != except && moves[i].src == r) return true;
  return false;
}

void replace_source(std::vector<Move>& moves, Reg from, Reg to) {
  for (Move& m : moves)
    if (m.src == from) m.src = to;
}

// Emits the register moves so that no argument register is overwritten before it has been read. A cycle
// (r1 <-> r2) is broken through r0, which the call clobbers anyway; when r0 is itself still an argument, by an
// xor swap (scalars only: the verifier refuses xor on pointers).
void parallel_move(Assembler& a, std::vector<Move> moves) {
  while (!moves.empty()) {
    bool progressed = false;
    for (std::size_t i = 0; i < moves.size(); ++i) {
      if (is_source(moves, moves[i].dst, i)) continue;
      emit_move(a, moves[i]);
      moves.erase(moves.begin() + static_cast<std::ptrdiff_t>(i));
      progressed = true;
      break;
    }
    if (progressed) continue;
    Move& m = moves.front();  // every destination is still needed as a source: a cycle
    if (!is_source(moves, r0, moves.size())) {
      a.mov(r0, m.dst);
      replace_source(moves, m.dst, r0);
    } else {
      a.xor_(m.dst, m.src).xor_(m.src, m.dst).xor_(m.dst, m.src);  // swap: dst has src's value, src dst's
      const Reg freed = m.src;
      const Move done = m;
      moves.erase(moves.begin());
      if (done.address) a.add(done.dst, done.off);
      replace_source(moves, done.dst, freed);
    }
  }
}
}  // namespace

Assembler& load_args(Assembler& a, std::uint8_t first, std::initializer_list<Operand> args) {
  if (first < 1 || args.size() + first > 6) {
    // Helpers take at most five arguments. Builder calls cannot fail on their own, so emit a mov to the
    // non-existent r11: Assembler::finish() then reports an invalid register at this instruction.
    return a.emit(isa::make(ALU64 | K | static_cast<std::uint8_t>(AluOp::mov), 11, 0, 0, 0));
  }
  std::vector<Move> moves;
  std::vector<std::pair<Reg, std::int32_t>> immediates;
  std::uint8_t slot = first;
  for (const Operand& arg : args) {
    const Reg dst{slot++};
    if (const auto* r = std::get_if<Reg>(&arg)) {
      if (*r != dst) moves.push_back({dst, *r});
    } else if (const auto* addr = std::get_if<Address>(&arg)) {
      moves.push_back({dst, addr->base, addr->off, true});
    } else {
      immediates.emplace_back(dst, std::get<std::int32_t>(arg));
    }
  }
  parallel_move(a, std::move(moves));
  for (const auto& [dst, imm] : immediates) a.mov(dst, imm);
  return a;
}

Assembler& call_with(Assembler& a, std::int32_t id, std::initializer_list<Operand> args) {
  return load_args(a, 1, args).call_helper(id);
}

Assembler& l3_csum_replace(Assembler& a, Operand skb, Operand offset, Operand from, Operand to, Operand flags) {
  return call_with(a, helper::l3_csum_replace, {skb, offset, from, to, flags});
}

Assembler& l4_csum_replace(Assembler& a, Operand skb, Operand offset, Operand from, Operand to, Operand flags) {
  return call_with(a, helper::l4_csum_replace, {skb, offset, from, to, flags});
}

Assembler& csum_diff(Assembler& a, Operand from, Operand from_size, Operand to, Operand to_size, Operand seed) {
  return call_with(a, helper::csum_diff, {from, from_size, to, to_size, seed});
}

Assembler& skb_store_bytes(Assembler& a, Operand skb, Operand offset, Operand from, Operand len, Operand flags) {
  return call_with(a, helper::skb_store_bytes, {skb, offset, from, len, flags});
}

}  // namespace ebpf::dsl
