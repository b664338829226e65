// lb/dataplane/flow_parse.hpp — the parsing step shared by ebpf-lb's XDP ingress and TC egress programs.
//
// From packet pointers (XDP's xdp_md->data/data_end or TC's __sk_buff->data/data_end with direct packet
// access) it walks Ethernet + at most one VLAN tag (802.1Q / 802.1ad) → IPv4 (any IHL) or IPv6 (fixed
// header; an extension header is "not a flow") → TCP or UDP, and fills a ParsedFlow on the BPF stack: the
// ConntrackKey of the packet as seen at the hook (v4-mapped addresses, family, proto, ports, pad = 0) plus
// what a rewrite needs.
//
// Register contract of emit_flow_parse():
//   in:  regs.data, regs.data_end       packet pointers (caller loaded them from its context)
//   out: regs.l3                        packet pointer to the IP header; 20 (v4) / 40 (v6) bytes verified
//        regs.l4                        packet pointer to the L4 header; 20 (TCP) / 8 (UDP) bytes verified
//        stack ParsedFlow at fp+stack_offset (layout below; read it with EBPF_FIELD(ParsedFlow, ...))
//   clobbered: r0..r5 (except regs.data/data_end, which keep their values); r6..r9 other than regs.l3/l4
//   are untouched, so a caller keeps its context in one of them.
// Packet pointers in r6..r9 survive map helper calls; re-derive them after any helper that can move the
// packet (bpf_xdp_adjust_head, bpf_skb_*).
// Exits (labels the caller defines):
//   labels.malformed    a header is cut short, or IPv4 IHL < 5
//   labels.not_flow     not IPv4/IPv6, or not TCP/UDP (ICMP, IPv6 extension headers, ...), or an IPv4
//                       fragment other than the first (no L4 header to read)
//   labels.icmp         ICMP / ICMPv6, when the caller asks for it (see FlowParseLabels)
//   fall through        a TCP/UDP flow; ParsedFlow::fragment is 1 for a first IPv4 fragment (MF set,
//                       offset 0): ports are valid but the payload is incomplete — the caller's policy.
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/isa.hpp"
#include "lb/common/abi.hpp"

