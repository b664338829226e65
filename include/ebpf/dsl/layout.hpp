// ebpf/dsl/layout.hpp — record layouts taken from C++ structs, so user space and a DSL-built BPF program share
// one definition of a map key/value (no hand-copied offsets that drift apart).
//
//   struct Flow { std::uint32_t saddr; std::uint16_t sport; std::uint64_t bytes; };
//   constexpr auto kBytes = EBPF_FIELD(Flow, bytes);            // {offset 8, access DW}
//   dsl::load_field(a, r1, r0, kBytes);                          // r1 = *(u64 *)(r0 + 8)
//   dsl::store_field(a, r0, kBytes, r1);                         // *(u64 *)(r0 + 8) = r1
//
// EBPF_FIELD is evaluated at compile time: a member that is not 1, 2, 4 or 8 bytes (arrays, nested structs) or
// lies beyond a 16-bit instruction offset is a compile error, so every Field can be loaded with one ldx.
// Use EBPF_FIELD only on standard-layout types (offsetof's requirement); the BPF side sees the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// A scalar member of a record: where it is and how wide a single load/store of it is.
struct Field {
  std::int16_t offset = 0;
  isa::Size size = isa::W;

  constexpr int bytes() const { return isa::bytes(size); }
  friend constexpr bool operator==(const Field&, const Field&) = default;
};

namespace detail {
// Not constexpr on purpose: reaching it while evaluating a Field makes the bad member a compile error.
void field_is_not_a_loadable_scalar();
void field_offset_out_of_range();

consteval Field make_field(std::size_t offset, std::size_t size) {
  if (offset > 32767) field_offset_out_of_range();
  isa::Size s = isa::B;
  switch (size) {
    case 1: s = isa::B; break;
    case 2: s = isa::H; break;
    case 4: s = isa::W; break;
    case 8: s = isa::DW; break;
    default: field_is_not_a_loadable_scalar();
  }
  return Field{static_cast<std::int16_t>(offset), s};
}
}  // namespace detail

// dst = record.member, where `base` points at the record (a map value, a stack slot, the context);
// `extra` shifts the record (e.g. a record stored at fp-16: base r10, extra -16).
inline Assembler& load_field(Assembler& a, isa::Reg dst, isa::Reg base, Field f, std::int16_t extra = 0) {
  return a.ldx(f.size, dst, base, static_cast<std::int16_t>(f.offset + extra));
}
// record.member = src.
inline Assembler& store_field(Assembler& a, isa::Reg base, Field f, isa::Reg src, std::int16_t extra = 0) {
  return a.stx(f.size, base, static_cast<std::int16_t>(f.offset + extra), src);
}
// record.member = imm (sign-extended to the field's width by the store).
inline Assembler& store_field_imm(Assembler& a, isa::Reg base, Field f, std::int32_t imm, std::int16_t extra = 0) {
  return a.st(f.size, base, static_cast<std::int16_t>(f.offset + extra), imm);
}
// Atomically record.member += src; only 4- and 8-byte fields have atomic adds (other sizes are rejected by
// Assembler::finish).
inline Assembler& add_field(Assembler& a, isa::Reg base, Field f, isa::Reg src, std::int16_t extra = 0) {
  return a.atomic_add(f.size, base, static_cast<std::int16_t>(f.offset + extra), src);
}

}  // namespace ebpf::dsl

// Field of `Type::member`, computed by the compiler from the struct itself.
#define EBPF_FIELD(Type, member) \
  (::ebpf::dsl::detail::make_field(offsetof(Type, member), sizeof(static_cast<Type*>(nullptr)->member)))
