// XDP packet parsing building blocks (see ebpf/dsl/packet.hpp for the register contract).
#include "ebpf/dsl/packet.hpp"

#include <string>

#include "ebpf/dsl/context.hpp"
#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kEthHeader = 14;
constexpr std::int16_t kVlanTag = 4;
constexpr std::int16_t kIpv4MinHeader = 20;
constexpr std::int32_t kEthertypeVlan = 0x8100;
constexpr std::int32_t kEthertypeQinQ = 0x88a8;

using detail::local_label;
}  // namespace

Assembler& xdp_load_data(Assembler& a, Reg ctx, const PacketRegs& regs) {
  a.ldx(W, regs.data, ctx, xdp_md::data);
  a.ldx(W, regs.data_end, ctx, xdp_md::data_end);
  return a.mov(regs.cursor, regs.data);
}

Assembler& tc_load_data(Assembler& a, Reg ctx, const PacketRegs& regs) {
  a.ldx(W, regs.data, ctx, ctx::sk_buff::data);
  a.ldx(W, regs.data_end, ctx, ctx::sk_buff::data_end);
  return a.mov(regs.cursor, regs.data);
}

Assembler& check_bounds(Assembler& a, const PacketRegs& regs, std::int16_t bytes, Assembler::Label bad) {
  // The verifier learns the packet range only from comparing a packet pointer with data_end.
  a.mov(regs.scratch, regs.cursor).add(regs.scratch, bytes);
  return a.jgt(regs.scratch, regs.data_end, bad);
}

Assembler& parse_ethernet(Assembler& a, const PacketRegs& regs, Reg ethertype, Assembler::Label bad) {
  const std::string vlan = local_label(a, "eth_vlan");
  const std::string done = local_label(a, "eth_done");
  check_bounds(a, regs, kEthHeader, bad);
  a.ldx(H, ethertype, regs.cursor, 12).be(ethertype, 16).add(regs.cursor, kEthHeader);
  a.jeq(ethertype, kEthertypeVlan, vlan).jeq(ethertype, kEthertypeQinQ, vlan).ja(done);
  a.label(vlan);  // TCI (2 bytes), then the encapsulated ethertype
  check_bounds(a, regs, kVlanTag, bad);
  a.ldx(H, ethertype, regs.cursor, 2).be(ethertype, 16).add(regs.cursor, kVlanTag);
  return a.label(done);
}

Assembler& parse_ipv4(Assembler& a, const PacketRegs& regs, Reg ip, Reg protocol, Assembler::Label bad) {
  check_bounds(a, regs, kIpv4MinHeader, bad);
  a.mov(ip, regs.cursor);
  // Header length = IHL * 4: masking bounds it to 0..60, which lets the verifier track the variable offset.
  a.ldx(B, regs.scratch, ip, 0).and_(regs.scratch, 0x0f).lsh(regs.scratch, 2);
  a.jlt(regs.scratch, kIpv4MinHeader, bad);
  a.add(regs.cursor, regs.scratch);
  a.jgt(regs.cursor, regs.data_end, bad);  // options included: cursor may equal data_end (no L4 bytes)
  return a.ldx(B, protocol, ip, 9);
}

Assembler& jump_if_ipv4_fragment(Assembler& a, const PacketRegs& regs, Reg ip, Assembler::Label fragment) {
  // Flags + fragment offset (bytes 6-7): MF is 0x2000, the offset the low 13 bits; DF (0x4000) is no fragment.
  a.ldx(H, regs.scratch, ip, 6).be(regs.scratch, 16);
  return a.jset(regs.scratch, 0x3fff, fragment);
}

