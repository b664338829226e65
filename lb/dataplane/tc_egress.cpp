// ebpf-lb's TC egress SNAT program (behaviour in tc_egress.hpp).
#include "lb/dataplane/tc_egress.hpp"

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/events.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/rewrite.hpp"
#include "lb/common/abi.hpp"
#include "lb/dataplane/flow_parse.hpp"
#include "lb/dataplane/icmp_error.hpp"

namespace lb::dataplane {
namespace {

using namespace ebpf::isa;
using ebpf::Assembler;
using ebpf::dsl::Field;
namespace skb = ebpf::dsl::ctx::sk_buff;

// Stack frame (fp-relative). Every slot is 8-aligned.
constexpr std::int16_t kFlow = -56;        // ParsedFlow (56 bytes)
constexpr std::int16_t kNewAddr = -72;     // 16 bytes: the VIP (reverse entry's nat_addr)
constexpr std::int16_t kNewPort = -80;     // 2 bytes: the VIP port
constexpr std::int16_t kScratch = -104;    // 24 bytes for the rewrite helpers
constexpr std::int16_t kForward = -144;    // ConntrackKey of the client -> VIP direction (40 bytes)
constexpr std::int16_t kIndex = -152;      // u32 key for array lookups
constexpr std::int16_t kEvent = -224;      // FlowEvent (72 bytes); ICMP errors: IcmpNatScratch (64 bytes)
constexpr std::int16_t kSaved = -240;      // backend_id, service_id of the reverse entry (before deletion)
constexpr std::int16_t kCloseReason = -248;  // u8 CloseReason of the close event
static_assert(kFlow + static_cast<int>(sizeof(ParsedFlow)) == 0 && kNewAddr + 16 == kFlow &&
              kForward + static_cast<int>(sizeof(ConntrackKey)) == kScratch &&
              kEvent + static_cast<int>(sizeof(FlowEvent)) == kIndex);

constexpr std::int32_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04;

constexpr std::int16_t at(std::int16_t slot, Field f) { return static_cast<std::int16_t>(slot + f.offset); }

constexpr std::int16_t kFlowDst = offsetof(ParsedFlow, key.dst);
constexpr Field kFlowDport = EBPF_FIELD(ParsedFlow, key.dport);
constexpr Field kFlowProto = EBPF_FIELD(ParsedFlow, key.proto);
constexpr Field kFlowFamily = EBPF_FIELD(ParsedFlow, key.family);
constexpr Field kFlowL3 = EBPF_FIELD(ParsedFlow, l3_offset);
constexpr Field kFlowL4 = EBPF_FIELD(ParsedFlow, l4_offset);
constexpr Field kFlowTcpFlags = EBPF_FIELD(ParsedFlow, tcp_flags);
constexpr Field kFlowFragment = EBPF_FIELD(ParsedFlow, fragment);

constexpr Field kCtNatPort = EBPF_FIELD(ConntrackValue, nat_port);
constexpr Field kCtState = EBPF_FIELD(ConntrackValue, state);
constexpr Field kCtFlags = EBPF_FIELD(ConntrackValue, flags);
constexpr Field kCtBackend = EBPF_FIELD(ConntrackValue, backend_id);
constexpr Field kCtService = EBPF_FIELD(ConntrackValue, service_id);
constexpr Field kCtLastSeen = EBPF_FIELD(ConntrackValue, last_seen_ns);
constexpr Field kCtFinEnd = EBPF_FIELD(ConntrackValue, fin_end);
constexpr Field kCtPackets = EBPF_FIELD(ConntrackValue, packets);
constexpr Field kCtBytes = EBPF_FIELD(ConntrackValue, bytes);
constexpr std::int16_t kCtNatAddr = offsetof(ConntrackValue, nat_addr);

constexpr Field kKeySport = EBPF_FIELD(ConntrackKey, sport);
constexpr Field kKeyDport = EBPF_FIELD(ConntrackKey, dport);
constexpr Field kKeyProto = EBPF_FIELD(ConntrackKey, proto);
constexpr Field kKeyPad = EBPF_FIELD(ConntrackKey, pad);
constexpr std::int16_t kKeySrc = offsetof(ConntrackKey, src), kKeyDst = offsetof(ConntrackKey, dst);

constexpr Field kReplyPackets = EBPF_FIELD(BackendCounters, reply_packets);
constexpr Field kReplyBytes = EBPF_FIELD(BackendCounters, reply_bytes);
constexpr Field kConfigFlags = EBPF_FIELD(DataPathConfig, flags);

// Copies `bytes` (a multiple of 8) from [src + src_off] to [dst + dst_off] through r1.
void copy(Assembler& a, Reg dst, std::int16_t dst_off, Reg src, std::int16_t src_off, int bytes) {
  for (std::int16_t i = 0; i < bytes; i += 8)
    a.ldx(DW, r1, src, static_cast<std::int16_t>(src_off + i)).stx(DW, dst, static_cast<std::int16_t>(dst_off + i), r1);
}

// r0 = &map[*(u32 *)(fp + kIndex)] (or NULL), with the key stored from `key` first.
void lookup_index(Assembler& a, std::string_view map, Reg key) {
  a.stx(W, r10, kIndex, key).ld_map(r1, map).mov(r2, r10).add(r2, kIndex).call("map_lookup_elem");
}

// lb_global_stats[0].<field> += 1 (per-CPU value: a plain add).
void count_global(Assembler& a, std::int16_t field_offset, std::string_view done) {
  a.mov(r1, 0);
  lookup_index(a, "lb_global_stats", r1);
  a.jeq(r0, 0, done).ldx(DW, r1, r0, field_offset).add(r1, 1).stx(DW, r0, field_offset, r1);
}

// Reverse entry in r9 hit: accounting on the entry and the backend's reply counters. As on the ingress hit
// path: plain adds (a flow's replies are handled on one CPU at a time; these counts only feed close events and
// the connection list) and the coarse clock, which ingress also uses for last_seen and idle timeouts of
// seconds; under this hypervisor the precise clock read and the locked adds were the costliest part of a reply.
void account_reply(Assembler& a) {
  // packets += 1 and bytes += skb->len at `counters`; clobbers r1, r2.
  const auto count = [&a](Reg counters, Field packets, Field bytes) {
    ebpf::dsl::load_field(a, r1, counters, packets);
    a.add(r1, 1);
    ebpf::dsl::store_field(a, counters, packets, r1);
    a.ldx(W, r2, r6, skb::len);
    ebpf::dsl::load_field(a, r1, counters, bytes);
    a.add(r1, r2);
    ebpf::dsl::store_field(a, counters, bytes, r1);
  };
  count(r9, kCtPackets, kCtBytes);
  a.call("ktime_get_coarse_ns");
  ebpf::dsl::store_field(a, r9, kCtLastSeen, r0);
  ebpf::dsl::load_field(a, r1, r9, kCtBackend);
  lookup_index(a, "lb_be_stats", r1);
  a.jeq(r0, 0, "tc_accounted");
  count(r0, kReplyPackets, kReplyBytes);
  a.label("tc_accounted");
}

// The client -> VIP key of this flow at kForward, from the reply's key and the VIP saved at kNewAddr/kNewPort.
void build_forward_key(Assembler& a) {
  copy(a, r10, kForward + kKeySrc, r10, kFlow + kFlowDst, 16);  // client address
  copy(a, r10, kForward + kKeyDst, r10, kNewAddr, 16);             // VIP
  a.ldx(H, r1, r10, at(kFlow, kFlowDport)).stx(H, r10, at(kForward, kKeySport), r1);
  a.ldx(H, r1, r10, kNewPort).stx(H, r10, at(kForward, kKeyDport), r1);
  a.ldx(H, r1, r10, at(kFlow, kFlowProto)).stx(H, r10, at(kForward, kKeyProto), r1);  // proto + family
  a.st(H, r10, at(kForward, kKeyPad), 0);
}

// FIN from the backend: flag both entries, fin_wait; or closing after the client's FIN, and if this FIN
// acknowledges the client's, the client's next packet is the last ACK (kLastAckFromClient); FINs that crossed
// set no last-ACK flag (ct_flags). A first FIN records where it ends (fin_end, forward entry) for the client's
// FIN to be checked against. A retransmitted FIN changes nothing. r9 = reverse entry.
void backend_fin(Assembler& a) {
  ebpf::dsl::load_field(a, r1, r9, kCtFlags);
  a.jset(r1, ct_flags::kFinFromBackend, "tc_rewrite");
  emit_tcp_fin_numbers(a, {.ctx = r6, .skb = true, .flow_slot = kFlow, .scratch = kScratch, .unreadable = "tc_rewrite"});
  a.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, kForward).call("map_lookup_elem");
  a.mov(r3, static_cast<std::int32_t>(TcpState::kFinWait)).mov(r4, ct_flags::kFinFromBackend);
  a.jeq(r0, 0, "tc_fin_reverse");
  ebpf::dsl::load_field(a, r2, r0, kCtFlags);
  a.jset(r2, ct_flags::kFinFromClient, "tc_fin_closing");
  a.ldx(W, r5, r10, kScratch + kFinNumbersFinEnd).stx(W, r0, kCtFinEnd.offset, r5).ja("tc_fin_store");
  a.label("tc_fin_closing").mov(r3, static_cast<std::int32_t>(TcpState::kClosing));
  a.ldx(W, r5, r10, kScratch + kFinNumbersAck).ldx(W, r1, r0, kCtFinEnd.offset);
  emit_unless_fin_acked(a, r5, r1, "tc_fin_store").or_(r4, ct_flags::kLastAckFromClient);
  a.label("tc_fin_store").or_(r2, r4);
  ebpf::dsl::store_field(a, r0, kCtFlags, r2);
  ebpf::dsl::store_field(a, r0, kCtState, r3);
  a.label("tc_fin_reverse");
  ebpf::dsl::load_field(a, r2, r9, kCtFlags);
  a.or_(r2, r4);
  ebpf::dsl::store_field(a, r9, kCtFlags, r2);
  ebpf::dsl::store_field(a, r9, kCtState, r3);
}

// Close event at kEvent from the saved flow data; r7 = packets, r8 = bytes of both directions.
void emit_close_event(Assembler& a) {
  a.mov(r1, 0);
  lookup_index(a, "lb_config", r1);
  a.jeq(r0, 0, "tc_event_done");
  ebpf::dsl::load_field(a, r1, r0, kConfigFlags);
  a.jset(r1, config_flags::kEvents, "tc_event_build").ja("tc_event_done");
  a.label("tc_event_build");
  // type, family, proto, close_reason are bytes 0..3: one little-endian word.
  static_assert(offsetof(FlowEvent, family) == 1 && offsetof(FlowEvent, proto) == 2 && offsetof(FlowEvent, close_reason) == 3);
  a.ldx(B, r1, r10, at(kFlow, kFlowProto)).ldx(B, r2, r10, at(kFlow, kFlowFamily));
  a.lsh(r1, 8).or_(r1, r2).lsh(r1, 8).or_(r1, static_cast<std::int32_t>(FlowEventType::kClose));
  a.ldx(B, r2, r10, kCloseReason).lsh(r2, 24).or_(r1, r2);
  a.stx(W, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, type)), r1);
  a.ldx(W, r1, r10, kSaved + 4).stx(W, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, service_id)), r1);
  a.ldx(W, r1, r10, kSaved).stx(W, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, backend_id)), r1);
  a.ldx(W, r1, r10, at(kForward, kKeySport)).stx(W, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, sport)), r1);
  copy(a, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, src)), r10, kForward + kKeySrc, 32);
  a.call("ktime_get_ns").stx(DW, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, timestamp_ns)), r0);
  a.stx(DW, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, packets)), r7);
  a.stx(DW, r10, kEvent + static_cast<std::int16_t>(offsetof(FlowEvent, bytes)), r8);
  a.ld_map(r1, "lb_events").mov(r2, r10).add(r2, kEvent).mov(r3, static_cast<std::int32_t>(sizeof(FlowEvent)))
      .mov(r4, ebpf::dsl::ringbuf_flag::no_wakeup).call("ringbuf_output");  // drained on a timer, as at ingress
  a.jeq(r0, 0, "tc_event_done");
  count_global(a, offsetof(GlobalCounters, events_lost), "tc_event_done");
  a.label("tc_event_done");
}

