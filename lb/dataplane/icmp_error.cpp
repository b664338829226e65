// ICMP error translation for ebpf-lb's programs (contract in icmp_error.hpp).
#include "lb/dataplane/icmp_error.hpp"

#include <initializer_list>
#include <string>
#include <utility>

#include "ebpf/dsl/checksum.hpp"
#include "ebpf/dsl/layout.hpp"
#include "lb/dataplane/flow_parse.hpp"

namespace lb::dataplane {

namespace {
using namespace ebpf::isa;
using ebpf::Assembler;
using ebpf::dsl::Field;
using ebpf::dsl::Memory16;

constexpr ebpf::dsl::CsumScratch kCsum{r0, r1};
constexpr Reg kInner = r9;     // quoted IP header
constexpr Reg kInnerL4 = r4;   // quoted TCP/UDP header (8 bytes verified)
constexpr Reg kDataEnd = r3;

// ICMP header: type, code, checksum, 4 bytes that depend on the type; the quote follows.
constexpr std::int16_t kIcmpChecksum = 2, kIcmpQuote = 8;
constexpr std::int32_t kIpv4MfAndOffset = 0x3fff, kIpv4Offset = 0x1fff;
// IPv4 header offsets (RFC 791) and IPv6 (RFC 8200).
constexpr std::int16_t kV4Fragment = 6, kV4Proto = 9, kV4Checksum = 10, kV4Src = 12, kV4Dst = 16;
constexpr std::int16_t kV6NextHeader = 6, kV6Src = 8, kV6Dst = 24, kV6Header = 40;

constexpr Field kKeySrc = Field{static_cast<std::int16_t>(offsetof(ConntrackKey, src)), DW};
constexpr Field kKeyDst = Field{static_cast<std::int16_t>(offsetof(ConntrackKey, dst)), DW};
constexpr Field kKeySport = EBPF_FIELD(ConntrackKey, sport);
constexpr Field kKeyDport = EBPF_FIELD(ConntrackKey, dport);
constexpr Field kKeyProto = EBPF_FIELD(ConntrackKey, proto);
constexpr Field kKeyFamily = EBPF_FIELD(ConntrackKey, family);
constexpr Field kKeyPad = EBPF_FIELD(ConntrackKey, pad);
constexpr Field kNewAddr = Field{static_cast<std::int16_t>(offsetof(IcmpNatScratch, new_addr)), DW};
constexpr Field kNewPort = EBPF_FIELD(IcmpNatScratch, new_port);
constexpr Field kOldCsum = EBPF_FIELD(IcmpNatScratch, old_csum);
constexpr Field kCtFlags = EBPF_FIELD(ConntrackValue, flags);
constexpr Field kCtNatPort = EBPF_FIELD(ConntrackValue, nat_port);
static_assert(offsetof(ConntrackValue, nat_addr) == 0);

bool callee_saved(Reg r) { return r.id >= 6 && r.id <= 9; }

// Which fields the direction rewrites: the quoted endpoint that was NATed and the outer address that may
// be that same host.
struct Fields {
  std::int16_t v4_inner, v4_outer, v6_inner, v6_outer, port;
};
constexpr Fields fields_for(IcmpNatDirection d) {
  return d == IcmpNatDirection::to_client ? Fields{kV4Dst, kV4Src, kV6Dst, kV6Src, 2}  // quoted dst, outer src
                                          : Fields{kV4Src, kV4Dst, kV6Src, kV6Dst, 0};  // quoted src, outer dst
}

class IcmpNat {
 public:
  IcmpNat(Assembler& a, const IcmpNatOptions& o) : a_(a), o_(o), f_(fields_for(o.direction)) {}

  void emit() {
    const std::string v6 = unique("v6"), lookup = unique("lookup"), rewrite_v6 = unique("rewrite_v6");
    a_.ldx(W, kDataEnd, o_.ctx, o_.data_end_field);
    a_.ldx(B, r1, o_.l3, 0).rsh(r1, 4);
    if (o_.ipv6) a_.jeq(r1, 6, v6);
    a_.jne(r1, 4, o_.untouched);
    parse_v4();
    a_.ja(lookup);
    if (o_.ipv6) {
      a_.label(v6);
      parse_v6();
    }
    a_.label(lookup);
    lookup_entry();
    a_.ldx(W, kDataEnd, o_.ctx, o_.data_end_field);  // the call clobbered r1..r5
    a_.ldx(B, r1, o_.l3, 0).rsh(r1, 4);
    if (o_.ipv6) a_.jeq(r1, 6, rewrite_v6);
    rewrite_v4();
    if (o_.ipv6) {
      a_.label(rewrite_v6);
      rewrite_v6_fields();
    }
  }