namespace {
constexpr std::int32_t kHopByHop = 0, kRouting = 43, kFragment = 44, kAuthHeader = 51, kDestOptions = 60;
constexpr std::int16_t kIpv6Header = 40;

// One step of the extension header walk: dispatch on `protocol`; generic headers are (len + 1) * 8 bytes,
// AH (len + 2) * 4. Falls through to `next` after advancing, jumps to `done` for a non-extension header.
void ipv6_ext_step(Assembler& a, const PacketRegs& regs, Reg protocol, Assembler::Label bad,
                   Assembler::Label fragment, const std::string& done) {
  const std::string ah = local_label(a, "ip6_ah");
  const std::string generic = local_label(a, "ip6_ext");
  const std::string advance = local_label(a, "ip6_adv");
  a.jeq(protocol, kHopByHop, generic).jeq(protocol, kRouting, generic).jeq(protocol, kDestOptions, generic);
  a.jeq(protocol, kAuthHeader, ah).jeq(protocol, kFragment, fragment).ja(done);
  a.label(generic);
  check_bounds(a, regs, 2, bad);
  a.ldx(B, regs.scratch, regs.cursor, 1).add(regs.scratch, 1).lsh(regs.scratch, 3).ja(advance);
  a.label(ah);
  check_bounds(a, regs, 2, bad);
  a.ldx(B, regs.scratch, regs.cursor, 1).add(regs.scratch, 2).lsh(regs.scratch, 2);
  a.label(advance);
  a.ldx(B, protocol, regs.cursor, 0).add(regs.cursor, regs.scratch);
  a.jgt(regs.cursor, regs.data_end, bad);
}
}  // namespace

Assembler& parse_ipv6(Assembler& a, const PacketRegs& regs, Reg ip6, Reg protocol, Assembler::Label bad,
                      Assembler::Label fragment, const Ipv6ParseOptions& opts) {
  const std::string done = local_label(a, "ip6_done");
  check_bounds(a, regs, kIpv6Header, bad);
  a.mov(ip6, regs.cursor).ldx(B, protocol, ip6, 6).add(regs.cursor, kIpv6Header);
  for (int i = 0; i < opts.max_extension_headers; ++i) ipv6_ext_step(a, regs, protocol, bad, fragment, done);
  // Still an extension header after the last allowed one: too many.
  a.jeq(protocol, kHopByHop, bad).jeq(protocol, kRouting, bad).jeq(protocol, kDestOptions, bad);
  a.jeq(protocol, kAuthHeader, bad).jeq(protocol, kFragment, fragment);
  return a.label(done);
}

Assembler& parse_tcp(Assembler& a, const PacketRegs& regs, Reg l4, Reg flags, Assembler::Label bad) {
  check_bounds(a, regs, 20, bad);
  a.mov(l4, regs.cursor);
  // Data offset = high nibble of byte 12, in 32-bit words: (byte >> 4) * 4, bounded to 0..60 for the verifier.
  a.ldx(B, regs.scratch, l4, 12).rsh(regs.scratch, 4).lsh(regs.scratch, 2);
  a.jlt(regs.scratch, 20, bad);
  a.add(regs.cursor, regs.scratch).jgt(regs.cursor, regs.data_end, bad);
  return a.ldx(B, flags, l4, 13);
}

Assembler& parse_udp(Assembler& a, const PacketRegs& regs, Reg l4, Reg length, Assembler::Label bad) {
  check_bounds(a, regs, 8, bad);
  a.mov(l4, regs.cursor).ldx(H, length, l4, 4).be(length, 16);
  a.jlt(length, 8, bad);
  return a.add(regs.cursor, 8);
}

Assembler& parse_icmp(Assembler& a, const PacketRegs& regs, Reg l4, Reg type, Reg code, Assembler::Label bad) {
  check_bounds(a, regs, 4, bad);
  a.mov(l4, regs.cursor).ldx(B, type, l4, 0).ldx(B, code, l4, 1);
  return a.add(regs.cursor, 4);
}

Assembler& parse_ports(Assembler& a, const PacketRegs& regs, Reg src_port, Reg dst_port, Assembler::Label bad) {
  check_bounds(a, regs, 4, bad);
  a.ldx(H, src_port, regs.cursor, 0).be(src_port, 16);
  return a.ldx(H, dst_port, regs.cursor, 2).be(dst_port, 16);
}

}  // namespace ebpf::dsl
