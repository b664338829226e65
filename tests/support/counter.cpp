#include "support/counter.hpp"

#include "ebpf/syscall.hpp"

namespace ebpf::test {

std::uint64_t CountingProgram::slot(std::uint32_t i) const {
  std::uint32_t key = 0;
  std::uint64_t value[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
  if (i >= 4 || !sys::map_lookup_elem(map.get(), &key, value)) return ~0ULL;
  return value[i];
}

Result<Fd> counter_map(std::uint32_t slots) {
  if (slots == 0 || slots > 4) return Error::invalid("counter_map", "1 to 4 slots");
  sys::MapCreateAttr attr{.map_type = static_cast<std::uint32_t>(MapType::array), .key_size = 4,
                          .value_size = 8 * slots, .max_entries = 1};
  return sys::map_create(attr);
}

void emit_count(Assembler& a, const Fd& map) {
  using namespace isa;
  a.ld_map_value(r7, map.get(), 0).mov(r4, 1).atomic_add(DW, r7, 0, r4);
}

Result<CountingProgram> counting_program(ProgType type, int retval, const ProgramLoadOptions& options) {
  auto map = EBPF_TRY(counter_map());
  Assembler a;
  emit_count(a, map);
  a.mov(isa::r0, retval).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  auto program = EBPF_TRY(Program::load(type, code.span(), options));
  return CountingProgram{std::move(map), std::move(program)};
}

}  // namespace ebpf::test
