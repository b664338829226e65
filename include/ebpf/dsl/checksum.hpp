// ebpf/dsl/checksum.hpp — Internet checksum updates for programs built with ebpf::Assembler: incremental
// updates that need no helper (XDP, any program with direct packet access), and wrappers for the TC helpers
// bpf_l3_csum_replace, bpf_l4_csum_replace, bpf_csum_diff and bpf_skb_store_bytes.
//
// Incremental update (RFC 1624, eqn. 3): when a 16-bit word covered by a checksum HC changes from m to m',
// the new checksum is HC' = ~(~HC + ~m + m') in one's complement arithmetic; a 32-bit or 128-bit value is
// a sequence of 16-bit words.
//
// Byte order — nothing is ever swapped. Values are used exactly as `ldx` loads them from the packet: a 16-bit
// field loaded with ldx H, a 32-bit field with ldx W (on a little-endian machine the register then holds the
// network-order bytes reversed). A one's complement sum is independent of byte order as long as every word
// is read in the same order: summing byte-swapped words gives the byte-swapped sum. The checksum field is
// itself loaded with ldx H and stored back with stx H, so the arithmetic happens consistently "swapped" and
// the bytes that reach the packet are right. A 32-bit value loaded with ldx W splits into its two 16-bit
// halves exactly as two ldx H loads of the same bytes would, so 16- and 32-bit values mix freely. To use a
// host-order constant (e.g. a port from a map written by user space in host order), convert it first with
// `be(reg, 16)` / `be(reg, 32)`, which yields what ldx would have loaded from network-order bytes.
//
// Register contract of the incremental updates: `base` points at memory that holds the checksum at
// base + off (packet pointers must have been bounds-checked by the caller to cover the checksum and, for
// csum_replace16, both 16-byte addresses); `from` / `to` hold the old and new values zero-extended (as ldx
// leaves them) and are preserved; the two CsumScratch registers are clobbered and must differ from every
// other operand. No other register is touched and no helper is called.
//
// UDP: a UDP checksum of 0 means "no checksum" and must stay 0, and a computed 0 must be sent as 0xffff
// (RFC 768). CsumOptions{.udp = true} does both: it skips the update when the stored checksum is 0 and
// writes 0xffff instead of 0.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <variant>

#include "ebpf/assembler.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// Two registers the incremental updates may clobber (caller-chosen, e.g. ones free at that point).
struct CsumScratch {
  isa::Reg sum = isa::r0;
  isa::Reg tmp = isa::r1;
};

struct CsumOptions {
  bool udp = false;  // leave a 0 checksum alone and write a computed 0 as 0xffff (RFC 768)
};

// Checksum at [base + off] covers a 16-bit value that changed from `from` to `to` (as loaded by ldx H).
Assembler& csum_replace2(Assembler& a, isa::Reg base, std::int16_t off, isa::Reg from, isa::Reg to,
                         const CsumScratch& s, const CsumOptions& opts = {});

// Checksum at [base + off] covers a 32-bit value that changed from `from` to `to` (as loaded by ldx W).
Assembler& csum_replace4(Assembler& a, isa::Reg base, std::int16_t off, isa::Reg from, isa::Reg to,
                         const CsumScratch& s, const CsumOptions& opts = {});

// A 16-byte value (an IPv6 address) in memory: checksum at [base + off] covered the 16 bytes at
// [old_ptr + old_off] and now covers the 16 bytes at [new_ptr + new_off]. Either pointer may be a packet,
// stack or map value pointer; call this before overwriting the old bytes when they are the same memory.
struct Memory16 {
  isa::Reg ptr = isa::r10;
  std::int16_t off = 0;
};
Assembler& csum_replace16(Assembler& a, isa::Reg base, std::int16_t off, Memory16 from, Memory16 to,
                          const CsumScratch& s, const CsumOptions& opts = {});

// sum = one's complement sum folded to 16 bits (0..0xffff); sum holds any value below 2^40; tmp clobbered.
Assembler& csum_fold(Assembler& a, isa::Reg sum, isa::Reg tmp);

// --- TC helpers --------------------------------------------------------------------------------------------
// A helper argument: a register, an immediate (sign-extended to 64 bits) or an address base + off (e.g. a
// stack buffer: Address{isa::r10, -16}).
struct Address {
  isa::Reg base = isa::r10;
  std::int16_t off = 0;
};
using Operand = std::variant<isa::Reg, std::int32_t, Address>;

// Flags of bpf_l3_csum_replace / bpf_l4_csum_replace / bpf_skb_store_bytes (UAPI values).
namespace csum_flags {
inline constexpr std::int32_t size_diff = 0;  // from/to are a csum_diff result (from = 0)
inline constexpr std::int32_t size2 = 2;      // from/to are 16-bit values
inline constexpr std::int32_t size4 = 4;      // from/to are 32-bit values
inline constexpr std::int32_t pseudo_hdr = 1 << 4;     // BPF_F_PSEUDO_HDR: the value is in the pseudo-header
inline constexpr std::int32_t mark_mangled_0 = 1 << 5;  // BPF_F_MARK_MANGLED_0: UDP rule (0 stays, 0 → 0xffff)
inline constexpr std::int32_t mark_enforce = 1 << 6;    // BPF_F_MARK_ENFORCE
inline constexpr std::int32_t ipv6 = 1 << 7;            // BPF_F_IPV6: IPv6 pseudo-header (CHECKSUM_PARTIAL)
inline constexpr std::int32_t recompute_csum = 1 << 0;  // skb_store_bytes: BPF_F_RECOMPUTE_CSUM
inline constexpr std::int32_t invalidate_hash = 1 << 1; // skb_store_bytes: BPF_F_INVALIDATE_HASH
}  // namespace csum_flags

// Register contract of the helper wrappers: the operands are moved into r1..r5 as a parallel move (any
// register may be given, also one of r1..r5; r0 serves as the temporary for a cycle), then the helper is
// called. As with every helper call, r0 receives the result (0 or a negative errno; csum_diff: the new
// checksum) and r1..r5 are clobbered; packet pointers must be reloaded after l3/l4_csum_replace and
// skb_store_bytes. `skb` is the program's context.
Assembler& l3_csum_replace(Assembler& a, Operand skb, Operand offset, Operand from, Operand to, Operand flags);
Assembler& l4_csum_replace(Assembler& a, Operand skb, Operand offset, Operand from, Operand to, Operand flags);
// r0 = checksum difference of the `to` bytes over the `from` bytes (sizes multiples of 4), added to seed.
Assembler& csum_diff(Assembler& a, Operand from, Operand from_size, Operand to, Operand to_size, Operand seed);
Assembler& skb_store_bytes(Assembler& a, Operand skb, Operand offset, Operand from, Operand len, Operand flags);
// Calls helper `id` with up to five operands moved into r1.. in order (the building block of the above);
// more than five makes Assembler::finish() fail (invalid register at this instruction).
Assembler& call_with(Assembler& a, std::int32_t id, std::initializer_list<Operand> args);
// The argument moves of call_with alone, into r<first>.. (first >= 1): lets a caller load r1 afterwards with
// something an Operand cannot express (a map reference: see dsl/maps.hpp).
Assembler& load_args(Assembler& a, std::uint8_t first, std::initializer_list<Operand> args);

}  // namespace ebpf::dsl
