// ebpf/dsl/packet.hpp — packet parsing building blocks for XDP programs built with ebpf::Assembler: load the
// packet pointers from xdp_md, bounds checks in the form the verifier accepts, and Ethernet (+ one 802.1Q /
// 802.1ad tag) → IPv4 (variable header length, fragment test) or IPv6 (bounded extension header walk) →
// TCP (variable header length, flags) / UDP (length) / ICMP and ICMPv6 (type, code) or just the ports. The
// same steps work in TC programs: tc_load_data takes the bounds from the __sk_buff.
//
// Register contract (PacketRegs, defaults r2..r5). Every step reads and advances `cursor`:
//   xdp_load_data   ctx            → data, data_end = packet bounds; cursor = data
//   parse_ethernet  cursor = frame → cursor = L3 header; `ethertype` = host-order ethertype after any VLAN tag
//   parse_ipv4      cursor = L3    → `ip` = IPv4 header; cursor = L4 header (data + IHL*4);
//                                    `protocol` = IPv4 protocol byte
//   parse_ipv6      cursor = L3    → `ip6` = IPv6 header; cursor = L4 header after the extension headers;
//                                    `protocol` = the L4 next-header value
//   parse_tcp       cursor = L4    → `l4` = TCP header; cursor = payload (l4 + data offset * 4); `flags`
//   parse_udp       cursor = L4    → `l4` = UDP header; cursor = payload (l4 + 8); `length` (host order, >= 8)
//   parse_icmp      cursor = L4    → `l4` = ICMP/ICMPv6 header; cursor = l4 + 4; `type`, `code`
//   parse_ports     cursor = L4    → `src_port`, `dst_port` in host order (TCP and UDP share the layout);
//                                    cursor unchanged
// `scratch` is clobbered by every step. r1..r5 are caller-saved: a helper call destroys them, so save what
// is still needed (e.g. in r6..r9) before calling one. Each step jumps to its `bad` label when the bytes it
// reads are not inside the packet (or the IPv4 header length field is below 5), so no short frame is read.
// The output registers must be distinct from the PacketRegs and from each other.
#pragma once

#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

struct PacketRegs {
  isa::Reg data = isa::r2;
  isa::Reg data_end = isa::r3;
  isa::Reg cursor = isa::r4;
  isa::Reg scratch = isa::r5;
};

// struct xdp_md field offsets (UAPI): u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, ...
namespace xdp_md {
inline constexpr std::int16_t data = 0;
inline constexpr std::int16_t data_end = 4;
inline constexpr std::int16_t data_meta = 8;
inline constexpr std::int16_t ingress_ifindex = 12;
inline constexpr std::int16_t rx_queue_index = 16;
}  // namespace xdp_md

// XDP verdicts (enum xdp_action).
namespace xdp_action {
inline constexpr std::int32_t aborted = 0, drop = 1, pass = 2, tx = 3, redirect = 4;
}

// data = ctx->data, data_end = ctx->data_end, cursor = data. `ctx` must not be one of regs' registers.
Assembler& xdp_load_data(Assembler& a, isa::Reg ctx, const PacketRegs& regs = {});

// The same from a TC / socket-filter __sk_buff (skb->data, skb->data_end).
Assembler& tc_load_data(Assembler& a, isa::Reg ctx, const PacketRegs& regs = {});

// Jumps to `bad` when cursor + `bytes` > data_end, i.e. unless [cursor, cursor + bytes) is in the packet.
Assembler& check_bounds(Assembler& a, const PacketRegs& regs, std::int16_t bytes, Assembler::Label bad);

// Ethernet header and at most one VLAN tag (0x8100 or 0x88a8); see the register contract above.
Assembler& parse_ethernet(Assembler& a, const PacketRegs& regs, isa::Reg ethertype, Assembler::Label bad);

// IPv4 header of any length (IHL 5..15); the caller has checked the ethertype.
Assembler& parse_ipv4(Assembler& a, const PacketRegs& regs, isa::Reg ip, isa::Reg protocol, Assembler::Label bad);

// Jumps to `fragment` when the IPv4 header at `ip` (from parse_ipv4) belongs to a fragment: More Fragments set
// or a non-zero fragment offset. Only `regs.scratch` is clobbered.
Assembler& jump_if_ipv4_fragment(Assembler& a, const PacketRegs& regs, isa::Reg ip, Assembler::Label fragment);

struct Ipv6ParseOptions {
  int max_extension_headers = 6;  // more than this many is `bad` (keeps the program and the verifier bounded)
};
// IPv6 header, then a walk over hop-by-hop (0), routing (43), destination options (60) and AH (51) headers.
// A fragment header (44) jumps to `fragment` with cursor at the fragment header and protocol = 44. Any other
// next header (TCP, UDP, ICMPv6, ESP, no-next-header ...) ends the walk there. A header that does not fit in
// the packet, or too many extension headers, jump to `bad`.
Assembler& parse_ipv6(Assembler& a, const PacketRegs& regs, isa::Reg ip6, isa::Reg protocol, Assembler::Label bad,
                      Assembler::Label fragment, const Ipv6ParseOptions& opts = {});

// TCP header of any length (data offset 5..15, options included in the packet); `flags` = the flags byte
// (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
Assembler& parse_tcp(Assembler& a, const PacketRegs& regs, isa::Reg l4, isa::Reg flags, Assembler::Label bad);
// UDP header; a length field below 8 is `bad`.
Assembler& parse_udp(Assembler& a, const PacketRegs& regs, isa::Reg l4, isa::Reg length, Assembler::Label bad);
// ICMP or ICMPv6: type and code (the first 4 bytes: type, code, checksum).
Assembler& parse_icmp(Assembler& a, const PacketRegs& regs, isa::Reg l4, isa::Reg type, isa::Reg code,
                      Assembler::Label bad);

// First four bytes of a TCP or UDP header; the caller has checked the protocol.
Assembler& parse_ports(Assembler& a, const PacketRegs& regs, isa::Reg src_port, isa::Reg dst_port,
                       Assembler::Label bad);

}  // namespace ebpf::dsl
