// ebpf-lb's XDP ingress program (contract in xdp_ingress.hpp and lb/README.md): the entry (parse, service
// lookup, conntrack lookup), the conntrack-hit path, forwarding (counters, DNAT, verdict) and the exits.
// New flows (rate limits, backend choice, conntrack insert) are in xdp_new_flow.cpp.
#include "lb/dataplane/xdp_ingress.hpp"

#include <string>

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/dsl/rewrite.hpp"
#include "ebpf/helpers.hpp"
#include "lb/control/datapath_maps.hpp"
#include "lb/dataplane/icmp_error.hpp"
#include "lb/dataplane/xdp_emit.hpp"

namespace lb::dataplane {

namespace xdp {
using namespace ebpf::isa;
namespace helper = ebpf::helper;
namespace skb = ebpf::dsl::ctx::sk_buff;

namespace {
constexpr std::int16_t at(std::int16_t slot, Field f) { return static_cast<std::int16_t>(slot + f.offset); }
constexpr std::int16_t flow(Field f) { return at(slot::kFlow, f); }

constexpr Field kKeyProto = EBPF_FIELD(ConntrackKey, proto);
constexpr Field kKeyFamily = EBPF_FIELD(ConntrackKey, family);
constexpr Field kTcpFlags = EBPF_FIELD(ParsedFlow, tcp_flags);
constexpr Field kPacketLen = EBPF_FIELD(ParsedFlow, packet_len);
constexpr std::int32_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;
constexpr std::int32_t kFibSuccess = 0;  // BPF_FIB_LKUP_RET_SUCCESS
constexpr std::int32_t kAfInet = 2, kAfInet6 = 10;

// struct bpf_fib_lookup (UAPI, 64 bytes): the fields the redirect path fills and reads.
namespace fib {
constexpr std::int16_t family = 0, l4_protocol = 1, sport = 2, dport = 4, tot_len = 6, ifindex = 8, ipv4_src = 16,
                       ipv4_dst = 32, ipv6_src = 16, ipv6_dst = 32, smac = 52, dmac = 58, size = 64;
}

// packets += 1, bytes += packet_len at element `index_slot` of the per-CPU `map`.
void count_packet(Emitter& e, std::string_view map, std::int16_t index_slot, Field packets, Field bytes) {
  const std::string skip = e.unique("count_packet");
  e.lookup(map, index_slot);
  e.a.jeq(r0, 0, skip);
  e.a.ldx(DW, r1, r0, packets.offset).add(r1, 1).stx(DW, r0, packets.offset, r1);
  e.a.ldx(W, r2, r10, flow(kPacketLen)).ldx(DW, r1, r0, bytes.offset).add(r1, r2).stx(DW, r0, bytes.offset, r1);
  e.a.label(skip);
}

constexpr std::string_view kServiceFirst = "service_first", kServiceThenNewFlow = "service_then_new_flow",
                           kConntrackHit = "conntrack_hit";

// kSvc = the lb_services value of the flow's destination, slot::kServiceId = its id; `missing` if none.
void emit_service_lookup(Emitter& e, std::string_view missing) {
  Assembler& a = e.a;
  // ServiceKey{vip = key.dst, port = key.dport, proto, family}: dport/proto/family are laid out alike.
  static_assert(offsetof(ServiceKey, port) == 16 && offsetof(ServiceKey, family) == 19 &&
                offsetof(ConntrackKey, dport) + 2 == offsetof(ConntrackKey, proto) &&
                offsetof(ConntrackKey, proto) + 1 == offsetof(ConntrackKey, family));
  e.copy_stack(flow(Field{static_cast<std::int16_t>(offsetof(ConntrackKey, dst)), DW}), slot::kSvcKey, sizeof(Addr));
  // (separate loads: stack accesses must be aligned to their size)
  a.ldx(H, r0, r10, flow(EBPF_FIELD(ConntrackKey, dport))).stx(H, r10, at(slot::kSvcKey, EBPF_FIELD(ServiceKey, port)), r0);
  a.ldx(B, r0, r10, flow(kKeyProto)).stx(B, r10, at(slot::kSvcKey, EBPF_FIELD(ServiceKey, proto)), r0);
  a.ldx(B, r0, r10, flow(kKeyFamily)).stx(B, r10, at(slot::kSvcKey, EBPF_FIELD(ServiceKey, family)), r0);
  e.lookup("lb_services", slot::kSvcKey);
  a.jeq(r0, 0, missing).mov(kSvc, r0);
  a.ldx(W, r1, kSvc, EBPF_FIELD(ServiceValue, id).offset).stx(W, r10, slot::kServiceId, r1);
}

// Parse, conntrack lookup (service lookup only without a flow). Leaves with r0 = ConntrackValue* (hit,
// falling through) or at kNewFlow with kSvc set.
void emit_entry(Emitter& e) {
  Assembler& a = e.a;
  a.mov(kCtx, r1);
  const FlowParseOptions parse{.labels = {.malformed = label::kMalformed, .not_flow = label::kNotService, .icmp = label::kIcmp},
                               .ipv6 = e.options.ipv6};
  if (e.tc()) {
    emit_tc_flow_parse(a, kCtx, parse);  // pulls paged headers in only when the linear part is short
  } else {
    ebpf::dsl::xdp_load_data(a, kCtx, {r2, r3, r4, r5});
    emit_flow_parse(a, parse);
  }
  // The parse counts the linear bytes; an skb's length (GSO included) is what the byte counters mean.
  if (e.tc()) a.ldx(W, r1, kCtx, skb::len).stx(W, r10, flow(kPacketLen), r1);
  // The coarse clock (CLOCK_MONOTONIC at tick resolution) is enough for idle timeouts of seconds and costs
  // a memory read, where the precise clock read under this hypervisor was a third of a conntrack hit.
  a.call(helper::ktime_get_coarse_ns).stx(DW, r10, slot::kNow, r0);
  // Conntrack first: a hit carries its service id, so established flows skip the service hash lookup (~15 ns
  // of a hot hit). Consequence: a flow outlives its service until it closes or idles out, like a drained
  // backend. A first fragment is judged by its service (dropped), whatever conntrack holds.
  a.ldx(B, r1, r10, flow(EBPF_FIELD(ParsedFlow, fragment))).jne(r1, 0, kServiceFirst);
  e.lookup("lb_conntrack", slot::kFlow);
  a.jne(r0, 0, kConntrackHit);
  // No flow: the service decides (not a service → untouched; else a new flow).
  a.label(kServiceFirst);
  emit_service_lookup(e, label::kNotService);
  count_packet(e, "lb_svc_stats", slot::kServiceId, EBPF_FIELD(ServiceCounters, packets), EBPF_FIELD(ServiceCounters, bytes));
  a.ldx(B, r1, r10, flow(EBPF_FIELD(ParsedFlow, fragment))).jne(r1, 0, label::kDropUnsupported);
  a.ja(label::kNewFlow);
  // A flow that idled out: its packet is judged as a new flow of its service (already counted for it).
  a.label(kServiceThenNewFlow);
  emit_service_lookup(e, label::kPassUntouched);
  a.ja(label::kNewFlow);
  a.label(kConntrackHit).stx(DW, r10, slot::kCtPtr, r0);
  a.ldx(W, r1, r0, EBPF_FIELD(ConntrackValue, service_id).offset).stx(W, r10, slot::kServiceId, r1);
  count_packet(e, "lb_svc_stats", slot::kServiceId, EBPF_FIELD(ServiceCounters, packets), EBPF_FIELD(ServiceCounters, bytes));
  a.ldx(DW, r0, r10, slot::kCtPtr);  // falls through into emit_conntrack_hit with r0 = ConntrackValue*
}

// r3 = the idle timeout of the flow whose ConntrackValue* is r0 (conntrack_timeout_ns); clobbers r1, r2.
void emit_timeout(Emitter& e) {
  Assembler& a = e.a;
  const std::string tcp = e.unique("tcp_timeout"), transitory = e.unique("transitory"), done = e.unique("timeout");
  a.ld_map_value(r2, "lb_config", 0);
  a.ldx(B, r1, r10, flow(kKeyProto)).jne(r1, kProtoUdp, tcp);
  a.ldx(DW, r3, r2, EBPF_FIELD(DataPathConfig, udp_idle_ns).offset).ja(done);
  a.label(tcp).ldx(B, r1, r0, EBPF_FIELD(ConntrackValue, state).offset);
  a.jne(r1, static_cast<std::int32_t>(TcpState::kEstablished), transitory);
  a.ldx(DW, r3, r2, EBPF_FIELD(DataPathConfig, tcp_idle_ns).offset).ja(done);
  a.label(transitory).ldx(DW, r3, r2, EBPF_FIELD(DataPathConfig, tcp_transitory_ns).offset);
  a.label(done);
}

// The flow is over: close event, both entries removed, `counter` += 1, then on to `then`.
void emit_end_flow(Emitter& e, CloseReason reason, Field counter, std::string_view then) {
  e.emit_event(FlowEventType::kClose, reason, true);
  e.build_reverse_key();
  e.remove("lb_conntrack", slot::kFlow);
  e.remove("lb_conntrack", slot::kRevKey);
  e.count_global(counter);
  e.a.ja(then);
}

// TCP state from the client's flags; r0 = forward ConntrackValue*. RST, or the client's last ACK after both
// FINs (ct_flags::kLastAckFromClient), ends the flow: both entries go once the packet is translated.
void emit_tcp_state(Emitter& e, std::string_view done) {
  Assembler& a = e.a;
  const std::string fin = e.unique("fin"), second_fin = e.unique("second_fin"), rst = e.unique("rst"),
                    last_ack = e.unique("last_ack"), crossed = e.unique("crossed");
  constexpr std::int16_t kState = EBPF_FIELD(ConntrackValue, state).offset;
  constexpr std::int16_t kFlags = EBPF_FIELD(ConntrackValue, flags).offset;
  constexpr std::int16_t kFinEnd = EBPF_FIELD(ConntrackValue, fin_end).offset;
  a.ldx(B, r1, r10, flow(kKeyProto)).jne(r1, kProtoTcp, done);
  a.ldx(B, r2, r10, flow(kTcpFlags));
  a.jset(r2, kTcpRst, rst).jset(r2, kTcpFin, fin).jset(r2, kTcpSyn, done);  // a SYN again: retransmission
  a.ldx(B, r1, r0, kFlags).jset(r1, ct_flags::kLastAckFromClient, last_ack);
  a.ldx(B, r1, r0, kState).jge(r1, static_cast<std::int32_t>(TcpState::kEstablished), done);
  a.st(B, r0, kState, static_cast<std::int32_t>(TcpState::kEstablished)).ja(done);
  a.label(fin).ldx(B, r1, r0, kFlags).jset(r1, ct_flags::kFinFromClient, done);  // retransmitted: no change
  constexpr std::int16_t kNumbers = slot::kFib;  // free until the redirect path (TC build: until the DNAT)
  emit_tcp_fin_numbers(a, {.ctx = kCtx, .skb = e.tc(), .flow_slot = slot::kFlow, .scratch = kNumbers, .unreadable = done});
  a.ldx(DW, r0, r10, slot::kCtPtr).ldx(B, r1, r0, kFlags);
  a.or_(r1, ct_flags::kFinFromClient).mov(r3, static_cast<std::int32_t>(TcpState::kFinWait));
  a.jset(r1, ct_flags::kFinFromBackend, second_fin);
  // The first FIN: where it ends, for the backend's FIN to be checked against.
  a.ldx(W, r2, r10, kNumbers + kFinNumbersFinEnd).stx(W, r0, kFinEnd, r2);
  a.stx(B, r0, kFlags, r1).stx(B, r0, kState, r3).ja(done);
  // The backend closed first. If this FIN acknowledges the backend's, the backend's next packet is the last
  // ACK; TC egress reads only the reply-side entry, so that one learns it too. If the FINs crossed, both sides
  // owe an ACK: no last-ACK flag (ct_flags).
  a.label(second_fin).mov(r3, static_cast<std::int32_t>(TcpState::kClosing)).mov(r4, ct_flags::kFinFromClient);
  a.ldx(W, r2, r10, kNumbers + kFinNumbersAck).ldx(W, r5, r0, kFinEnd);
  emit_unless_fin_acked(a, r2, r5, crossed).or_(r4, ct_flags::kLastAckFromBackend);
  a.label(crossed).or_(r1, r4).stx(DW, r10, kNumbers + 8, r4);
  a.stx(B, r0, kFlags, r1).stx(B, r0, kState, r3);
  e.build_reverse_key();
  e.lookup("lb_conntrack", slot::kRevKey);
  a.jeq(r0, 0, done);
  a.ldx(DW, r2, r10, kNumbers + 8).ldx(B, r1, r0, kFlags).or_(r1, r2).stx(B, r0, kFlags, r1);
  a.st(B, r0, kState, static_cast<std::int32_t>(TcpState::kClosing)).ja(done);
  a.label(rst);
  emit_end_flow(e, CloseReason::kRst, EBPF_FIELD(GlobalCounters, ct_closed), done);
  a.label(last_ack);
  emit_end_flow(e, CloseReason::kFin, EBPF_FIELD(GlobalCounters, ct_closed), done);
}
}  // namespace

void emit_conntrack_hit(Emitter& e) {
  Assembler& a = e.a;
  const std::string expired = e.unique("expired"), fresh = e.unique("fresh"), reopened = e.unique("reopened"),
                    same_connection = e.unique("same_connection");
  a.stx(DW, r10, slot::kCtPtr, r0);
  a.ldx(DW, r1, r0, 0).stx(DW, r10, slot::kNat, r1).ldx(DW, r1, r0, 8).stx(DW, r10, slot::kNat + 8, r1);
  a.ldx(H, r1, r0, EBPF_FIELD(ConntrackValue, nat_port).offset).stx(H, r10, slot::kNatPort, r1);
  a.ldx(W, r1, r0, EBPF_FIELD(ConntrackValue, backend_id).offset).stx(W, r10, slot::kBackendId, r1);
  emit_timeout(e);
  a.ldx(DW, r4, r10, slot::kNow).ldx(DW, r5, r0, EBPF_FIELD(ConntrackValue, last_seen_ns).offset);
  a.jle(r4, r5, fresh).sub(r4, r5).jgt(r4, r3, expired);
  a.label(fresh);
  // A bare SYN on a flow that has begun closing is the client reusing its source port for a new connection
  // (a retransmitted SYN finds the flow still opening): the old flow ends here and the SYN is a new flow,
  // with its own backend choice, as conntrack does when a SYN meets a closed connection.
  a.ldx(B, r1, r10, flow(kKeyProto)).jne(r1, kProtoTcp, same_connection);
  a.ldx(B, r1, r10, flow(kTcpFlags)).and_(r1, kTcpSyn | kTcpAck | kTcpRst).jne(r1, kTcpSyn, same_connection);
  a.ldx(B, r1, r0, EBPF_FIELD(ConntrackValue, state).offset).jge(r1, static_cast<std::int32_t>(TcpState::kFinWait), reopened);
  a.label(same_connection);
  a.ldx(DW, r1, r10, slot::kNow).stx(DW, r0, EBPF_FIELD(ConntrackValue, last_seen_ns).offset, r1);
  // Plain adds, not atomic ones: RSS/RPS steer a flow to one CPU, so two CPUs rarely update one entry at once,
  // and these counts only feed close events and the connection list. The two locked adds were ~9 ns of a
  // ~55 ns hot hit (datapath bench).
  a.ldx(DW, r1, r0, EBPF_FIELD(ConntrackValue, packets).offset).add(r1, 1).stx(DW, r0, EBPF_FIELD(ConntrackValue, packets).offset, r1);
  a.ldx(W, r2, r10, flow(kPacketLen)).ldx(DW, r1, r0, EBPF_FIELD(ConntrackValue, bytes).offset).add(r1, r2);
  a.stx(DW, r0, EBPF_FIELD(ConntrackValue, bytes).offset, r1);
  emit_tcp_state(e, label::kForward);  // ends with a jump to kForward
  // Idle past its timeout, or closed and its port reused: the flow is gone; this packet is judged as a new flow.
  a.label(expired);
  emit_end_flow(e, CloseReason::kIdle, EBPF_FIELD(GlobalCounters, ct_expired), kServiceThenNewFlow);
  a.label(reopened);
  emit_end_flow(e, CloseReason::kFin, EBPF_FIELD(GlobalCounters, ct_closed), kServiceThenNewFlow);
}

namespace {
// TC: DNAT with the skb helpers (they keep CHECKSUM_PARTIAL skbs right and unclone what they write). The
// header offsets come from the parse; kL3/kL4 become those offsets, since the helpers invalidate packet
// pointers. slot::kFib is free until the redirect path fills it, so it is the helpers' scratch.
void emit_tc_dnat(Emitter& e, std::string_view done) {
  Assembler& a = e.a;
  using ebpf::dsl::Endpoint;
  using ebpf::dsl::L4Proto;
  const std::string v6 = e.unique("tc_dnat_v6"), v4udp = e.unique("tc_dnat_v4_udp"), v6udp = e.unique("tc_dnat_v6_udp");
  a.ldx(H, kL3, r10, flow(EBPF_FIELD(ParsedFlow, l3_offset))).ldx(H, kL4, r10, flow(EBPF_FIELD(ParsedFlow, l4_offset)));
  a.ldx(B, r1, r10, flow(kKeyFamily)).jeq(r1, kFamilyV6, v6);
  a.ldx(B, r1, r10, flow(kKeyProto)).jeq(r1, kProtoUdp, v4udp);
  for (auto proto : {L4Proto::tcp, L4Proto::udp}) {
    if (proto == L4Proto::udp) a.label(v4udp);
    ebpf::dsl::tc_rewrite_ipv4(a, {.which = Endpoint::destination, .proto = proto, .skb = kCtx, .l3_off = kL3,
                                   .l4_off = kL4, .new_addr_slot = slot::kNat + 12, .new_port_slot = slot::kNatPort,
                                   .scratch_slot = slot::kFib},
                               label::kPassUntouched);
    a.ja(done);
  }
  a.label(v6);
  if (!e.options.ipv6) return;
  a.ldx(B, r1, r10, flow(kKeyProto)).jeq(r1, kProtoUdp, v6udp);
  for (auto proto : {L4Proto::tcp, L4Proto::udp}) {
    if (proto == L4Proto::udp) a.label(v6udp);
    ebpf::dsl::tc_rewrite_ipv6(a, {.which = Endpoint::destination, .proto = proto, .skb = kCtx, .l3_off = kL3,
                                   .l4_off = kL4, .new_addr_slot = slot::kNat, .new_port_slot = slot::kNatPort,
                                   .scratch_slot = slot::kFib},
                               label::kPassUntouched);
    a.ja(done);
  }
}

// DNAT of the packet's destination to slot::kNat; `bad` if the headers are no longer in bounds.
void emit_dnat(Emitter& e, std::string_view done) {
  if (e.tc()) return emit_tc_dnat(e, done);
  Assembler& a = e.a;
  using ebpf::dsl::Endpoint;
  using ebpf::dsl::L4Proto;
  a.ldx(W, r3, kCtx, ebpf::dsl::xdp_md::data_end);
  const std::string v6 = e.unique("dnat_v6"), v4udp = e.unique("dnat_v4_udp"), v6udp = e.unique("dnat_v6_udp");
  a.ldx(H, r4, r10, slot::kNatPort);
  a.ldx(B, r1, r10, flow(kKeyFamily)).jeq(r1, kFamilyV6, v6);
  a.ldx(W, r2, r10, slot::kNat + 12);
  a.ldx(B, r1, r10, flow(kKeyProto)).jeq(r1, kProtoUdp, v4udp);
  for (auto proto : {L4Proto::tcp, L4Proto::udp}) {
    if (proto == L4Proto::udp) a.label(v4udp);
    ebpf::dsl::xdp_rewrite_ipv4(a, {.which = Endpoint::destination, .proto = proto, .ip = kL3, .l4 = kL4, .data_end = r3,
                                    .addr = r2, .port = r4, .old_value = r5, .csum = {r0, r1}},
                                label::kPassUntouched);
    a.ja(done);
  }
  if (!e.options.ipv6) return;
  a.label(v6);
  a.ldx(B, r1, r10, flow(kKeyProto)).jeq(r1, kProtoUdp, v6udp);
  for (auto proto : {L4Proto::tcp, L4Proto::udp}) {
    if (proto == L4Proto::udp) a.label(v6udp);
    ebpf::dsl::xdp_rewrite_ipv6(a, {.which = Endpoint::destination, .proto = proto, .ip6 = kL3, .l4 = kL4, .data_end = r3,
                                    .addr = {r10, slot::kNat}, .port = r4, .old_value = r5, .csum = {r0, r1}},
                                label::kPassUntouched);
    a.ja(done);
  }
}

// kRedirect: bpf_fib_lookup for the rewritten destination, new MACs, bpf_redirect; XDP_PASS when the
// kernel has no complete route/neighbour (it then resolves it on the normal path).
void emit_redirect(Emitter& e) {
  Assembler& a = e.a;
  const std::string v6 = e.unique("fib_v6"), lookup = e.unique("fib_lookup");
  for (std::int16_t off = 0; off < fib::size; off += 8) a.st(DW, r10, static_cast<std::int16_t>(slot::kFib + off), 0);
  a.ldx(B, r1, r10, flow(kKeyProto)).stx(B, r10, slot::kFib + fib::l4_protocol, r1);
  a.ldx(H, r1, r10, flow(EBPF_FIELD(ConntrackKey, sport))).stx(H, r10, slot::kFib + fib::sport, r1);
  a.ldx(H, r1, r10, slot::kNatPort).stx(H, r10, slot::kFib + fib::dport, r1);
  if (e.tc()) {
    // tot_len stays 0: the kernel then checks the skb itself against the egress MTU, GSO included (a GSO
    // skb's length is far above the MTU and would fail a tot_len check).
    a.ldx(W, r1, kCtx, skb::ingress_ifindex).stx(W, r10, slot::kFib + fib::ifindex, r1);
  } else {
    a.ldx(W, r1, r10, flow(kPacketLen)).ldx(H, r2, r10, flow(EBPF_FIELD(ParsedFlow, l3_offset))).sub(r1, r2);
    a.stx(H, r10, slot::kFib + fib::tot_len, r1);
    a.ldx(W, r1, kCtx, ebpf::dsl::xdp_md::ingress_ifindex).stx(W, r10, slot::kFib + fib::ifindex, r1);
  }
  a.ldx(B, r1, r10, flow(kKeyFamily)).jeq(r1, kFamilyV6, v6);
  a.st(B, r10, slot::kFib + fib::family, kAfInet);
  a.ldx(W, r1, r10, flow(Field{static_cast<std::int16_t>(offsetof(ConntrackKey, src) + 12), W})).stx(W, r10, slot::kFib + fib::ipv4_src, r1);
  a.ldx(W, r1, r10, slot::kNat + 12).stx(W, r10, slot::kFib + fib::ipv4_dst, r1).ja(lookup);
  a.label(v6).st(B, r10, slot::kFib + fib::family, kAfInet6);
  e.copy_stack(flow(Field{static_cast<std::int16_t>(offsetof(ConntrackKey, src)), DW}), slot::kFib + fib::ipv6_src, 16);
  e.copy_stack(slot::kNat, slot::kFib + fib::ipv6_dst, 16);
  a.label(lookup);
  a.mov(r1, kCtx).mov(r2, r10).add(r2, slot::kFib).mov(r3, fib::size).mov(r4, 0).call(helper::fib_lookup);
  a.jne(r0, kFibSuccess, label::kPassUntouched);
  // Packet pointers are re-derived: the TC DNAT helpers invalidated them.
  if (e.tc()) ebpf::dsl::tc_load_data(a, kCtx, {r2, r3, r4, r5});
  else a.ldx(W, r2, kCtx, ebpf::dsl::xdp_md::data).ldx(W, r3, kCtx, ebpf::dsl::xdp_md::data_end);
  a.mov(r1, r2).add(r1, 14).jgt(r1, r3, label::kPassUntouched);
  {
    // A router's duty (ip_forward/ip6_forward do it in pass mode): TTL / hop limit minus one; a packet with
    // 1 or 0 left goes to the kernel, which answers ICMP time exceeded. The IP header is re-derived from r2
    // (the TC DNAT helpers invalidated kL3).
    const std::string ttl6 = e.unique("ttl6"), ttl_done = e.unique("ttl_done"), no_carry = e.unique("ttl_no_carry");
    a.ldx(H, r4, r10, flow(EBPF_FIELD(ParsedFlow, l3_offset))).and_(r4, 0xff).mov(r5, r2).add(r5, r4);  // bounded for the verifier
    a.ldx(B, r1, r10, flow(kKeyFamily)).jeq(r1, kFamilyV6, ttl6);
    a.mov(r1, r5).add(r1, 20).jgt(r1, r3, label::kPassUntouched);
    a.ldx(B, r1, r5, 8).jle(r1, 1, label::kPassUntouched).sub(r1, 1).stx(B, r5, 8, r1);
    // ip_decrease_ttl: check += htons(0x0100) with end-around carry (little-endian load: htons(0x0100) == 1).
    a.ldx(H, r1, r5, 10).add(r1, 1).jlt(r1, 0xffff, no_carry).add(r1, 1);
    a.label(no_carry).stx(H, r5, 10, r1).ja(ttl_done);
    a.label(ttl6).mov(r1, r5).add(r1, 40).jgt(r1, r3, label::kPassUntouched);
    a.ldx(B, r1, r5, 7).jle(r1, 1, label::kPassUntouched).sub(r1, 1).stx(B, r5, 7, r1);
    a.label(ttl_done);
  }
  a.ldx(H, r1, r10, slot::kFib + fib::dmac).stx(H, r2, 0, r1).ldx(W, r1, r10, slot::kFib + fib::dmac + 2).stx(W, r2, 2, r1);
  a.ldx(W, r1, r10, slot::kFib + fib::smac).stx(W, r2, 6, r1).ldx(H, r1, r10, slot::kFib + fib::smac + 4).stx(H, r2, 10, r1);
  // bpf_redirect returns XDP_REDIRECT or TC_ACT_REDIRECT, whichever the program type needs.
  a.ldx(W, r1, r10, slot::kFib + fib::ifindex).mov(r2, 0).call(helper::redirect).exit();
}
}  // namespace

void emit_forward(Emitter& e) {
  Assembler& a = e.a;
  const std::string verdict = e.unique("verdict");
  a.label(label::kForward);
  count_packet(e, "lb_be_stats", slot::kBackendId, EBPF_FIELD(BackendCounters, packets), EBPF_FIELD(BackendCounters, bytes));
  emit_dnat(e, verdict);
  a.label(verdict);
  if (e.options.redirect) {
    const std::string redirect = e.unique("redirect");
    a.ld_map_value(r1, "lb_config", 0).ldx(W, r1, r1, EBPF_FIELD(DataPathConfig, flags).offset);
    a.jset(r1, static_cast<std::int32_t>(config_flags::kRedirect), redirect);
    a.mov(r0, e.pass_verdict()).exit();
    a.label(redirect);
    emit_redirect(e);
  } else {
    a.mov(r0, e.pass_verdict()).exit();
  }
}

void emit_exits(Emitter& e) {
  Assembler& a = e.a;
  // An ICMP error about a reply the LB sent from the VIP goes to the flow's backend (icmp_error.hpp); the
  // kernel forwards it there. Any other ICMP is not a service packet.
  const std::string translated = e.unique("icmp_translated");
  a.label(label::kIcmp);
  emit_icmp_error_nat(a, {.direction = IcmpNatDirection::to_backend, .ctx = kCtx, .l3 = kL3, .l4 = kL4,
                          .data_end_field = e.tc() ? skb::data_end : ebpf::dsl::xdp_md::data_end,
                          .stack_offset = slot::kCtValue, .translated = translated, .untouched = label::kNotService,
                          .ipv6 = e.options.ipv6});
  a.label(translated);
  e.count_global(EBPF_FIELD(GlobalCounters, icmp_translated));
  a.ja(label::kPassUntouched);
  a.label(label::kNotService);
  e.count_global(EBPF_FIELD(GlobalCounters, not_service));
  a.label(label::kPassUntouched).mov(r0, e.pass_verdict()).exit();
  a.label(label::kMalformed);
  e.count_global(EBPF_FIELD(GlobalCounters, malformed));
  a.ja(label::kPassUntouched);
  const std::pair<std::string_view, DropReason> drops[] = {
      {label::kDropNoBackend, DropReason::kNoBackend},
      {label::kDropRateService, DropReason::kRateLimitService},
      {label::kDropRateSource, DropReason::kRateLimitSource},
      {label::kDropConntrackFull, DropReason::kConntrackFull},
      {label::kDropUnsupported, DropReason::kUnsupported},
  };
  for (const auto& [name, reason] : drops) {
    a.label(name);
    const auto field = Field{static_cast<std::int16_t>(offsetof(ServiceCounters, drops) + 8 * static_cast<std::size_t>(reason)), DW};
    e.count("lb_svc_stats", slot::kServiceId, field, 1);
    a.mov(r0, e.drop_verdict()).exit();
  }
}

}  // namespace xdp

ebpf::Result<ebpf::Bytecode> build_xdp_ingress(const XdpIngressOptions& options) {
  ebpf::Assembler a;
  xdp::Emitter e(a, options);
  xdp::emit_entry(e);
  xdp::emit_conntrack_hit(e);
  EBPF_TRY(xdp::emit_new_flow(e));
  xdp::emit_forward(e);
  xdp::emit_exits(e);
  return std::move(a).finish();
}

ebpf::Result<ebpf::Program> load_xdp_ingress(DataPathMaps& maps, const XdpIngressOptions& options) {
  auto code = EBPF_TRY(build_xdp_ingress(options));
  EBPF_TRY(code.resolve([&maps](std::string_view name) -> ebpf::Result<int> {
    ebpf::Map* map = maps.find(name);
    if (map == nullptr) return ebpf::Error::invalid("load_xdp_ingress", "no map named '" + std::string(name) + "'");
    return map->fd();
  }));
  ebpf::ProgramLoadOptions load;
  load.name = options.hook == IngressHook::tc ? "lb_tc_in" : "lb_xdp_in";
  return ebpf::Program::load(ingress_prog_type(options.hook), code.span(), load);
}

ebpf::ProgType ingress_prog_type(IngressHook hook) {
  return hook == IngressHook::tc ? ebpf::ProgType::sched_cls : ebpf::ProgType::xdp;
}

}  // namespace lb::dataplane
