// Map building blocks (see ebpf/dsl/maps.hpp).
#include "ebpf/dsl/maps.hpp"

#include <string>

#include "ebpf/helpers.hpp"
#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

// Arguments 2.. first (they may still read r1), then the map into r1, then the helper.
Assembler& call_on_map(Assembler& a, std::int32_t id, const MapRef& map, std::initializer_list<Operand> rest) {
  load_args(a, 2, rest);
  load_map(a, r1, map);
  return a.call_helper(id);
}
}  // namespace

Assembler& load_map(Assembler& a, Reg dst, const MapRef& map) {
  return map.fd >= 0 ? a.ld_map(dst, map.fd) : a.ld_map(dst, map.name);
}

Assembler& map_lookup(Assembler& a, const MapRef& map, Operand key) {
  return call_on_map(a, helper::map_lookup_elem, map, {key});
}

Assembler& map_lookup(Assembler& a, const MapRef& map, Operand key, Assembler::Label miss) {
  return map_lookup(a, map, key).jeq(r0, 0, miss);
}

Assembler& map_update(Assembler& a, const MapRef& map, Operand key, Operand value, Operand flags) {
  return call_on_map(a, helper::map_update_elem, map, {key, value, flags});
}

Assembler& map_delete(Assembler& a, const MapRef& map, Operand key) {
  return call_on_map(a, helper::map_delete_elem, map, {key});
}

Assembler& map_lookup_or_init(Assembler& a, const MapRef& map, Operand key, Operand initial,
                              Assembler::Label failed) {
  const std::string found = detail::local_label(a, "lookup_or_init_found");
  map_lookup(a, map, key).jne(r0, 0, found);
  map_update(a, map, key, initial, update_flag::noexist);  // EEXIST: another CPU inserted it first
  map_lookup(a, map, key, failed);
  return a.label(found);
}

Assembler& counter_add(Assembler& a, Reg ptr, std::int16_t off, Size size, Reg delta, Reg scratch, Sharing sharing) {
  if (sharing == Sharing::shared) return a.atomic_add(size, ptr, off, delta);
  return a.ldx(size, scratch, ptr, off).add(scratch, delta).stx(size, ptr, off, scratch);
}

Assembler& counter_add(Assembler& a, Reg ptr, std::int16_t off, Size size, std::int32_t delta, Reg scratch,
                       Sharing sharing) {
  if (sharing == Sharing::shared) return a.mov(scratch, delta).atomic_add(size, ptr, off, scratch);
  return a.ldx(size, scratch, ptr, off).add(scratch, delta).stx(size, ptr, off, scratch);
}

Assembler& map_counter_add(Assembler& a, const MapRef& map, Operand key, std::int16_t off, Size size,
                           std::int32_t delta, Sharing sharing) {
  const std::string skip = detail::local_label(a, "counter_skip");
  map_lookup(a, map, key, skip);
  counter_add(a, r0, off, size, delta, r1, sharing);
  return a.label(skip);
}

Assembler& tail_call(Assembler& a, Operand ctx, const MapRef& prog_array, Operand index) {
  // r2 stays in place while ctx and index move (so either may come from r2), then receives the map.
  load_args(a, 1, {ctx, r2, index});
  load_map(a, r2, prog_array);
  return a.call(helper::tail_call);
}

}  // namespace ebpf::dsl