namespace lb::dataplane {

// The parse result on the BPF stack. Offsets come from this struct (EBPF_FIELD), never by hand.
struct ParsedFlow {
  ConntrackKey key;               // 0: the flow as seen at this hook
  std::uint32_t packet_len = 0;   // 40: data_end - data (the frame length counted in bytes counters)
  std::uint16_t l3_offset = 0;    // 44: IP header offset from data (14, or 18 with a VLAN tag)
  std::uint16_t l4_offset = 0;    // 46: L4 header offset from data
  std::uint8_t tcp_flags = 0;     // 48: TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10); 0 for UDP
  std::uint8_t fragment = 0;      // 49: 1 = first fragment of a fragmented IPv4 datagram
  std::uint16_t pad0 = 0;         // 50
  std::uint32_t pad1 = 0;         // 52
};
static_assert(sizeof(ParsedFlow) == 56 && kIsMapPod<ParsedFlow>);

struct FlowParseRegs {
  ebpf::isa::Reg data = ebpf::isa::r2;
  ebpf::isa::Reg data_end = ebpf::isa::r3;
  ebpf::isa::Reg l3 = ebpf::isa::r7;
  ebpf::isa::Reg l4 = ebpf::isa::r8;
};

struct FlowParseLabels {
  std::string_view malformed = "flow_malformed";
  std::string_view not_flow = "flow_not_flow";
  // ICMP (IPv4 protocol 1) or ICMPv6 (IPv6 next header 58 right after the fixed header): jumped to with
  // regs.l3 as on fall-through and regs.l4 = the ICMP header (not bounds-checked); the ParsedFlow holds the
  // addresses and family only. Empty: such packets leave through not_flow.
  std::string_view icmp = {};
};

struct FlowParseOptions {
  FlowParseRegs regs{};
  FlowParseLabels labels{};
  std::int16_t stack_offset = -static_cast<std::int16_t>(sizeof(ParsedFlow));  // 8-aligned, negative
  bool ipv6 = true;  // false: IPv6 frames leave through not_flow
};

// Emits the parse. Invalid options (stack_offset not 8-aligned or out of the 512-byte frame, registers
// that collide or are r0/r1/r10) are recorded on the Assembler and reported by its finish().
ebpf::Assembler& emit_flow_parse(ebpf::Assembler& a, const FlowParseOptions& options = {});

// Stores ::ffff:<the 4 bytes at [src + from]> (an IPv4 address as an Addr of the keys) at fp + to
// (8-aligned); clobbers r0.
ebpf::Assembler& emit_store_v4_mapped(ebpf::Assembler& a, ebpf::isa::Reg src, std::int16_t from, std::int16_t to);

// TC programs: the bytes the parse and the ICMP error translation may read (Ethernet + VLAN + IPv6 + ICMPv6 +
// quoted IPv6 + TCP up to its checksum = 124, rounded up).
inline constexpr std::int32_t kFlowHeaderBytes = 128;

// TC programs: loads data/data_end from the __sk_buff in `skb` (r6..r9, preserved) and runs the parse on
// the skb's linear area — direct packet access reaches nothing else. Only when that parse is cut short (or an
// ICMP error's quote may lie beyond the linear area) are the first kFlowHeaderBytes made linear with
// bpf_skb_pull_data and the parse run again, so its verdict is the one on the whole headers. Why not pull up
// front: the stack and GRO leave a TCP segment's headers linear and its payload in page fragments, and
// pulling payload into the head made each program run ~215 ns slower under real traffic (bpf_stats, TC hooks,
// keep-alive HTTP: 697 → 481 ns per run, no-op program 75–95). Same exits and register contract as
// emit_flow_parse.
ebpf::Assembler& emit_tc_flow_parse(ebpf::Assembler& a, ebpf::isa::Reg skb, const FlowParseOptions& options = {});

// Closing a TCP flow at its last ACK needs to know whether the second FIN acknowledges the first: when the
// two FINs cross on the wire (each side closes before it has the other's FIN), both sides still owe an ACK,
// and ending the flow at the first of them would leave the other untranslated. For a TCP packet already
// parsed into the ParsedFlow at fp + flow_slot, this reads the TCP sequence and acknowledgement numbers, the
// data offset and the IP length with bpf_xdp_load_bytes / bpf_skb_load_bytes (FIN packets only, so the parse
// every packet pays stays as it is) and stores at fp + scratch (24 bytes, 8-aligned), in host order:
//   +0  u32 ack       the packet's acknowledgement number
//   +4  u32 fin_end   seq + payload length + 1: the acknowledgement number that covers a FIN in this packet
// Jumps to `unreadable` if the headers cannot be read. Clobbers r0..r5.
struct TcpFinNumbersOptions {
  ebpf::isa::Reg ctx = ebpf::isa::r6;  // xdp_md or __sk_buff
  bool skb = false;                    // ctx is an __sk_buff (bpf_skb_load_bytes)
  std::int16_t flow_slot = -static_cast<std::int16_t>(sizeof(ParsedFlow));
  std::int16_t scratch = 0;
  std::string_view unreadable;
};
inline constexpr std::int16_t kFinNumbersAck = 0, kFinNumbersFinEnd = 4;
ebpf::Assembler& emit_tcp_fin_numbers(ebpf::Assembler& a, const TcpFinNumbersOptions& options);
// Jumps to `not_acked` unless the acknowledgement number in `ack` covers the FIN that ends at `fin_end` (u32
// values; ack - fin_end >= 0 as a 32-bit serial difference, since sequence numbers wrap). Clobbers `ack`.
ebpf::Assembler& emit_unless_fin_acked(ebpf::Assembler& a, ebpf::isa::Reg ack, ebpf::isa::Reg fin_end,
                                       std::string_view not_acked);

}  // namespace lb::dataplane
