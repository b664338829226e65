// lb/dataplane/icmp_error.hpp — ICMP errors about a balanced flow get the flow's NAT.
//
// An ICMP error quotes the start of the packet that caused it, and its receiver matches the quote against
// its own sockets. Without translation the quote shows the packet as the LB rewrote it, so nothing matches:
// a connected UDP client never gets ECONNREFUSED, "fragmentation needed" / "packet too big" never lowers a
// path MTU, TCP never hears of an unreachable peer. The error therefore gets the inverse of its flow's NAT:
//   - to_client (TC egress): a backend answers the DNATed packet client → backend:bport. The quoted
//     destination becomes VIP:vport again, and the error's source, when it is the backend itself, the VIP.
//     Conntrack entry: the reverse one (key backend → client, kReverse).
//   - to_backend (ingress): the client's side answers a reply VIP:vport → client. The quoted source becomes
//     backend:bport and the error's destination, when it is the VIP, the backend (the kernel then forwards
//     it there). Conntrack entry: the forward one (key client → VIP, no kReverse).
// Either way the lookup key is the quoted 5-tuple reversed. Errors handled: ICMPv4 destination unreachable
// (3), time exceeded (11), parameter problem (12); ICMPv6 destination unreachable (1), packet too big (2),
// time exceeded (3), parameter problem (4) — each quoting TCP or UDP over IPv4 (any IHL, no non-first
// fragment) or IPv6 (no extension headers), with at least the 8 bytes of ports and UDP checksum quoted. An
// outer IPv4 fragment, any other ICMP type or a quote without a matching entry is left untouched.
// Checksums are updated incrementally (so one that was wrong stays wrong by the same amount): the quoted
// IPv4 header's; the quoted L4 checksum when the quote holds it (TCP: its 18 bytes; UDP: 0 stays 0); the
// ICMP checksum for every changed byte of the quote (ICMPv6: also the changed pseudo-header address); the
// outer IPv4 header's. Nothing else of the flow changes (no counters, no state, no timestamps).
//
// The rewrite uses direct packet writes: an ICMP error's checksums are always complete in the packet
// (never CHECKSUM_PARTIAL), so the TC build needs no checksum helpers here. Every change is compensated inside
// the packet (the IPv4 header by its checksum, the ICMP message by the ICMP checksum, an ICMPv6 pseudo-header
// address by the ICMPv6 checksum), so the one's complement sum of the whole packet is unchanged and the
// skb->csum of a CHECKSUM_COMPLETE skb stays right.
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/isa.hpp"
#include "lb/common/abi.hpp"

namespace lb::dataplane {

enum class IcmpNatDirection { to_client, to_backend };

// The emitter's stack area (offsets through EBPF_FIELD).
struct IcmpNatScratch {
  ConntrackKey key;             // 0: the quoted 5-tuple reversed
  Addr new_addr;                // 40: the entry's nat_addr (what the quoted endpoint becomes)
  std::uint16_t new_port = 0;   // 56: the entry's nat_port
  std::uint16_t old_csum = 0;   // 58: the quoted L4 checksum before its update
  std::uint32_t pad = 0;        // 60
};
static_assert(sizeof(IcmpNatScratch) == 64 && kIsMapPod<IcmpNatScratch>);

struct IcmpNatOptions {
  IcmpNatDirection direction = IcmpNatDirection::to_client;
  // Register contract. In: l3 = outer IP header with its fixed header verified (emit_flow_parse's l3),
  // l4 = the ICMP header (unverified), ctx = the program context. r9 is used for the quoted IP header.
  // ctx, l3 and l4 are preserved; r0..r5 and r9 are clobbered.
  ebpf::isa::Reg ctx = ebpf::isa::r6;
  ebpf::isa::Reg l3 = ebpf::isa::r7;
  ebpf::isa::Reg l4 = ebpf::isa::r8;
  std::int16_t data_end_field = 4;    // ctx offset of data_end (xdp_md: 4; __sk_buff: ctx::sk_buff::data_end)
  std::int16_t stack_offset = -64;    // IcmpNatScratch, 8-aligned
  std::string_view translated;        // jumped to after the rewrite
  std::string_view untouched;         // jumped to when nothing was written
  bool ipv6 = true;                   // false: ICMPv6 is left untouched
};

// Emits the translation (see above); invalid options make Assembler::finish() fail.
ebpf::Assembler& emit_icmp_error_nat(ebpf::Assembler& a, const IcmpNatOptions& options);

}  // namespace lb::dataplane
