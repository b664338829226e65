// ebpf/dsl/packet.hpp — packet parsing building blocks for XDP programs built with ebpf::Assembler: load the
// packet pointers from xdp_md, bounds checks in the form the verifier accepts, and Ethernet (+ one 802.1Q /
// 802.1ad tag) → IPv4 (variable header length) → TCP/UDP ports.
//
// Register contract (PacketRegs, defaults r2..r5). Every step reads and advances `cursor`:
//   xdp_load_data   ctx            → data, data_end = packet bounds; cursor = data
//   parse_ethernet  cursor = frame → cursor = L3 header; `ethertype` = host-order ethertype after any VLAN tag
//   parse_ipv4      cursor = L3    → `ip` = IPv4 header; cursor = L4 header (data + IHL*4);
//                                    `protocol` = IPv4 protocol byte
//   parse_ports     cursor = L4    → `src_port`, `dst_port` in host order (TCP and UDP share the layout)
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

// Jumps to `bad` when cursor + `bytes` > data_end, i.e. unless [cursor, cursor + bytes) is in the packet.
Assembler& check_bounds(Assembler& a, const PacketRegs& regs, std::int16_t bytes, Assembler::Label bad);

// Ethernet header and at most one VLAN tag (0x8100 or 0x88a8); see the register contract above.
Assembler& parse_ethernet(Assembler& a, const PacketRegs& regs, isa::Reg ethertype, Assembler::Label bad);

// IPv4 header of any length (IHL 5..15); the caller has checked the ethertype.
Assembler& parse_ipv4(Assembler& a, const PacketRegs& regs, isa::Reg ip, isa::Reg protocol, Assembler::Label bad);

// First four bytes of a TCP or UDP header; the caller has checked the protocol.
Assembler& parse_ports(Assembler& a, const PacketRegs& regs, isa::Reg src_port, isa::Reg dst_port,
                       Assembler::Label bad);

}  // namespace ebpf::dsl
