// Seed XDP event producer (see ebpf/dsl/seeds_events.hpp).
#include "ebpf/dsl/seeds_events.hpp"

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/events.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/dsl/memory.hpp"
#include "ebpf/dsl/packet.hpp"
#include "seed_load.hpp"

namespace ebpf::dsl::packet_events {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kIpv4Source = 12, kIpv4Destination = 16;
constexpr std::int32_t kTcp = 6, kUdp = 17;

// r6 = ctx, r7 = the reserved record (zeroed). A full ring counts a drop and passes.
Result<void> reserve(Assembler& a) {
  a.mov(r6, r1);
  ringbuf_reserve<PacketEvent>(a, kEventsMap, "ring_full");
  a.mov(r7, r0);
  return stack_zero(a, r7, 0, sizeof(PacketEvent));
}

// Fills the record from the frame; every exit leads to "submit" (the record must be submitted on every path).
void fill(Assembler& a) {
  const PacketRegs p;  // r2 data, r3 data_end, r4 cursor, r5 scratch
  xdp_load_data(a, r6, p);
  a.ldx(W, r1, r6, ctx::xdp::ingress_ifindex);
  store_field(a, r7, EBPF_FIELD(PacketEvent, ifindex), r1);
  a.mov(r1, p.data_end).sub(r1, p.data);
  store_field(a, r7, EBPF_FIELD(PacketEvent, len), r1);
  parse_ethernet(a, p, r0, "submit");
  store_field(a, r7, EBPF_FIELD(PacketEvent, ethertype), r0);
  a.jne(r0, 0x0800, "submit");
  parse_ipv4(a, p, r1, r0, "submit");
  store_field(a, r7, EBPF_FIELD(PacketEvent, protocol), r0);
  a.ldx(W, r8, r1, kIpv4Source);
  store_field(a, r7, EBPF_FIELD(PacketEvent, saddr), r8);
  a.ldx(W, r8, r1, kIpv4Destination);
  store_field(a, r7, EBPF_FIELD(PacketEvent, daddr), r8);
  jump_if_ipv4_fragment(a, p, r1, "submit");  // later fragments carry no ports
  a.jeq(r0, kTcp, "ports").jne(r0, kUdp, "submit");
  a.label("ports");
  parse_ports(a, p, r8, r9, "submit");
  store_field(a, r7, EBPF_FIELD(PacketEvent, sport), r8);
  store_field(a, r7, EBPF_FIELD(PacketEvent, dport), r9);
}

void finish_up(Assembler& a) {
  a.label("submit");
  ringbuf_submit(a, r7);
  a.mov(r0, xdp_action::pass).exit();
  a.label("ring_full").st(W, r10, -4, 0);
  map_counter_add(a, kDropsMap, Address{r10, -4}, 0, DW, 1, Sharing::shared);
  a.mov(r0, xdp_action::pass).exit();
}
}  // namespace

Result<Bytecode> build() {
  Assembler a;
  EBPF_TRY(reserve(a));
  fill(a);
  finish_up(a);
  return a.finish();
}

Result<Program> load(int events_fd, int drops_fd, const ProgramLoadOptions& opts) {
  auto code = EBPF_TRY(build());
  EBPF_TRY(code.resolve(kEventsMap, events_fd));
  EBPF_TRY(code.resolve(kDropsMap, drops_fd));
  return detail::load_seed(ProgType::xdp, code, "dsl_pkt_events", opts);
}

}  // namespace ebpf::dsl::packet_events
