// The XDP basic firewall seed program (see ebpf/dsl/firewall.hpp).
#include "ebpf/dsl/firewall.hpp"

#include "ebpf/dsl/packet.hpp"
#include "ebpf/helpers.hpp"
#include "seed_load.hpp"

namespace ebpf::dsl::firewall {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kKeySlot = -4;    // u32 source address for the blocklist lookup
constexpr std::int16_t kIndexSlot = -8;  // u32 counter index
constexpr std::int16_t kIpv4SourceOffset = 12;

// The counter index lives in its stack slot, kDropped when the IPv4 source is blocklisted. Keeping it there
// rather than in a callee-saved register spares the JIT a push/pop pair per packet (what clang does too); the
// slot doubles as the counters map key. Packet registers die here.
void classify(Assembler& a) {
  const PacketRegs regs;  // r2 data, r3 data_end, r4 cursor, r5 scratch
  a.st(W, r10, kIndexSlot, static_cast<std::int32_t>(kPassed));
  xdp_load_data(a, r1, regs);
  parse_ethernet(a, regs, r0, "count");
  a.jne(r0, 0x0800, "count");
  parse_ipv4(a, regs, r1, r0, "count");
  a.ldx(W, r5, r1, kIpv4SourceOffset).stx(W, r10, kKeySlot, r5);
  a.ld_map(r1, kBlocklistMap).mov(r2, r10).add(r2, kKeySlot).call(helper::map_lookup_elem);
  a.jeq(r0, 0, "count").st(W, r10, kIndexSlot, static_cast<std::int32_t>(kDropped));
}

// counters[index] += 1 on this CPU (per-CPU values: no atomic needed), then return DROP or PASS.
void count_and_return(Assembler& a) {
  a.label("count").ld_map(r1, kCountersMap).mov(r2, r10).add(r2, kIndexSlot).call(helper::map_lookup_elem);
  a.jeq(r0, 0, "verdict");
  a.ldx(DW, r1, r0, 0).add(r1, 1).stx(DW, r0, 0, r1);
  a.label("verdict").ldx(W, r1, r10, kIndexSlot).mov(r0, xdp_action::pass);
  a.jne(r1, static_cast<std::int32_t>(kDropped), "out").mov(r0, xdp_action::drop);
  a.label("out").exit();
}
}  // namespace

Result<Bytecode> build() {
  Assembler a;
  classify(a);
  count_and_return(a);
  return a.finish();
}

Result<Program> load(int blocklist_fd, int counters_fd, const ProgramLoadOptions& opts) {
  auto code = EBPF_TRY(build());
  EBPF_TRY(code.resolve(kBlocklistMap, blocklist_fd));
  EBPF_TRY(code.resolve(kCountersMap, counters_fd));
  return detail::load_seed(ProgType::xdp, code, "dsl_firewall", opts);
}

}  // namespace ebpf::dsl::firewall
