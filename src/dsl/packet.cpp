// XDP packet parsing building blocks (see ebpf/dsl/packet.hpp for the register contract).
#include "ebpf/dsl/packet.hpp"

#include <string>

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kEthHeader = 14;
constexpr std::int16_t kVlanTag = 4;
constexpr std::int16_t kIpv4MinHeader = 20;
constexpr std::int32_t kEthertypeVlan = 0x8100;
constexpr std::int32_t kEthertypeQinQ = 0x88a8;

// A label name unique within the program: steps may be used several times in one Assembler.
std::string local_label(const Assembler& a, const char* what) {
  return std::string("__dsl_") + what + "_" + std::to_string(a.size());
}
}  // namespace

Assembler& xdp_load_data(Assembler& a, Reg ctx, const PacketRegs& regs) {
  a.ldx(W, regs.data, ctx, xdp_md::data);
  a.ldx(W, regs.data_end, ctx, xdp_md::data_end);
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

Assembler& parse_ports(Assembler& a, const PacketRegs& regs, Reg src_port, Reg dst_port, Assembler::Label bad) {
  check_bounds(a, regs, 4, bad);
  a.ldx(H, src_port, regs.cursor, 0).be(src_port, 16);
  return a.ldx(H, dst_port, regs.cursor, 2).be(dst_port, 16);
}

}  // namespace ebpf::dsl