 private:
  std::int16_t at(Field f) const { return static_cast<std::int16_t>(o_.stack_offset + f.offset); }
  std::string unique(std::string_view what) { return "__icmp_nat_" + std::string(what) + "_" + std::to_string(a_.size()); }

  // kInner = quote, verified for `bytes`; jumps to untouched unless the ICMP type is listed.
  void check_quote(std::int16_t bytes, std::initializer_list<std::int32_t> types) {
    const std::string ok = unique("type_ok");
    a_.mov(kInner, o_.l4).add(kInner, kIcmpQuote);
    a_.mov(r1, kInner).add(r1, bytes).jgt(r1, kDataEnd, o_.untouched);
    a_.ldx(B, r1, o_.l4, 0);
    for (std::int32_t t : types) a_.jeq(r1, t, ok);
    a_.ja(o_.untouched).label(ok);
  }

  // The 4 port bytes of the quote, reversed, into the key.
  void store_ports() {
    a_.ldx(H, r1, kInnerL4, 2).stx(H, r10, at(kKeySport), r1);
    a_.ldx(H, r1, kInnerL4, 0).stx(H, r10, at(kKeyDport), r1);
  }

  void parse_v4() {
    a_.ldx(B, r1, o_.l3, kV4Proto).jne(r1, kProtoIcmp, o_.untouched);
    a_.ldx(H, r1, o_.l3, kV4Fragment).be(r1, 16).and_(r1, kIpv4MfAndOffset).jne(r1, 0, o_.untouched);
    check_quote(20, {3, 11, 12});
    a_.ldx(B, r1, kInner, 0).mov(r2, r1).rsh(r2, 4).jne(r2, 4, o_.untouched);
    a_.and_(r1, 0xf).jlt(r1, 5, o_.untouched).lsh(r1, 2);
    a_.ldx(H, r2, kInner, kV4Fragment).be(r2, 16).and_(r2, kIpv4Offset).jne(r2, 0, o_.untouched);
    a_.mov(kInnerL4, kInner).add(kInnerL4, r1);
    a_.mov(r1, kInnerL4).add(r1, 8).jgt(r1, kDataEnd, o_.untouched);
    const std::string l4_ok = unique("v4_l4_ok");
    a_.ldx(B, r1, kInner, kV4Proto).jeq(r1, kProtoTcp, l4_ok).jne(r1, kProtoUdp, o_.untouched);
    a_.label(l4_ok).stx(B, r10, at(kKeyProto), r1).st(B, r10, at(kKeyFamily), kFamilyV4);
    // key.src = the quoted dst, key.dst = the quoted src
    emit_store_v4_mapped(a_, kInner, kV4Dst, at(kKeySrc));
    emit_store_v4_mapped(a_, kInner, kV4Src, at(kKeyDst));
    store_ports();
  }

  void parse_v6() {
    a_.ldx(B, r1, o_.l3, kV6NextHeader).jne(r1, kProtoIcmpv6, o_.untouched);
    check_quote(kV6Header + 8, {1, 2, 3, 4});
    a_.ldx(B, r1, kInner, 0).rsh(r1, 4).jne(r1, 6, o_.untouched);
    a_.mov(kInnerL4, kInner).add(kInnerL4, kV6Header);
    const std::string l4_ok = unique("v6_l4_ok");
    a_.ldx(B, r1, kInner, kV6NextHeader).jeq(r1, kProtoTcp, l4_ok).jne(r1, kProtoUdp, o_.untouched);
    a_.label(l4_ok).stx(B, r10, at(kKeyProto), r1).st(B, r10, at(kKeyFamily), kFamilyV6);
    for (auto [from, to] : {std::pair{kV6Dst, kKeySrc}, std::pair{kV6Src, kKeyDst}}) {
      a_.ldx(DW, r1, kInner, from).stx(DW, r10, at(to), r1);
      a_.ldx(DW, r1, kInner, static_cast<std::int16_t>(from + 8)).stx(DW, r10, static_cast<std::int16_t>(at(to) + 8), r1);
    }
    store_ports();
  }

