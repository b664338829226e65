// ebpf/dsl/rewrite.hpp — NAT rewrite fragments for programs built with ebpf::Assembler: replace an IPv4 or
// IPv6 source/destination address and TCP/UDP port with every checksum kept valid, and swap Ethernet MACs,
// IP addresses and ports (for reflecting a packet with XDP_TX). XDP fragments use direct packet access and
// incremental checksum updates (ebpf/dsl/checksum.hpp); TC fragments use bpf_skb_load_bytes,
// bpf_l3/l4_csum_replace and bpf_skb_store_bytes.
//
// Byte order: new addresses and ports are given as ldx would load them from network-order bytes (see
// checksum.hpp); convert host-order values with be(reg, 32) / be(reg, 16) first.
// Which checksums change: the IPv4 header checksum covers the addresses; the TCP and UDP checksums cover the
// addresses through the pseudo-header and the ports directly; IPv6 has no header checksum. A UDP checksum of 0
// ("none") stays 0. Swapping two fields of the same checksummed data leaves every checksum unchanged.
// Fragments: only the first fragment carries the L4 header — callers must not use the L4 rewrite on others.
#pragma once

#include <cstdint>
#include <optional>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/checksum.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

enum class Endpoint { source, destination };
enum class L4Proto { tcp, udp };

// Bytes an L4 rewrite touches from the start of the L4 header (up to and including the checksum).
constexpr std::int16_t l4_rewrite_bytes(L4Proto p) { return p == L4Proto::tcp ? 18 : 8; }

// XDP: rewrite one endpoint of an IPv4 TCP/UDP packet. The fragment bounds-checks [ip, ip + 20) and
// [l4, l4 + l4_rewrite_bytes) against data_end itself and jumps to `bad` when either is short (nothing has
// been written then). ip, l4, data_end, addr and port are preserved; the three scratch registers are
// clobbered and must differ from them and from each other.
struct Ipv4Rewrite {
  Endpoint which = Endpoint::destination;
  L4Proto proto = L4Proto::tcp;
  isa::Reg ip = isa::r6;        // IPv4 header
  isa::Reg l4 = isa::r4;        // TCP/UDP header (PacketRegs::cursor after parse_ipv4)
  isa::Reg data_end = isa::r3;
  isa::Reg addr = isa::r7;                // new address (ldx W form)
  std::optional<isa::Reg> port = {};         // new port (ldx H form); nullopt keeps the port
  isa::Reg old_value = isa::r5;           // scratch
  CsumScratch csum = {isa::r0, isa::r1};  // scratch
};
Assembler& xdp_rewrite_ipv4(Assembler& a, const Ipv4Rewrite& r, Assembler::Label bad);

// XDP: the same for IPv6; the new address is read from memory (stack, map value or packet) and must not
// overlap the address it replaces. The fragment checks [ip6, ip6 + 40) and the L4 bytes itself.
struct Ipv6Rewrite {
  Endpoint which = Endpoint::destination;
  L4Proto proto = L4Proto::tcp;
  isa::Reg ip6 = isa::r6;  // IPv6 fixed header
  isa::Reg l4 = isa::r4;   // TCP/UDP header after any extension headers
  isa::Reg data_end = isa::r3;
  Memory16 addr = {isa::r7, 0};  // new address
  std::optional<isa::Reg> port = {};
  isa::Reg old_value = isa::r5;
  CsumScratch csum = {isa::r0, isa::r1};
};
Assembler& xdp_rewrite_ipv6(Assembler& a, const Ipv6Rewrite& r, Assembler::Label bad);

// Swaps (need the bytes bounds-checked by the caller, as parse_ethernet / parse_ipv4 leave them; t1 and t2
// clobbered). Checksums stay valid without any update.
Assembler& swap_macs(Assembler& a, isa::Reg eth, isa::Reg t1, isa::Reg t2);        // [eth, eth + 12)
Assembler& swap_ipv4_addrs(Assembler& a, isa::Reg ip, isa::Reg t1, isa::Reg t2);   // [ip, ip + 20)
Assembler& swap_ipv6_addrs(Assembler& a, isa::Reg ip6, isa::Reg t1, isa::Reg t2);  // [ip6, ip6 + 40)
Assembler& swap_ports(Assembler& a, isa::Reg l4, isa::Reg t1, isa::Reg t2);        // [l4, l4 + 4)

// TC: rewrite one endpoint with the skb helpers. Every value lives where helper calls cannot destroy it:
// skb and register offsets in r6..r9, the new address/port and a scratch area on the stack (fp offsets).
// l3_off / l4_off are byte offsets from the start of the frame (immediates, or a register in r6..r9 when
// they vary, e.g. with IPv4 options). Jumps to `bad` with r0 = the helper's negative errno when a helper
// fails (e.g. the packet is too short); earlier steps may have been applied then. r0..r5 are clobbered and
// packet pointers must be reloaded afterwards.
struct TcIpv4Rewrite {
  Endpoint which = Endpoint::destination;
  L4Proto proto = L4Proto::tcp;
  isa::Reg skb = isa::r6;
  Operand l3_off = std::int32_t{14};
  Operand l4_off = std::int32_t{34};
  std::int16_t new_addr_slot = -8;           // fp offset of 4 bytes: the new address (network order)
  std::optional<std::int16_t> new_port_slot = {};  // fp offset of 2 bytes: the new port; nullopt keeps it
  std::int16_t scratch_slot = -16;           // fp offset of 8 free bytes
};
Assembler& tc_rewrite_ipv4(Assembler& a, const TcIpv4Rewrite& r, Assembler::Label bad);

struct TcIpv6Rewrite {
  Endpoint which = Endpoint::destination;
  L4Proto proto = L4Proto::tcp;
  isa::Reg skb = isa::r6;
  Operand l3_off = std::int32_t{14};
  Operand l4_off = std::int32_t{54};
  std::int16_t new_addr_slot = -16;          // fp offset of 16 bytes: the new address
  std::optional<std::int16_t> new_port_slot = {};
  std::int16_t scratch_slot = -40;           // fp offset of 24 free bytes
};
Assembler& tc_rewrite_ipv6(Assembler& a, const TcIpv6Rewrite& r, Assembler::Label bad);

}  // namespace ebpf::dsl
