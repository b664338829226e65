// Shared emitters of the XDP ingress program (see xdp_emit.hpp): lookups, per-CPU counters, keys, events,
// and the flow hash that mirrors lb/common/flow_hash.hpp.
#include <string>

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/events.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/helpers.hpp"
#include "lb/common/flow_hash.hpp"
#include "lb/dataplane/xdp_emit.hpp"

namespace lb::dataplane::xdp {

using namespace ebpf::isa;
namespace helper = ebpf::helper;

namespace {
constexpr std::int16_t at(std::int16_t slot, Field f) { return static_cast<std::int16_t>(slot + f.offset); }
constexpr std::int16_t at(std::int16_t slot, std::size_t off) { return static_cast<std::int16_t>(slot + static_cast<std::int16_t>(off)); }
}  // namespace

std::int32_t Emitter::pass_verdict() const {
  return tc() ? ebpf::dsl::tc_action::ok : ebpf::dsl::xdp_action::pass;
}

std::int32_t Emitter::drop_verdict() const {
  return tc() ? ebpf::dsl::tc_action::shot : ebpf::dsl::xdp_action::drop;
}

std::string Emitter::unique(std::string_view what) {
  return "__xdp_" + std::string(what) + "_" + std::to_string(counter_++);
}

void Emitter::lookup(std::string_view map, std::int16_t key_slot) {
  a.ld_map(r1, map).mov(r2, r10).add(r2, key_slot).call(helper::map_lookup_elem);
}

void Emitter::lookup_index(std::string_view map, Reg index_reg) {
  a.stx(W, r10, slot::kIndex, index_reg);
  lookup(map, slot::kIndex);
}

void Emitter::update(std::string_view map, std::int16_t key_slot, std::int16_t value_slot, std::int32_t flags) {
  a.ld_map(r1, map).mov(r2, r10).add(r2, key_slot).mov(r3, r10).add(r3, value_slot).mov(r4, flags);
  a.call(helper::map_update_elem);
}

void Emitter::remove(std::string_view map, std::int16_t key_slot) {
  a.ld_map(r1, map).mov(r2, r10).add(r2, key_slot).call(helper::map_delete_elem);
}

void Emitter::count(std::string_view map, std::int16_t index_slot, Field field, std::int32_t value) {
  const std::string skip = unique("count");
  lookup(map, index_slot);
  a.jeq(r0, 0, skip);
  a.ldx(field.size, r1, r0, field.offset).add(r1, value).stx(field.size, r0, field.offset, r1);
  a.label(skip);
}

void Emitter::count_global(Field field) {
  a.st(W, r10, slot::kIndex, 0);
  count("lb_global_stats", slot::kIndex, field, 1);
}

void Emitter::copy_stack(std::int16_t from, std::int16_t to, std::int16_t bytes) {
  for (std::int16_t off = 0; off < bytes; off += 8)
    a.ldx(DW, r0, r10, static_cast<std::int16_t>(from + off)).stx(DW, r10, static_cast<std::int16_t>(to + off), r0);
}

void Emitter::build_reverse_key() {
  constexpr std::int16_t kKey = slot::kFlow;
  copy_stack(slot::kNat, at(slot::kRevKey, offsetof(ConntrackKey, src)), sizeof(Addr));
  copy_stack(at(kKey, offsetof(ConntrackKey, src)), at(slot::kRevKey, offsetof(ConntrackKey, dst)), sizeof(Addr));
  a.ldx(H, r0, r10, slot::kNatPort).stx(H, r10, at(slot::kRevKey, EBPF_FIELD(ConntrackKey, sport)), r0);
  a.ldx(H, r0, r10, at(kKey, EBPF_FIELD(ConntrackKey, sport)));
  a.stx(H, r10, at(slot::kRevKey, EBPF_FIELD(ConntrackKey, dport)), r0);
  // proto, family and pad: one 4-byte word, identical in both directions.
  static_assert(offsetof(ConntrackKey, pad) + 2 == sizeof(ConntrackKey) && offsetof(ConntrackKey, proto) == 36);
  a.ldx(W, r0, r10, at(kKey, EBPF_FIELD(ConntrackKey, proto))).stx(W, r10, at(slot::kRevKey, EBPF_FIELD(ConntrackKey, proto)), r0);
}

void Emitter::emit_event(FlowEventType type, CloseReason reason, bool with_counts) {
  if (!options.events) return;
  const std::string done = unique("event_done"), reserved = unique("event_reserved");
  a.ld_map_value(r1, "lb_config", 0).ldx(W, r1, r1, EBPF_FIELD(DataPathConfig, flags).offset);
  a.and_(r1, static_cast<std::int32_t>(config_flags::kEvents)).jeq(r1, 0, done);
  a.ld_map(r1, "lb_events").mov(r2, static_cast<std::int32_t>(sizeof(FlowEvent))).mov(r3, 0);
  a.call(helper::ringbuf_reserve).jne(r0, 0, reserved);
  count_global(EBPF_FIELD(GlobalCounters, events_lost));
  a.ja(done);
  a.label(reserved);
  constexpr std::int16_t kKey = slot::kFlow;
  a.st(B, r0, EBPF_FIELD(FlowEvent, type).offset, static_cast<std::int32_t>(type));
  a.st(B, r0, EBPF_FIELD(FlowEvent, close_reason).offset, static_cast<std::int32_t>(reason));
  a.ldx(B, r1, r10, at(kKey, EBPF_FIELD(ConntrackKey, family))).stx(B, r0, EBPF_FIELD(FlowEvent, family).offset, r1);
  a.ldx(B, r1, r10, at(kKey, EBPF_FIELD(ConntrackKey, proto))).stx(B, r0, EBPF_FIELD(FlowEvent, proto).offset, r1);
  a.ldx(W, r1, r10, slot::kServiceId).stx(W, r0, EBPF_FIELD(FlowEvent, service_id).offset, r1);
  a.ldx(W, r1, r10, slot::kBackendId).stx(W, r0, EBPF_FIELD(FlowEvent, backend_id).offset, r1);
  static_assert(offsetof(FlowEvent, dport) == offsetof(FlowEvent, sport) + 2);
  a.ldx(W, r1, r10, at(kKey, EBPF_FIELD(ConntrackKey, sport))).stx(W, r0, EBPF_FIELD(FlowEvent, sport).offset, r1);
  static_assert(offsetof(FlowEvent, dst) == offsetof(FlowEvent, src) + 16 && offsetof(ConntrackKey, dst) == 16);
  for (std::int16_t off = 0; off < 32; off += 8)
    a.ldx(DW, r1, r10, static_cast<std::int16_t>(kKey + off)).stx(DW, r0, static_cast<std::int16_t>(offsetof(FlowEvent, src) + off), r1);
  a.ldx(DW, r1, r10, slot::kNow).stx(DW, r0, EBPF_FIELD(FlowEvent, timestamp_ns).offset, r1);
  if (with_counts) {
    a.ldx(DW, r2, r10, slot::kCtPtr);
    a.ldx(DW, r1, r2, EBPF_FIELD(ConntrackValue, packets).offset).stx(DW, r0, EBPF_FIELD(FlowEvent, packets).offset, r1);
    a.ldx(DW, r1, r2, EBPF_FIELD(ConntrackValue, bytes).offset).stx(DW, r0, EBPF_FIELD(FlowEvent, bytes).offset, r1);
  } else {
    a.st(DW, r0, EBPF_FIELD(FlowEvent, packets).offset, 0).st(DW, r0, EBPF_FIELD(FlowEvent, bytes).offset, 0);
  }
  // No wakeup: the reader drains the ring on a short timer (lb/dataplane/events.hpp), so a connection storm
  // costs no reader wakeup per flow.
  a.mov(r1, r0).mov(r2, ebpf::dsl::ringbuf_flag::no_wakeup).call(helper::ringbuf_submit);
  a.label(done);
}

void Emitter::flow_hash(std::size_t words) {
  a.ld_imm64(r1, kFlowHashSeed).ld_imm64(r2, kFlowHashMul);
  for (std::size_t i = 0; i < words; ++i)
    a.ldx(DW, r3, r10, static_cast<std::int16_t>(slot::kFlow + 8 * static_cast<std::int16_t>(i))).xor_(r1, r3).mul(r1, r2);
  a.mov(r3, r1).rsh(r3, kFlowHashFinalShift1).xor_(r1, r3);
  a.ld_imm64(r2, kFlowHashFinalMul).mul(r1, r2);
  a.mov(r3, r1).rsh(r3, kFlowHashFinalShift2).xor_(r1, r3);
}

}  // namespace lb::dataplane::xdp