  // The entry of the reversed quote, of the kind the direction needs; its NAT target to the scratch area.
  void lookup_entry() {
    a_.st(kKeyPad.size, r10, at(kKeyPad), 0);
    a_.ld_map(r1, "lb_conntrack").mov(r2, r10).add(r2, at(kKeySrc)).call("map_lookup_elem");
    a_.jeq(r0, 0, o_.untouched);
    a_.ldx(B, r1, r0, kCtFlags.offset).and_(r1, ct_flags::kReverse);
    if (o_.direction == IcmpNatDirection::to_client) a_.jeq(r1, 0, o_.untouched);
    else a_.jne(r1, 0, o_.untouched);
    a_.ldx(DW, r1, r0, 0).stx(DW, r10, at(kNewAddr), r1);
    a_.ldx(DW, r1, r0, 8).stx(DW, r10, static_cast<std::int16_t>(at(kNewAddr) + 8), r1);
    a_.ldx(H, r1, r0, kCtNatPort.offset).stx(H, r10, at(kNewPort), r1);
  }

  // The quoted L4 checksum (TCP only when quoted) follows the address (via `address_delta`) and the port;
  // the ICMP checksum follows the checksum field's change.
  template <typename AddressDelta>
  void quoted_l4_checksum(AddressDelta address_delta) {
    const std::string udp = unique("csum_udp"), done = unique("csum_done");
    a_.ldx(B, r1, kInner, 0).rsh(r1, 4);
    const std::string v6_proto = unique("proto_v6"), have_proto = unique("have_proto");
    a_.jeq(r1, 6, v6_proto).ldx(B, r1, kInner, kV4Proto).ja(have_proto);
    a_.label(v6_proto).ldx(B, r1, kInner, kV6NextHeader);
    a_.label(have_proto).jne(r1, kProtoTcp, udp);
    a_.mov(r1, kInnerL4).add(r1, 18).jgt(r1, kDataEnd, done);  // TCP checksum not quoted: nothing to keep valid
    for (bool is_udp : {false, true}) {
      if (is_udp) a_.label(udp);
      const std::int16_t off = is_udp ? 6 : 16;
      const ebpf::dsl::CsumOptions opts{.udp = is_udp};
      a_.ldx(H, r1, kInnerL4, off).stx(H, r10, at(kOldCsum), r1);
      address_delta(off, opts);
      a_.ldx(H, r2, kInnerL4, f_.port).ldx(H, r5, r10, at(kNewPort));
      ebpf::dsl::csum_replace2(a_, kInnerL4, off, r2, r5, kCsum, opts);
      a_.ldx(H, r2, r10, at(kOldCsum)).ldx(H, r5, kInnerL4, off);
      ebpf::dsl::csum_replace2(a_, o_.l4, kIcmpChecksum, r2, r5, kCsum);
      a_.ja(done);
    }
    a_.label(done);
  }

  // ICMP checksum for the port change, then the new port.
  void quoted_port() {
    a_.ldx(H, r2, kInnerL4, f_.port).ldx(H, r5, r10, at(kNewPort));
    ebpf::dsl::csum_replace2(a_, o_.l4, kIcmpChecksum, r2, r5, kCsum);
    a_.stx(H, kInnerL4, f_.port, r5);
  }

  // The verifier does not know that the version byte read again after the lookup matches the parse's, so each
  // rewrite re-checks the bounds it relies on (they held during the parse; the check costs nothing).
  void recheck_quote(std::int16_t bytes) { a_.mov(r1, kInner).add(r1, bytes).jgt(r1, kDataEnd, o_.untouched); }

  void reload_inner_l4_v4() {
    recheck_quote(20);
    a_.ldx(B, r1, kInner, 0).and_(r1, 0xf).lsh(r1, 2);
    a_.mov(kInnerL4, kInner).add(kInnerL4, r1);
    a_.mov(r1, kInnerL4).add(r1, 8).jgt(r1, kDataEnd, o_.untouched);
  }

