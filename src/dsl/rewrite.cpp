// NAT rewrite fragments (see ebpf/dsl/rewrite.hpp for the register contracts).
#include "ebpf/dsl/rewrite.hpp"

#include "ebpf/helpers.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

// Header offsets (RFC 791, 8200, 793, 768).
constexpr std::int16_t kIpv4Csum = 10, kIpv4Src = 12, kIpv4Dst = 16, kIpv4Header = 20;
constexpr std::int16_t kIpv6Src = 8, kIpv6Dst = 24, kIpv6Header = 40;
constexpr std::int16_t kL4SrcPort = 0, kL4DstPort = 2, kTcpCsum = 16, kUdpCsum = 6;

std::int16_t ipv4_addr_off(Endpoint e) { return e == Endpoint::source ? kIpv4Src : kIpv4Dst; }
std::int16_t ipv6_addr_off(Endpoint e) { return e == Endpoint::source ? kIpv6Src : kIpv6Dst; }
std::int16_t port_off(Endpoint e) { return e == Endpoint::source ? kL4SrcPort : kL4DstPort; }
std::int16_t l4_csum_off(L4Proto p) { return p == L4Proto::tcp ? kTcpCsum : kUdpCsum; }
CsumOptions l4_options(L4Proto p) { return {.udp = p == L4Proto::udp}; }

// Jumps to `bad` unless [ptr, ptr + bytes) is inside the packet.
void check(Assembler& a, Reg ptr, std::int16_t bytes, Reg data_end, Reg scratch, Assembler::Label bad) {
  a.mov(scratch, ptr).add(scratch, bytes).jgt(scratch, data_end, bad);
}

// Port rewrite shared by IPv4 and IPv6: the port is covered by the L4 checksum only.
void xdp_rewrite_port(Assembler& a, Endpoint which, L4Proto proto, Reg l4, Reg port, Reg old_value,
                      const CsumScratch& csum) {
  a.ldx(H, old_value, l4, port_off(which));
  csum_replace2(a, l4, l4_csum_off(proto), old_value, port, csum, l4_options(proto));
  a.stx(H, l4, port_off(which), port);
}

void swap(Assembler& a, Size size, Reg base, std::int16_t x, std::int16_t y, Reg t1, Reg t2) {
  a.ldx(size, t1, base, x).ldx(size, t2, base, y).stx(size, base, x, t2).stx(size, base, y, t1);
}
}  // namespace

Assembler& xdp_rewrite_ipv4(Assembler& a, const Ipv4Rewrite& r, Assembler::Label bad) {
  check(a, r.ip, kIpv4Header, r.data_end, r.old_value, bad);
  check(a, r.l4, l4_rewrite_bytes(r.proto), r.data_end, r.old_value, bad);
  const std::int16_t addr_off = ipv4_addr_off(r.which);
  a.ldx(W, r.old_value, r.ip, addr_off);
  csum_replace4(a, r.ip, kIpv4Csum, r.old_value, r.addr, r.csum);
  csum_replace4(a, r.l4, l4_csum_off(r.proto), r.old_value, r.addr, r.csum, l4_options(r.proto));
  a.stx(W, r.ip, addr_off, r.addr);
  if (r.port) xdp_rewrite_port(a, r.which, r.proto, r.l4, *r.port, r.old_value, r.csum);
  return a;
}

Assembler& xdp_rewrite_ipv6(Assembler& a, const Ipv6Rewrite& r, Assembler::Label bad) {
  check(a, r.ip6, kIpv6Header, r.data_end, r.old_value, bad);
  check(a, r.l4, l4_rewrite_bytes(r.proto), r.data_end, r.old_value, bad);
  const std::int16_t addr_off = ipv6_addr_off(r.which);
  csum_replace16(a, r.l4, l4_csum_off(r.proto), Memory16{r.ip6, addr_off}, r.addr, r.csum, l4_options(r.proto));
  for (std::int16_t word = 0; word < 16; word += 4) {
    a.ldx(W, r.old_value, r.addr.ptr, static_cast<std::int16_t>(r.addr.off + word));
    a.stx(W, r.ip6, static_cast<std::int16_t>(addr_off + word), r.old_value);
  }
  if (r.port) xdp_rewrite_port(a, r.which, r.proto, r.l4, *r.port, r.old_value, r.csum);
  return a;
}

Assembler& swap_macs(Assembler& a, Reg eth, Reg t1, Reg t2) {
  swap(a, W, eth, 0, 6, t1, t2);
  swap(a, H, eth, 4, 10, t1, t2);
  return a;
}

Assembler& swap_ipv4_addrs(Assembler& a, Reg ip, Reg t1, Reg t2) {
  swap(a, W, ip, kIpv4Src, kIpv4Dst, t1, t2);
  return a;
}

Assembler& swap_ipv6_addrs(Assembler& a, Reg ip6, Reg t1, Reg t2) {
  for (std::int16_t word = 0; word < 16; word += 4)
    swap(a, W, ip6, static_cast<std::int16_t>(kIpv6Src + word), static_cast<std::int16_t>(kIpv6Dst + word), t1, t2);
  return a;
}

