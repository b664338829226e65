// New flows in the XDP ingress program (see xdp_emit.hpp for registers and stack slots): TCP SYN check,
// token buckets, table choice (service or source route), backend choice (flow hash / source hash / random
// with persistence, skipping unusable backends), conntrack insert of both directions, counters, open event.
#include <string>

#include "ebpf/dsl/rate_limit.hpp"
#include "ebpf/helpers.hpp"
#include "lb/dataplane/xdp_emit.hpp"

namespace lb::dataplane::xdp {

using namespace ebpf::isa;
namespace helper = ebpf::helper;

namespace {
constexpr std::int16_t at(std::int16_t slot, Field f) { return static_cast<std::int16_t>(slot + f.offset); }
constexpr std::int16_t flow(Field f) { return at(slot::kFlow, f); }
constexpr std::int16_t svc(Field f) { return f.offset; }

constexpr std::int32_t kBpfAny = 0, kBpfNoExist = 1;
constexpr std::int32_t kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;
// How many consecutive table slots are tried when the chosen backend cannot take new flows (the control
// plane removes such backends from the tables; this only bridges the moment before it does).
constexpr int kPickAttempts = 4;
constexpr std::int16_t kTableOffset = slot::kTable, kTableSize = slot::kTable + 4;

constexpr Field kSrc = Field{static_cast<std::int16_t>(offsetof(ConntrackKey, src)), DW};
static_assert(sizeof(ebpf::dsl::TokenBucket) == sizeof(TokenBucket) &&
              offsetof(ebpf::dsl::TokenBucket, last_refill_ns) == offsetof(TokenBucket, last_refill_ns) &&
              ebpf::dsl::kNanoTokensPerToken == kNanoTokensPerToken);
static_assert(sizeof(SourceRateKey) == sizeof(PersistKey) && offsetof(SourceRateKey, service_id) == offsetof(PersistKey, service_id));

// {client address, service id} at slot::kAux: the key of lb_src_rate and lb_persist.
void build_source_key(Emitter& e) {
  e.copy_stack(flow(kSrc), slot::kAux, sizeof(Addr));
  e.a.ldx(W, r1, r10, slot::kServiceId).stx(W, r10, at(slot::kAux, EBPF_FIELD(PersistKey, service_id)), r1);
}

// One token from the bucket at r0 with the service's rate/burst fields, or `denied`. r9 survives.
ebpf::Result<void> take_token(Emitter& e, Field rate, Field burst, std::string_view denied) {
  e.a.stx(DW, r10, slot::kSvcPtr, kSvc);
  e.a.ldx(DW, r2, r10, slot::kNow).ldx(W, r3, kSvc, svc(rate)).ldx(W, r4, kSvc, svc(burst));
  EBPF_TRY(ebpf::dsl::token_bucket_take(e.a, {.bucket = r0, .now_ns = r2, .rate = r3, .burst = r4, .scratch = {r1, r5, r9}}, denied));
  e.a.ldx(DW, kSvc, r10, slot::kSvcPtr);
  return ebpf::ok();
}

ebpf::Result<void> emit_rate_limits(Emitter& e) {
  Assembler& a = e.a;
  const std::string source = e.unique("rate_source"), have = e.unique("rate_source_have"), done = e.unique("rate_done");
  constexpr Field kFlags = EBPF_FIELD(ServiceValue, flags);
  a.ldx(W, r1, kSvc, svc(kFlags)).and_(r1, static_cast<std::int32_t>(service_flags::kRateLimitService)).jeq(r1, 0, source);
  e.lookup("lb_svc_rate", slot::kServiceId);
  a.jeq(r0, 0, source);
  EBPF_TRY(take_token(e, EBPF_FIELD(ServiceValue, svc_rate), EBPF_FIELD(ServiceValue, svc_burst), label::kDropRateService));
  a.label(source);
  a.ldx(W, r1, kSvc, svc(kFlags)).and_(r1, static_cast<std::int32_t>(service_flags::kRateLimitSource)).jeq(r1, 0, done);
  build_source_key(e);
  e.lookup("lb_src_rate", slot::kAux);
  a.jne(r0, 0, have);
  // A source seen for the first time: an empty record is a full bucket (token_bucket_take's rule).
  a.st(DW, r10, slot::kCtValue, 0).st(DW, r10, slot::kCtValue + 8, 0);
  e.update("lb_src_rate", slot::kAux, slot::kCtValue, kBpfNoExist);
  e.lookup("lb_src_rate", slot::kAux);
  a.jeq(r0, 0, done);
  a.label(have);
  EBPF_TRY(take_token(e, EBPF_FIELD(ServiceValue, src_rate), EBPF_FIELD(ServiceValue, src_burst), label::kDropRateSource));
  a.label(done);
  return ebpf::ok();
}

// slot::kTable = the service's table, or its source route's when one matches the client.
void emit_table(Emitter& e) {
  Assembler& a = e.a;
  const std::string done = e.unique("table_done");
  a.ldx(W, r1, kSvc, svc(EBPF_FIELD(ServiceValue, maglev_offset))).stx(W, r10, kTableOffset, r1);
  a.ldx(W, r1, kSvc, svc(EBPF_FIELD(ServiceValue, maglev_size))).stx(W, r10, kTableSize, r1);
  if (e.options.source_routes) {
    a.ldx(W, r1, kSvc, svc(EBPF_FIELD(ServiceValue, flags)));
    a.and_(r1, static_cast<std::int32_t>(service_flags::kHasSourceRoutes)).jeq(r1, 0, done);
    // The full-length key of one client (make_source_lookup_key): prefixlen 32 + 128, id big-endian.
    a.st(W, r10, at(slot::kAux, EBPF_FIELD(SourceRouteKey, prefixlen)), 32 + 128);
    a.ldx(W, r1, r10, slot::kServiceId).be(r1, 32).stx(W, r10, at(slot::kAux, EBPF_FIELD(SourceRouteKey, service_id)), r1);
    e.copy_stack(flow(kSrc), static_cast<std::int16_t>(slot::kAux + offsetof(SourceRouteKey, addr)), sizeof(Addr));
    e.lookup("lb_src_routes", slot::kAux);
    a.jeq(r0, 0, done);
    a.ldx(W, r1, r0, EBPF_FIELD(SourceRouteValue, maglev_offset).offset).stx(W, r10, kTableOffset, r1);
    a.ldx(W, r1, r0, EBPF_FIELD(SourceRouteValue, maglev_size).offset).stx(W, r10, kTableSize, r1);
  }
  a.label(done);
  a.ldx(W, r1, r10, kTableSize).jeq(r1, 0, label::kDropNoBackend);
}

// Jumps to `usable` when the BackendValue* in r0 may take new flows; clobbers r1.
void check_usable(Emitter& e, std::string_view usable) {
  constexpr std::int32_t kMask = backend_flags::kInUse | backend_flags::kDraining | backend_flags::kUnhealthy;
  e.a.ldx(B, r1, r0, EBPF_FIELD(BackendValue, flags).offset).and_(r1, kMask).jeq(r1, backend_flags::kInUse, usable);
}

// slot::kPick = the index in the table: random (with persistence), source hash or flow hash. Jumps to
// `chosen` directly when a persisted backend is still usable (r0 = its BackendValue*).
void emit_index(Emitter& e, const std::string& first_probe, std::string_view chosen) {
  Assembler& a = e.a;
  const std::string random = e.unique("sched_random"), source = e.unique("hash_source"), have = e.unique("have_index"),
                    draw = e.unique("random_draw");
  a.ldx(W, r1, kSvc, svc(EBPF_FIELD(ServiceValue, flags)));
  a.jset(r1, static_cast<std::int32_t>(service_flags::kSchedRandom), random);
  a.jset(r1, static_cast<std::int32_t>(service_flags::kPersistSource), source);
  e.flow_hash(sizeof(ConntrackKey) / 8);
  a.ja(have);
  a.label(source);
  e.flow_hash(sizeof(Addr) / 8);
  a.label(have).ldx(W, r2, r10, kTableSize).mod(r1, r2).stx(W, r10, slot::kPick, r1);
  a.ja(first_probe);
  a.label(random);
  build_source_key(e);
  e.lookup("lb_persist", slot::kAux);
  a.jeq(r0, 0, draw);
  a.ldx(DW, r1, r10, slot::kNow).stx(DW, r0, EBPF_FIELD(PersistValue, last_seen_ns).offset, r1);
  a.ldx(W, r1, r0, EBPF_FIELD(PersistValue, backend_id).offset).stx(W, r10, slot::kBackendId, r1);
  e.lookup_index("lb_backends", r1);
  a.jeq(r0, 0, draw);
  check_usable(e, chosen);
  a.label(draw).call(helper::get_prandom_u32).ldx(W, r2, r10, kTableSize).mod(r0, r2).stx(W, r10, slot::kPick, r0);
}
}  // namespace

// Tries kPickAttempts consecutive slots from slot::kPick; r0 = BackendValue* at `chosen`.
static void emit_pick(Emitter& e, const std::string& first_probe, std::string_view chosen) {
  Assembler& a = e.a;
  for (int k = 0; k < kPickAttempts; ++k) {
    const std::string next = e.unique("probe_next"), store = e.unique("probe_store");
    a.label(k == 0 ? first_probe : e.unique("probe"));
    a.ldx(W, r1, r10, slot::kPick).ldx(W, r2, r10, kTableOffset).add(w1, w2);
    e.lookup_index("lb_maglev", r1);
    a.jeq(r0, 0, next);
    a.ldx(W, r1, r0, 0).stx(W, r10, slot::kBackendId, r1);
    e.lookup_index("lb_backends", r1);
    a.jeq(r0, 0, next);
    check_usable(e, chosen);
    a.label(next).ldx(W, r1, r10, slot::kPick).add(r1, 1).ldx(W, r2, r10, kTableSize).jlt(r1, r2, store).mov(r1, 0);
    a.label(store).stx(W, r10, slot::kPick, r1);
  }
  a.ja(label::kDropNoBackend);
}

namespace {
// The reverse key (backend -> client) is taken. When that entry translates back to this flow's own VIP:port it
// is this very 5-tuple's, left behind after the LRU evicted its forward entry (one-shot UDP flows: the reply
// referenced the reverse entry, nothing the forward one) and now met again because the client reused its
// source port: overwrite it and go to `inserted`. Anything else belongs to another flow: fall through (refuse).
void take_over_stale_reverse(Emitter& e, std::string_view inserted) {
  Assembler& a = e.a;
  constexpr std::int16_t v = slot::kCtValue;
  const std::string refuse = e.unique("reverse_taken");
  e.lookup("lb_conntrack", slot::kRevKey);
  a.jeq(r0, 0, refuse);
  a.ldx(B, r1, r0, EBPF_FIELD(ConntrackValue, flags).offset).and_(r1, ct_flags::kReverse).jeq(r1, 0, refuse);
  for (std::int16_t off : {0, 8}) a.ldx(DW, r1, r0, off).ldx(DW, r2, r10, static_cast<std::int16_t>(v + off)).jne(r1, r2, refuse);
  constexpr Field kNatPort = EBPF_FIELD(ConntrackValue, nat_port);
  a.ldx(H, r1, r0, kNatPort.offset).ldx(H, r2, r10, at(v, kNatPort)).jne(r1, r2, refuse);
  e.update("lb_conntrack", slot::kRevKey, v, kBpfAny);
  a.jeq(r0, 0, inserted);
  a.label(refuse);
}

// Forward and reverse conntrack entries for the backend at r0, then counters and the open event.
void emit_insert(Emitter& e) {
  Assembler& a = e.a;
  const std::string udp = e.unique("ct_udp"), inserted = e.unique("ct_inserted");
  constexpr std::int16_t v = slot::kCtValue;
  a.ldx(DW, r1, r0, 0).stx(DW, r10, slot::kNat, r1).ldx(DW, r1, r0, 8).stx(DW, r10, slot::kNat + 8, r1);
  a.ldx(H, r1, r0, EBPF_FIELD(BackendValue, port).offset).stx(H, r10, slot::kNatPort, r1);
  e.copy_stack(slot::kNat, v, sizeof(Addr));
  a.stx(H, r10, at(v, EBPF_FIELD(ConntrackValue, nat_port)), r1);
  a.mov(r2, static_cast<std::int32_t>(TcpState::kNone)).ldx(B, r1, r10, flow(EBPF_FIELD(ConntrackKey, proto)));
  a.jne(r1, kProtoTcp, udp).mov(r2, static_cast<std::int32_t>(TcpState::kSynSent));
  a.label(udp).stx(B, r10, at(v, EBPF_FIELD(ConntrackValue, state)), r2);
  a.st(B, r10, at(v, EBPF_FIELD(ConntrackValue, flags)), 0);
  a.ldx(W, r1, r10, slot::kBackendId).stx(W, r10, at(v, EBPF_FIELD(ConntrackValue, backend_id)), r1);
  a.ldx(W, r1, r10, slot::kServiceId).stx(W, r10, at(v, EBPF_FIELD(ConntrackValue, service_id)), r1);
  a.st(W, r10, at(v, EBPF_FIELD(ConntrackValue, fin_end)), 0);
  a.ldx(DW, r1, r10, slot::kNow).stx(DW, r10, at(v, EBPF_FIELD(ConntrackValue, created_ns)), r1);
  a.stx(DW, r10, at(v, EBPF_FIELD(ConntrackValue, last_seen_ns)), r1);
  a.st(DW, r10, at(v, EBPF_FIELD(ConntrackValue, packets)), 1);
  a.ldx(W, r1, r10, flow(EBPF_FIELD(ParsedFlow, packet_len))).stx(DW, r10, at(v, EBPF_FIELD(ConntrackValue, bytes)), r1);
  e.update("lb_conntrack", slot::kFlow, v, kBpfNoExist);
  a.jne(r0, 0, label::kDropConntrackFull);
  // Reverse entry: backend -> client, translating back to the VIP; counts start at zero (TC counts replies).
  e.build_reverse_key();
  e.copy_stack(flow(Field{static_cast<std::int16_t>(offsetof(ConntrackKey, dst)), DW}), v, sizeof(Addr));
  a.ldx(H, r1, r10, flow(EBPF_FIELD(ConntrackKey, dport))).stx(H, r10, at(v, EBPF_FIELD(ConntrackValue, nat_port)), r1);
  a.st(B, r10, at(v, EBPF_FIELD(ConntrackValue, flags)), ct_flags::kReverse);
  a.st(DW, r10, at(v, EBPF_FIELD(ConntrackValue, packets)), 0).st(DW, r10, at(v, EBPF_FIELD(ConntrackValue, bytes)), 0);
  e.update("lb_conntrack", slot::kRevKey, v, kBpfNoExist);
  a.jeq(r0, 0, inserted);
  take_over_stale_reverse(e, inserted);
  e.remove("lb_conntrack", slot::kFlow);
  a.ja(label::kDropConntrackFull);
  a.label(inserted);
  e.count_global(EBPF_FIELD(GlobalCounters, ct_created));
  e.count("lb_svc_stats", slot::kServiceId, EBPF_FIELD(ServiceCounters, new_flows), 1);
  e.count("lb_be_stats", slot::kBackendId, EBPF_FIELD(BackendCounters, new_flows), 1);
  e.emit_event(FlowEventType::kOpen, CloseReason::kNone, false);
  a.ja(label::kForward);
}

// With the random scheduler, remember the client's backend (lb_persist) so its next flows go there too.
void emit_persist(Emitter& e, std::string_view done) {
  Assembler& a = e.a;
  a.ldx(W, r1, kSvc, svc(EBPF_FIELD(ServiceValue, flags)));
  a.and_(r1, static_cast<std::int32_t>(service_flags::kSchedRandom)).jeq(r1, 0, done);
  a.stx(DW, r10, slot::kCtPtr, r0);
  build_source_key(e);
  constexpr std::int16_t v = slot::kCtValue;
  a.ldx(W, r1, r10, slot::kBackendId).stx(W, r10, at(v, EBPF_FIELD(PersistValue, backend_id)), r1);
  a.st(W, r10, at(v, EBPF_FIELD(PersistValue, pad)), 0);
  a.ldx(DW, r1, r10, slot::kNow).stx(DW, r10, at(v, EBPF_FIELD(PersistValue, last_seen_ns)), r1);
  e.update("lb_persist", slot::kAux, v, kBpfAny);
  a.ldx(DW, r0, r10, slot::kCtPtr);
}
}  // namespace

ebpf::Result<void> emit_new_flow(Emitter& e) {
  Assembler& a = e.a;
  const std::string checked = e.unique("syn_checked"), chosen = e.unique("chosen"), persisted = e.unique("persisted");
  a.label(label::kNewFlow);
  // TCP: only a SYN (no ACK, no RST) opens a flow; anything else without an entry passes untouched.
  a.ldx(B, r1, r10, flow(EBPF_FIELD(ConntrackKey, proto))).jne(r1, kProtoTcp, checked);
  a.ldx(B, r1, r10, flow(EBPF_FIELD(ParsedFlow, tcp_flags))).and_(r1, kTcpSyn | kTcpAck | kTcpRst);
  a.jne(r1, kTcpSyn, label::kPassUntouched);
  a.label(checked);
  if (e.options.rate_limits) EBPF_TRY(emit_rate_limits(e));
  emit_table(e);
  const std::string first_probe = e.unique("first_probe");
  emit_index(e, first_probe, persisted);
  emit_pick(e, first_probe, chosen);
  a.label(chosen);
  emit_persist(e, persisted);
  a.label(persisted);
  emit_insert(e);
  return ebpf::ok();
}

}  // namespace lb::dataplane::xdp