// RST from the backend, or its last ACK after both FINs: both entries go, ct_closed++ (once: only if this
// program removed the forward one), close event with the reason at kCloseReason.
void backend_close(Assembler& a, bool events) {
  a.ldx(W, r1, r9, kCtBackend.offset).stx(W, r10, kSaved, r1);
  a.ldx(W, r1, r9, kCtService.offset).stx(W, r10, kSaved + 4, r1);
  ebpf::dsl::load_field(a, r7, r9, kCtPackets);
  ebpf::dsl::load_field(a, r8, r9, kCtBytes);
  a.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, kForward).call("map_lookup_elem");
  a.jeq(r0, 0, "tc_close_delete");
  ebpf::dsl::load_field(a, r1, r0, kCtPackets);
  a.add(r7, r1);
  ebpf::dsl::load_field(a, r1, r0, kCtBytes);
  a.add(r8, r1);
  a.label("tc_close_delete");
  a.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, kFlow).call("map_delete_elem");
  a.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, kForward).call("map_delete_elem");
  a.jne(r0, 0, "tc_rewrite");
  count_global(a, offsetof(GlobalCounters, ct_closed), "tc_close_counted");
  a.label("tc_close_counted");
  if (events) emit_close_event(a);
}

// Source := VIP with the checksum helpers, per family and protocol. Offsets come from the parse.
void rewrite_source(Assembler& a, bool ipv6) {
  using ebpf::dsl::L4Proto;
  a.label("tc_rewrite");
  ebpf::dsl::load_field(a, r7, r10, kFlowL3, kFlow);
  ebpf::dsl::load_field(a, r8, r10, kFlowL4, kFlow);
  a.ldx(B, r2, r10, at(kFlow, kFlowProto));
  if (ipv6) a.ldx(B, r1, r10, at(kFlow, kFlowFamily)).jeq(r1, kFamilyV6, "tc_rewrite_v6");
  for (L4Proto proto : {L4Proto::tcp, L4Proto::udp}) {
    const bool tcp = proto == L4Proto::tcp;
    if (tcp) a.jne(r2, kProtoTcp, "tc_v4_udp");
    else a.label("tc_v4_udp");
    ebpf::dsl::tc_rewrite_ipv4(a, {.which = ebpf::dsl::Endpoint::source, .proto = proto, .skb = r6, .l3_off = r7,
                                   .l4_off = r8, .new_addr_slot = kNewAddr + 12, .new_port_slot = kNewPort,
                                   .scratch_slot = kScratch}, "tc_pass");
    a.ja("tc_pass");
  }
  if (!ipv6) return;
  a.label("tc_rewrite_v6");
  for (L4Proto proto : {L4Proto::tcp, L4Proto::udp}) {
    const bool tcp = proto == L4Proto::tcp;
    if (tcp) a.jne(r2, kProtoTcp, "tc_v6_udp");
    else a.label("tc_v6_udp");
    ebpf::dsl::tc_rewrite_ipv6(a, {.which = ebpf::dsl::Endpoint::source, .proto = proto, .skb = r6, .l3_off = r7,
                                   .l4_off = r8, .new_addr_slot = kNewAddr, .new_port_slot = kNewPort,
                                   .scratch_slot = kScratch}, "tc_pass");
    a.ja("tc_pass");
  }
}

}  // namespace

