// libFuzzer target: arbitrary bytes as .BTF.ext over a fixed .BTF whose strings look like section names and
// access strings. Parsed CO-RE records are then computed (local = target) and applied to a scratch program.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ebpf/btf.hpp"
#include "ebpf/btf/core.hpp"
#include "ebpf/btf/ext.hpp"

namespace {
const ebpf::Btf& fixed_btf() {
  static const ebpf::Btf btf = [] {
    using namespace ebpf::btf;
    Builder b;
    TypeId i = b.add_int("int", 4, kIntSigned);
    TypeId u = b.add_int("unsigned int", 4);
    TypeId arr = b.add_array(i, i, 4);
    TypeId inner = b.add_struct("inner", 8, {{"x", i, 0, 0}, {"bf", u, 32, 3}});
    TypeId s = b.add_struct("s", 32, {{"a", i, 0, 0}, {"in", inner, 32, 0}, {"arr", arr, 96, 0}});
    b.add_struct("s___flavour", 4, {{"a", i, 0, 0}});
    b.add_typedef("s_t", s);
    b.add_enum("e", 4, {{"A", 1}, {"B", -2}}, true);
    b.add_func("f", b.add_func_proto(i, {}));
    for (const char* str : {"xdp", ".text", "0", "0:1", "0:1:1", "0:2:3", "1", "0:0:0:0", "5"}) b.add_string(str);
    return *b.build();
  }();
  return btf;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ebpf::Btf& btf = fixed_btf();
  auto ext = ebpf::btf::BtfExt::parse(std::as_bytes(std::span(data, size)), btf);
  if (!ext) return 0;
  std::vector<ebpf::Insn> insns(64, ebpf::Insn{0x61, 0, 1, 0, 0});
  for (const auto& sec : ext->core_relos()) {
    for (const auto& relo : sec.records) {
      auto res = ebpf::btf::core::compute(btf, relo, btf);
      if (res) (void)ebpf::btf::core::patch_insn(insns, relo.insn_off / 8 % insns.size(), *res);
    }
    (void)ebpf::btf::core::relocate(btf, sec.records, btf, insns);
  }
  return 0;
}
