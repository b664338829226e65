// ebpf/dsl/maps.hpp — map building blocks: lookup / update / delete, lookup-or-init, counters safe for per-CPU
// and shared maps, and tail calls.
//
// Maps are named (a relocation that Bytecode::resolve patches with the fd at load time) or given by fd.
// Keys, values and the context are dsl::Operands (see dsl/checksum.hpp): a register, an immediate or an
// Address {base, off} — e.g. Address{r10, -8} for a key stored on the stack at fp-8. As with every helper
// call, r0 receives the result and r1..r5 are clobbered, so values still needed afterwards belong in r6..r9
// or on the stack.
//
//   a.st(W, r10, -4, 7);                                           // key 7 at fp-4
//   dsl::map_lookup(a, "counters", dsl::Address{r10, -4}, "miss");  // r0 = &counters[7], or goto miss
//   dsl::counter_add(a, r0, 0, DW, 1, r1, dsl::Sharing::shared);    // atomic +1
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/checksum.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// A map the program refers to: by name (resolved at load time) or by an fd known now.
struct MapRef {
  std::string_view name;
  int fd = -1;
  constexpr MapRef(std::string_view n) : name(n) {}
  constexpr MapRef(const char* n) : name(n) {}
  constexpr MapRef(int map_fd) : fd(map_fd) {}
};

// dst = the map (LD_IMM64 map_fd pseudo load).
Assembler& load_map(Assembler& a, isa::Reg dst, const MapRef& map);

// BPF_ANY / BPF_NOEXIST / BPF_EXIST / BPF_F_LOCK for map_update.
namespace update_flag {
inline constexpr std::int32_t any = 0, noexist = 1, exist = 2, lock = 4;
}

// r0 = bpf_map_lookup_elem(map, key): a pointer to the value, or NULL.
Assembler& map_lookup(Assembler& a, const MapRef& map, Operand key);
// The same, jumping to `miss` when there is no value (r0 is then known non-NULL after the block).
Assembler& map_lookup(Assembler& a, const MapRef& map, Operand key, Assembler::Label miss);
// r0 = bpf_map_update_elem(map, key, value, flags): 0 or a negative errno.
Assembler& map_update(Assembler& a, const MapRef& map, Operand key, Operand value,
                      Operand flags = update_flag::any);
// r0 = bpf_map_delete_elem(map, key): 0 or a negative errno (-ENOENT when absent).
Assembler& map_delete(Assembler& a, const MapRef& map, Operand key);

// r0 = the value of `key`; when it is absent, inserts `initial` with BPF_NOEXIST (a value inserted by another
// CPU in between wins: EEXIST is fine) and looks up again. Jumps to `failed` when there is still no value (the
// map is full, or an array index is out of range). `key` and `initial` are read after helper calls, so they
// must be stack/map Addresses or registers r6..r9, not r1..r5.
Assembler& map_lookup_or_init(Assembler& a, const MapRef& map, Operand key, Operand initial,
                              Assembler::Label failed);

// How a counter is shared: a per-CPU map value is only touched by one CPU at a time, a shared one by all.
enum class Sharing { per_cpu, shared };

// *(size *)(ptr + off) += delta. Shared: one atomic add (sizes W and DW only: the ISA has no narrower
// atomics; an immediate delta goes through `scratch`). Per-CPU: a plain load, add and store through `scratch`,
// cheaper and any size. `scratch` must differ from `ptr` and `delta`.
Assembler& counter_add(Assembler& a, isa::Reg ptr, std::int16_t off, isa::Size size, isa::Reg delta,
                       isa::Reg scratch, Sharing sharing);
Assembler& counter_add(Assembler& a, isa::Reg ptr, std::int16_t off, isa::Size size, std::int32_t delta,
                       isa::Reg scratch, Sharing sharing);

// map[key].(off) += delta when the key exists; nothing otherwise. r0..r5 are clobbered.
Assembler& map_counter_add(Assembler& a, const MapRef& map, Operand key, std::int16_t off, isa::Size size,
                           std::int32_t delta, Sharing sharing);

// bpf_tail_call(ctx, prog_array, index): on success the program continues as the program at `index` and
// never returns here; on failure (empty slot, index out of range, more than 33 chained calls) execution falls
// through to the next instruction with r0 = a negative errno.
Assembler& tail_call(Assembler& a, Operand ctx, const MapRef& prog_array, Operand index);

}  // namespace ebpf::dsl
