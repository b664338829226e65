// lb/dataplane/xdp_ingress.hpp — ebpf-lb's XDP ingress data path: the load-balancing BPF program, built with
// the library's assembler (no clang), following the contract in lb/README.md ("Data path contract").
//
// Packet policy (everything is counted):
//   - not IPv4/IPv6, not TCP/UDP (ICMP, IPv6 extension headers), non-first IPv4 fragments: XDP_PASS
//     untouched, lb_global_stats.not_service++.
//   - ICMP / ICMPv6 errors about a reply of a balanced flow (sent to the VIP): the error's destination and
//     the quote's source become the flow's backend (icmp_error.hpp), icmp_translated++, XDP_PASS (the
//     kernel forwards it to the backend).
//   - truncated or invalid headers (cut short anywhere up to the L4 ports, IPv4 IHL < 5, wrong IP version):
//     XDP_PASS untouched, lb_global_stats.malformed++ (the LB never rewrites what it cannot fully parse;
//     the kernel's stack applies its own rules).
//   - TCP/UDP to an address:port that is no service: XDP_PASS, not_service++.
//   - first IPv4 fragment to a service: XDP_DROP, service drops[kUnsupported]++ (a flow cannot be pinned
//     to a backend without all its fragments).
//   - service traffic: conntrack hit → DNAT; new flow → rate limits, backend selection, conntrack insert,
//     DNAT; TCP that is not a SYN and has no entry → XDP_PASS untouched (counted in the service's packets).
//     Conntrack is looked up before the service (a hit carries its service id), so a flow keeps its backend
//     until it closes or idles out even if its service is removed meanwhile.
// Map references are by catalogue name (lb/common/maps.hpp), unresolved.
//
// The same program is built for either ingress hook (XdpIngressOptions::hook): XDP, or TC ingress
// (sched_cls on clsact/tcx ingress). The emitters are shared; only the context (xdp_md / __sk_buff), the
// packet length (data_end - data / skb->len), the DNAT (direct writes with incremental checksums / the
// bpf_l3/l4_csum_replace helpers, right for CHECKSUM_PARTIAL skbs too) and the verdict codes
// (XDP_PASS/DROP / TC_ACT_OK/SHOT) differ. Why TC at all: on a veth, native XDP makes the kernel copy every
// cloned skb (every TCP transmission) into a page-pool buffer and moves veth rx onto NAPI; TC ingress runs on
// the skb as it is (lb/README.md has the figures).
#pragma once

#include <cstdint>
#include <string>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"
#include "lb/control/config.hpp"

namespace lb {
class DataPathMaps;
}

namespace lb::dataplane {

struct XdpIngressOptions {
  IngressHook hook = IngressHook::xdp;  // which hook the program is built and loaded for
  bool ipv6 = true;           // parse IPv6; false: IPv6 passes untouched (not_service)
  bool rate_limits = true;    // emit the token-bucket code (still gated per service by its flags)
  bool source_routes = true;  // emit the lb_src_routes lookup (gated by kHasSourceRoutes)
  bool events = true;         // emit ring-buffer events (gated at run time by config_flags::kEvents)
  bool redirect = true;       // emit bpf_fib_lookup + bpf_redirect (gated by config_flags::kRedirect)
};

// The XDP program with map references by catalogue name ("lb_services", ...), unresolved:
// the caller resolves them with DataPathMaps::find(name)->fd().
ebpf::Result<ebpf::Bytecode> build_xdp_ingress(const XdpIngressOptions& options = {});

// Builds the program, resolves every map from `maps` and loads it as an XDP program named "lb_xdp_in"
// (hook tc: a SCHED_CLS program named "lb_tc_in").
ebpf::Result<ebpf::Program> load_xdp_ingress(DataPathMaps& maps, const XdpIngressOptions& options = {});

// The program type of the ingress program for `hook`.
ebpf::ProgType ingress_prog_type(IngressHook hook);

}  // namespace lb::dataplane