  void rewrite_v4() {
    reload_inner_l4_v4();
    const std::string keep_outer = unique("keep_outer_v4");
    // The quoted header's checksum compensates its address change, so the ICMP sum over it is unchanged.
    a_.ldx(W, r2, kInner, f_.v4_inner).ldx(W, r5, r10, static_cast<std::int16_t>(at(kNewAddr) + 12));
    ebpf::dsl::csum_replace4(a_, kInner, kV4Checksum, r2, r5, kCsum);
    quoted_l4_checksum([&](std::int16_t off, const ebpf::dsl::CsumOptions& opts) {
      a_.ldx(W, r2, kInner, f_.v4_inner).ldx(W, r5, r10, static_cast<std::int16_t>(at(kNewAddr) + 12));
      ebpf::dsl::csum_replace4(a_, kInnerL4, off, r2, r5, kCsum, opts);
    });
    quoted_port();
    a_.ldx(W, r2, o_.l3, f_.v4_outer).ldx(W, r5, kInner, f_.v4_inner).jne(r2, r5, keep_outer);
    a_.ldx(W, r5, r10, static_cast<std::int16_t>(at(kNewAddr) + 12));
    ebpf::dsl::csum_replace4(a_, o_.l3, kV4Checksum, r2, r5, kCsum);
    a_.stx(W, o_.l3, f_.v4_outer, r5);
    a_.label(keep_outer);
    a_.ldx(W, r5, r10, static_cast<std::int16_t>(at(kNewAddr) + 12)).stx(W, kInner, f_.v4_inner, r5);
    a_.ja(o_.translated);
  }

  // IPv6 has no header checksum; the ICMPv6 checksum covers the quote and the outer pseudo-header.
  void rewrite_v6_fields() {
    recheck_quote(kV6Header + 8);
    a_.mov(r1, o_.l3).add(r1, kV6Header).jgt(r1, kDataEnd, o_.untouched);
    a_.mov(kInnerL4, kInner).add(kInnerL4, kV6Header);
    const Memory16 inner{kInner, f_.v6_inner}, outer{o_.l3, f_.v6_outer}, fresh{r10, at(kNewAddr)};
    quoted_l4_checksum([&](std::int16_t off, const ebpf::dsl::CsumOptions& opts) {
      ebpf::dsl::csum_replace16(a_, kInnerL4, off, inner, fresh, kCsum, opts);
    });
    ebpf::dsl::csum_replace16(a_, o_.l4, kIcmpChecksum, inner, fresh, kCsum);
    quoted_port();
    const std::string keep_outer = unique("keep_outer_v6");
    for (std::int16_t half : {0, 8}) {
      a_.ldx(DW, r2, o_.l3, static_cast<std::int16_t>(f_.v6_outer + half))
          .ldx(DW, r5, kInner, static_cast<std::int16_t>(f_.v6_inner + half))
          .jne(r2, r5, keep_outer);
    }
    ebpf::dsl::csum_replace16(a_, o_.l4, kIcmpChecksum, outer, fresh, kCsum);
    copy_new_addr(o_.l3, f_.v6_outer);
    a_.label(keep_outer);
    copy_new_addr(kInner, f_.v6_inner);
    a_.ja(o_.translated);
  }

  void copy_new_addr(Reg base, std::int16_t off) {
    for (std::int16_t half : {0, 8})
      a_.ldx(DW, r1, r10, static_cast<std::int16_t>(at(kNewAddr) + half))
          .stx(DW, base, static_cast<std::int16_t>(off + half), r1);
  }

  Assembler& a_;
  const IcmpNatOptions& o_;
  Fields f_;
};

}  // namespace

Assembler& emit_icmp_error_nat(Assembler& a, const IcmpNatOptions& o) {
  if (o.stack_offset >= 0 || o.stack_offset % 8 != 0 || o.stack_offset < -512 ||
      o.stack_offset + static_cast<int>(sizeof(IcmpNatScratch)) > 0)
    return a.ja("emit_icmp_error_nat: stack_offset must leave the 64-byte scratch area 8-aligned in the frame");
  if (!callee_saved(o.ctx) || !callee_saved(o.l3) || !callee_saved(o.l4) || o.ctx == kInner || o.l3 == kInner ||
      o.l4 == kInner || o.ctx == o.l3 || o.ctx == o.l4 || o.l3 == o.l4)
    return a.ja("emit_icmp_error_nat: ctx, l3 and l4 must be three of r6..r8 (r9 holds the quote)");
  if (o.translated.empty() || o.untouched.empty()) return a.ja("emit_icmp_error_nat: both exit labels are needed");
  IcmpNat(a, o).emit();
  return a;
}

}  // namespace lb::dataplane
