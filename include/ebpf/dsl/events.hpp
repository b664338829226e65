// ebpf/dsl/events.hpp — sending records to user space: BPF ring buffer reserve / submit / discard / output and
// perf event output, with records laid out from a C++ struct (dsl/layout.hpp) that user space decodes with
// RingBuffer::consume<T> (ebpf/ringbuf.hpp) or PerfBuffer (ebpf/perf_buffer.hpp).
//
//   struct Event { std::uint32_t pid; std::uint64_t ts; };
//   dsl::ringbuf_reserve<Event>(a, "events", "full");      // r0 = record (never NULL after this)
//   a.mov(r6, r0);
//   dsl::store_field(a, r6, EBPF_FIELD(Event, pid), r7);
//   dsl::ringbuf_submit(a, r6);
//
// The verifier tracks a reserved record as a reference: every path must submit or discard it exactly once,
// and it must not be used afterwards. Keep it in r6..r9 across other helper calls.
#pragma once

#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/checksum.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// Flags of ringbuf submit / discard / output (BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP).
namespace ringbuf_flag {
inline constexpr std::int32_t none = 0, no_wakeup = 1, force_wakeup = 2;
}

// r0 = bpf_ringbuf_reserve(ring, size, 0); jumps to `full` when the ring has no room (r0 NULL). `size` must be
// a constant for the verifier to size the record.
Assembler& ringbuf_reserve(Assembler& a, const MapRef& ring, std::uint32_t size, Assembler::Label full);
template <class T>
Assembler& ringbuf_reserve(Assembler& a, const MapRef& ring, Assembler::Label full) {
  return ringbuf_reserve(a, ring, static_cast<std::uint32_t>(sizeof(T)), full);
}
// Publishes / drops a reserved record (the pointer ringbuf_reserve returned).
Assembler& ringbuf_submit(Assembler& a, isa::Reg record, std::int32_t flags = ringbuf_flag::none);
Assembler& ringbuf_discard(Assembler& a, isa::Reg record, std::int32_t flags = ringbuf_flag::none);
// r0 = bpf_ringbuf_output(ring, data, size, flags): copies `size` bytes at `data` (stack or map value) into a
// new record; 0 or a negative errno (-EAGAIN when full).
Assembler& ringbuf_output(Assembler& a, const MapRef& ring, Operand data, Operand size,
                          std::int32_t flags = ringbuf_flag::none);

// r0 = bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, data, size): one sample into this CPU's ring of a
// PERF_EVENT_ARRAY. The flag is 0xffffffff (zero-extended, not -1: the kernel rejects bits above the index).
Assembler& perf_event_output(Assembler& a, Operand ctx, const MapRef& perf_map, Operand data, Operand size);

}  // namespace ebpf::dsl
