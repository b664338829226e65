// Seed TC programs (see ebpf/dsl/tc_seeds.hpp).
#include "ebpf/dsl/tc_seeds.hpp"

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/packet.hpp"

namespace ebpf::dsl {

using namespace ebpf::isa;

Assembler& tc_pass_all(Assembler& a) { return a.mov(r0, tc_action::ok).exit(); }

Assembler& tc_ipv4_only(Assembler& a) {
  // The ethertype comes from the packet itself (not skb->protocol), so the filter sees what is on the wire.
  const PacketRegs regs;
  tc_load_data(a, r1, regs);
  parse_ethernet(a, regs, r0, "__tc_ipv4_only_drop");
  a.jne(r0, 0x0800, "__tc_ipv4_only_drop").mov(r0, tc_action::ok).exit();
  return a.label("__tc_ipv4_only_drop").mov(r0, tc_action::shot).exit();
}

Result<Program> load_tc_seed(TcSeed seed, ProgramLoadOptions opts) {
  Assembler a;
  if (seed == TcSeed::pass_all) tc_pass_all(a); else tc_ipv4_only(a);
  if (opts.name.empty()) opts.name = seed == TcSeed::pass_all ? "tc_pass_all" : "tc_ipv4_only";
  auto code = EBPF_TRY(a.finish());
  return Program::load(ProgType::sched_cls, code.span(), opts);
}

}  // namespace ebpf::dsl