Assembler& swap_ports(Assembler& a, Reg l4, Reg t1, Reg t2) {
  swap(a, H, l4, kL4SrcPort, kL4DstPort, t1, t2);
  return a;
}

// --- TC ----------------------------------------------------------------------------------------------------

namespace {
// `off` + k as a helper operand: an immediate stays one, a register becomes register + k.
Operand plus(const Operand& off, std::int16_t k) {
  if (const auto* imm = std::get_if<std::int32_t>(&off)) return *imm + k;
  if (const auto* reg = std::get_if<Reg>(&off)) return Address{*reg, k};
  const Address& addr = std::get<Address>(off);
  return Address{addr.base, static_cast<std::int16_t>(addr.off + k)};
}

void fail_on_error(Assembler& a, Assembler::Label bad) { a.jne(r0, 0, bad); }

void skb_load_bytes(Assembler& a, Reg skb, const Operand& off, std::int16_t slot, std::int32_t len,
                    Assembler::Label bad) {
  call_with(a, helper::skb_load_bytes, {skb, off, Address{r10, slot}, len});
  fail_on_error(a, bad);
}

void skb_store(Assembler& a, Reg skb, const Operand& off, std::int16_t slot, std::int32_t len, Assembler::Label bad) {
  skb_store_bytes(a, skb, off, Address{r10, slot}, len, 0);
  fail_on_error(a, bad);
}

std::int32_t l4_flags(L4Proto proto) { return proto == L4Proto::udp ? csum_flags::mark_mangled_0 : 0; }

// Port rewrite with the helpers: old port to scratch_slot, L4 checksum update, then the store.
void tc_rewrite_port(Assembler& a, Endpoint which, L4Proto proto, Reg skb, const Operand& l4_off,
                     std::int16_t new_port_slot, std::int16_t scratch_slot, Assembler::Label bad) {
  const Operand port_at = plus(l4_off, port_off(which));
  skb_load_bytes(a, skb, port_at, scratch_slot, 2, bad);
  a.ldx(H, r3, r10, scratch_slot).ldx(H, r4, r10, new_port_slot);
  l4_csum_replace(a, skb, plus(l4_off, l4_csum_off(proto)), r3, r4, csum_flags::size2 | l4_flags(proto));
  fail_on_error(a, bad);
  skb_store(a, skb, port_at, new_port_slot, 2, bad);
}
}  // namespace

Assembler& tc_rewrite_ipv4(Assembler& a, const TcIpv4Rewrite& r, Assembler::Label bad) {
  const Operand addr_at = plus(r.l3_off, ipv4_addr_off(r.which));
  skb_load_bytes(a, r.skb, addr_at, r.scratch_slot, 4, bad);
  // The L4 checksum first: the helpers read the old address from r3 and the new one from r4.
  a.ldx(W, r3, r10, r.scratch_slot).ldx(W, r4, r10, r.new_addr_slot);
  l4_csum_replace(a, r.skb, plus(r.l4_off, l4_csum_off(r.proto)), r3, r4,
                  csum_flags::size4 | csum_flags::pseudo_hdr | l4_flags(r.proto));
  fail_on_error(a, bad);
  a.ldx(W, r3, r10, r.scratch_slot).ldx(W, r4, r10, r.new_addr_slot);
  l3_csum_replace(a, r.skb, plus(r.l3_off, kIpv4Csum), r3, r4, csum_flags::size4);
  fail_on_error(a, bad);
  skb_store(a, r.skb, addr_at, r.new_addr_slot, 4, bad);
  if (r.new_port_slot)
    tc_rewrite_port(a, r.which, r.proto, r.skb, r.l4_off, *r.new_port_slot,
                    static_cast<std::int16_t>(r.scratch_slot + 4), bad);
  return a;
}

Assembler& tc_rewrite_ipv6(Assembler& a, const TcIpv6Rewrite& r, Assembler::Label bad) {
  const Operand addr_at = plus(r.l3_off, ipv6_addr_off(r.which));
  skb_load_bytes(a, r.skb, addr_at, r.scratch_slot, 16, bad);
  // One csum_diff over the whole address, applied to the L4 checksum as a difference (size 0, from 0).
  csum_diff(a, Address{r10, r.scratch_slot}, 16, Address{r10, r.new_addr_slot}, 16, 0);
  l4_csum_replace(a, r.skb, plus(r.l4_off, l4_csum_off(r.proto)), 0, r0,
                  csum_flags::size_diff | csum_flags::pseudo_hdr | csum_flags::ipv6 | l4_flags(r.proto));
  fail_on_error(a, bad);
  skb_store(a, r.skb, addr_at, r.new_addr_slot, 16, bad);
  if (r.new_port_slot)
    tc_rewrite_port(a, r.which, r.proto, r.skb, r.l4_off, *r.new_port_slot,
                    static_cast<std::int16_t>(r.scratch_slot + 16), bad);
  return a;
}

}  // namespace ebpf::dsl
