// Ring buffer and perf event output blocks (see ebpf/dsl/events.hpp).
#include "ebpf/dsl/events.hpp"

#include "ebpf/helpers.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;
}

Assembler& ringbuf_reserve(Assembler& a, const MapRef& ring, std::uint32_t size, Assembler::Label full) {
  a.mov(r2, static_cast<std::int32_t>(size)).mov(r3, 0);
  load_map(a, r1, ring);
  return a.call(helper::ringbuf_reserve).jeq(r0, 0, full);
}

Assembler& ringbuf_submit(Assembler& a, Reg record, std::int32_t flags) {
  return call_with(a, helper::ringbuf_submit, {record, flags});
}

Assembler& ringbuf_discard(Assembler& a, Reg record, std::int32_t flags) {
  return call_with(a, helper::ringbuf_discard, {record, flags});
}

Assembler& ringbuf_output(Assembler& a, const MapRef& ring, Operand data, Operand size, std::int32_t flags) {
  load_args(a, 2, {data, size, flags});
  load_map(a, r1, ring);
  return a.call(helper::ringbuf_output);
}

Assembler& perf_event_output(Assembler& a, Operand ctx, const MapRef& perf_map, Operand data, Operand size) {
  // r2 keeps its place while the others move (any of them may come from r2), then receives the map.
  load_args(a, 1, {ctx, r2, r3, data, size});
  a.mov(w3, -1);  // BPF_F_CURRENT_CPU: a 32-bit move zero-extends to 0x00000000ffffffff
  load_map(a, r2, perf_map);
  return a.call(helper::perf_event_output);
}

}  // namespace ebpf::dsl
