// lb/dataplane/tc_egress.hpp — ebpf-lb's TC egress program: backend replies get the VIP back as source (SNAT).
//
// Runs on the interface through which replies leave toward the clients (see dataplane.hpp). For every frame:
//   1. Parse with the shared flow parse (Ethernet + one VLAN tag, IPv4 any IHL / IPv6, TCP/UDP). Anything
//      else, truncated headers and IPv4 fragments: TC_ACT_OK untouched (the reply of a flow is never
//      rewritten half-way: a first fragment alone cannot be SNATed consistently with the rest).
//   2. lb_conntrack[key as seen here] — the reply's key is exactly the reverse entry the XDP program inserted
//      (src = backend, dst = client). Miss: lb_global_stats.ct_reverse_miss++, TC_ACT_OK untouched (a flow
//      the LRU evicted, or traffic of the host itself). A forward (non-reverse) entry is left alone.
//   3. Hit: reverse entry packets/bytes (skb->len) and last_seen_ns; lb_be_stats[backend].reply_packets/bytes.
//   4. TCP from the backend: FIN marks kFinFromBackend on both entries and moves the state to fin_wait
//      (closing when the client's FIN was seen); the short transitory timeout then ends the flow. RST removes
//      both entries at once, counts ct_closed and emits a close event (reason rst, both directions' packets
//      and bytes) when lb_config has kEvents.
//   5. Source address and port := the VIP (the reverse entry's nat_addr/nat_port), IP and L4 checksums fixed
//      with bpf_l3_csum_replace / bpf_l4_csum_replace (a UDP checksum of 0 stays 0). TC_ACT_OK.
//   6. ICMP / ICMPv6 errors a backend sends about a DNATed packet get the flow's SNAT: the quote's
//      destination and the error's source become the VIP (icmp_error.hpp), icmp_translated++. TC_ACT_OK.
// Headers that are not in the skb's linear area are pulled in (bpf_skb_pull_data) when the parse of the
// linear area comes up short, so skbs with paged headers are parsed like any other (emit_tc_flow_parse).
#pragma once

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"

namespace lb::dataplane {

struct TcEgressOptions {
  bool ipv6 = true;    // false: IPv6 replies pass untouched
  bool events = true;  // emit close events on RST (still gated at run time by config_flags::kEvents)
};

// The program with map references by catalogue name (lb_conntrack, lb_be_stats, lb_global_stats,
// lb_config, lb_events), unresolved.
ebpf::Result<ebpf::Bytecode> build_tc_egress(const TcEgressOptions& options = {});

}  // namespace lb::dataplane