ebpf::Result<ebpf::Bytecode> build_tc_egress(const TcEgressOptions& options) {
  Assembler a;
  a.mov(r6, r1);
  emit_tc_flow_parse(a, r6, {.regs = {r2, r3, r7, r8}, .labels = {"tc_pass", "tc_pass", "tc_icmp"}, .stack_offset = kFlow,
                             .ipv6 = options.ipv6});
  a.ldx(B, r1, r10, at(kFlow, kFlowFragment)).jne(r1, 0, "tc_pass");
  a.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, kFlow).call("map_lookup_elem");
  a.jne(r0, 0, "tc_hit");
  count_global(a, offsetof(GlobalCounters, ct_reverse_miss), "tc_pass");
  a.ja("tc_pass");

  a.label("tc_hit").mov(r9, r0);
  ebpf::dsl::load_field(a, r1, r9, kCtFlags);
  a.jset(r1, ct_flags::kReverse, "tc_reverse").ja("tc_pass");
  a.label("tc_reverse");
  copy(a, r10, kNewAddr, r9, kCtNatAddr, 16);
  ebpf::dsl::load_field(a, r1, r9, kCtNatPort);
  a.stx(H, r10, kNewPort, r1);
  account_reply(a);

  a.ldx(B, r1, r10, at(kFlow, kFlowProto)).jne(r1, kProtoTcp, "tc_rewrite");
  a.ldx(B, r1, r10, at(kFlow, kFlowTcpFlags)).jset(r1, kTcpRst, "tc_rst").jset(r1, kTcpFin, "tc_fin").jset(r1, kTcpSyn, "tc_rewrite");
  ebpf::dsl::load_field(a, r1, r9, kCtFlags);
  a.jset(r1, ct_flags::kLastAckFromBackend, "tc_last_ack").ja("tc_rewrite");
  a.label("tc_fin");
  build_forward_key(a);
  backend_fin(a);
  a.ja("tc_rewrite");
  a.label("tc_last_ack").st(B, r10, kCloseReason, static_cast<std::int32_t>(CloseReason::kFin)).ja("tc_close");
  a.label("tc_rst").st(B, r10, kCloseReason, static_cast<std::int32_t>(CloseReason::kRst));
  a.label("tc_close");
  build_forward_key(a);
  backend_close(a, options.events);
  rewrite_source(a, options.ipv6);

  // A backend's ICMP error about a DNATed packet: quote and source back to the VIP (icmp_error.hpp).
  a.label("tc_icmp");
  emit_icmp_error_nat(a, {.direction = IcmpNatDirection::to_client, .ctx = r6, .l3 = r7, .l4 = r8,
                          .data_end_field = skb::data_end, .stack_offset = kEvent, .translated = "tc_icmp_done",
                          .untouched = "tc_pass", .ipv6 = options.ipv6});
  a.label("tc_icmp_done");
  count_global(a, offsetof(GlobalCounters, icmp_translated), "tc_pass");

  a.label("tc_pass").mov(r0, ebpf::dsl::tc_action::ok).exit();
  return std::move(a).finish();
}

}  // namespace lb::dataplane
