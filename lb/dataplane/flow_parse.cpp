// The shared Ethernet/VLAN → IPv4/IPv6 → TCP/UDP parse step (contract in flow_parse.hpp).
#include "lb/dataplane/flow_parse.hpp"

#include <string>

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/helpers.hpp"

namespace lb::dataplane {

namespace {
using namespace ebpf::isa;
using ebpf::Assembler;
using ebpf::dsl::Field;

constexpr std::int32_t kEthertypeIpv4 = 0x0800;
constexpr std::int32_t kEthertypeIpv6 = 0x86dd;
constexpr std::int16_t kIpv6Header = 40;
constexpr std::int16_t kTcpHeader = 20;
constexpr std::int16_t kUdpHeader = 8;
constexpr std::int32_t kIpv4FragmentOffsetMask = 0x1fff;
constexpr std::int32_t kIpv4MoreFragments = 0x2000;
// Bytes 8..11 of a v4-mapped address (::ffff:a.b.c.d) read as a little-endian u32: 00 00 ff ff.
constexpr std::int32_t kV4MappedMarker = static_cast<std::int32_t>(0xffff0000U);

// IPv4 header fields (RFC 791) and IPv6 header fields (RFC 8200) the parse reads.
constexpr std::int16_t kIpv4FlagsFragment = 6, kIpv4Src = 12, kIpv4Dst = 16;
constexpr std::int16_t kIpv6NextHeader = 6, kIpv6Src = 8, kIpv6Dst = 24;
constexpr std::int16_t kTcpFlagsByte = 13;

constexpr Field kSrc = Field{static_cast<std::int16_t>(offsetof(ConntrackKey, src)), DW};
constexpr Field kDst = Field{static_cast<std::int16_t>(offsetof(ConntrackKey, dst)), DW};
constexpr Field kPorts = EBPF_FIELD(ConntrackKey, sport);  // sport and dport copied as one 4-byte word
constexpr Field kProto = EBPF_FIELD(ConntrackKey, proto);
constexpr Field kFamily = EBPF_FIELD(ConntrackKey, family);
constexpr Field kKeyPad = EBPF_FIELD(ConntrackKey, pad);
constexpr Field kPacketLen = EBPF_FIELD(ParsedFlow, packet_len);
constexpr Field kL3Offset = EBPF_FIELD(ParsedFlow, l3_offset);
constexpr Field kL4Offset = EBPF_FIELD(ParsedFlow, l4_offset);
constexpr Field kTcpFlags = EBPF_FIELD(ParsedFlow, tcp_flags);
constexpr Field kFragment = EBPF_FIELD(ParsedFlow, fragment);
static_assert(offsetof(ConntrackKey, dport) == offsetof(ConntrackKey, sport) + 2);
static_assert(offsetof(ParsedFlow, tcp_flags) % 8 == 0 && sizeof(ParsedFlow) - offsetof(ParsedFlow, tcp_flags) == 8,
              "the tail after l4_offset is cleared with one 8-byte store");

std::string label(const Assembler& a, const char* what) { return std::string("__flow_") + what + "_" + std::to_string(a.size()); }

bool is_scratch(Reg r) { return r.id <= 5 || r.id >= 10; }

// The options problem, or empty.
std::string check_options(const FlowParseOptions& o) {
  const auto& r = o.regs;
  if (o.stack_offset >= 0 || o.stack_offset % 8 != 0 || o.stack_offset < -512 + 0 ||
      o.stack_offset + static_cast<int>(sizeof(ParsedFlow)) > 0)
    return "stack_offset must be a negative multiple of 8 with the 56-byte ParsedFlow inside the 512-byte frame";
  if (r.data == r.data_end || r.data == r.l3 || r.data == r.l4 || r.data_end == r.l3 || r.data_end == r.l4 || r.l3 == r.l4)
    return "data, data_end, l3 and l4 must be four different registers";
  if (is_scratch(r.l3) || is_scratch(r.l4)) return "l3 and l4 must be callee-saved registers (r6..r9)";
  if (r.data.id == 0 || r.data.id > 5 || r.data_end.id == 0 || r.data_end.id > 5 || r.data.id == 4 ||
      r.data_end.id == 4 || r.data.id == 5 || r.data_end.id == 5 || r.data.id == 1 || r.data_end.id == 1)
    return "data and data_end must be r2 or r3 (r0, r1, r4, r5 are the parse's scratch registers)";
  return {};
}

void copy_16(Assembler& a, Reg l3, std::int16_t from, std::int16_t to) {
  a.ldx(DW, r0, l3, from).stx(DW, fp, to, r0);
  a.ldx(DW, r0, l3, static_cast<std::int16_t>(from + 8)).stx(DW, fp, static_cast<std::int16_t>(to + 8), r0);
}

// Makes the first kFlowHeaderBytes (or the whole packet if shorter) linear when they are not; clobbers r0..r5.
void emit_pull_headers(Assembler& a, Reg skb) {
  namespace sk = ebpf::dsl::ctx::sk_buff;
  const std::string len_ok = label(a, "pull_len_ok"), linear = label(a, "pull_linear");
  a.ldx(W, r2, skb, sk::len).jle(r2, kFlowHeaderBytes, len_ok).mov(r2, kFlowHeaderBytes).label(len_ok);
  a.ldx(W, r3, skb, sk::data).ldx(W, r4, skb, sk::data_end).mov(r5, r3).add(r5, r2).jle(r5, r4, linear);
  a.mov(r1, skb).call("skb_pull_data");
  a.label(linear);
}

}  // namespace

Assembler& emit_store_v4_mapped(Assembler& a, Reg src, std::int16_t from, std::int16_t to) {
  a.st(DW, fp, to, 0).st(W, fp, static_cast<std::int16_t>(to + 8), kV4MappedMarker);
  return a.ldx(W, r0, src, from).stx(W, fp, static_cast<std::int16_t>(to + 12), r0);
}

Assembler& emit_flow_parse(Assembler& a, const FlowParseOptions& options) {
  if (auto why = check_options(options); !why.empty()) return a.ja("flow_parse: invalid options: " + why);
  const auto& regs = options.regs;
  const auto& out = options.labels;
  const std::int16_t s = options.stack_offset;
  auto at = [s](Field f) { return static_cast<std::int16_t>(s + f.offset); };
  const ebpf::dsl::PacketRegs pkt{regs.data, regs.data_end, r4, r5};
  const std::string v4 = label(a, "v4"), v6 = label(a, "v6"), l4 = label(a, "l4"), tcp = label(a, "tcp"), udp = label(a, "udp"),
                    ports = label(a, "ports");

  a.st(DW, fp, at(kTcpFlags), 0);  // tcp_flags, fragment and padding start at zero
  a.mov(r4, regs.data);
  ebpf::dsl::parse_ethernet(a, pkt, r0, out.malformed);
  a.mov(r5, r4).sub(r5, regs.data).stx(kL3Offset.size, fp, at(kL3Offset), r5);
  a.jeq(r0, kEthertypeIpv4, v4);
  if (options.ipv6) a.jeq(r0, kEthertypeIpv6, v6);
  a.ja(out.not_flow);

  // IPv4: any header length; non-first fragments carry no ports.
  a.label(v4);
  ebpf::dsl::parse_ipv4(a, pkt, regs.l3, r1, out.malformed);
  a.ldx(B, r5, regs.l3, 0).rsh(r5, 4).jne(r5, 4, out.malformed);
  a.ldx(H, r5, regs.l3, kIpv4FlagsFragment).be(r5, 16);
  a.mov(r0, r5).and_(r0, kIpv4FragmentOffsetMask).jne(r0, 0, out.not_flow);
  a.and_(r5, kIpv4MoreFragments).rsh(r5, 13).stx(B, fp, at(kFragment), r5);
  emit_store_v4_mapped(a, regs.l3, kIpv4Src, at(kSrc));
  emit_store_v4_mapped(a, regs.l3, kIpv4Dst, at(kDst));
  a.st(B, fp, at(kFamily), kFamilyV4).ja(l4);

  // IPv6: fixed header; an extension header is not walked (next header must be TCP or UDP below).
  if (options.ipv6) {
    a.label(v6);
    ebpf::dsl::check_bounds(a, pkt, kIpv6Header, out.malformed);
    a.mov(regs.l3, r4).add(r4, kIpv6Header);
    a.ldx(B, r5, regs.l3, 0).rsh(r5, 4).jne(r5, 6, out.malformed);
    a.ldx(B, r1, regs.l3, kIpv6NextHeader);
    copy_16(a, regs.l3, kIpv6Src, at(kSrc));
    copy_16(a, regs.l3, kIpv6Dst, at(kDst));
    a.st(B, fp, at(kFamily), kFamilyV6);
  }

  // r1 = protocol, r4 = L4 header.
  a.label(l4);
  a.mov(regs.l4, r4).mov(r5, r4).sub(r5, regs.data).stx(kL4Offset.size, fp, at(kL4Offset), r5);
  a.jeq(r1, kProtoTcp, tcp).jeq(r1, kProtoUdp, udp);
  // ICMP is tested after TCP and UDP: the flows pay nothing for it.
  if (!out.icmp.empty()) a.jeq(r1, kProtoIcmp, out.icmp).jeq(r1, kProtoIcmpv6, out.icmp);
  a.ja(out.not_flow);
  a.label(udp);
  ebpf::dsl::check_bounds(a, pkt, kUdpHeader, out.malformed);
  a.ja(ports);
  a.label(tcp);
  ebpf::dsl::check_bounds(a, pkt, kTcpHeader, out.malformed);
  a.ldx(B, r0, regs.l4, kTcpFlagsByte).stx(B, fp, at(kTcpFlags), r0);
  a.label(ports);
  a.ldx(W, r0, regs.l4, 0).stx(W, fp, at(kPorts), r0);
  a.stx(B, fp, at(kProto), r1).st(kKeyPad.size, fp, at(kKeyPad), 0);
  a.mov(r0, regs.data_end).sub(r0, regs.data).stx(kPacketLen.size, fp, at(kPacketLen), r0);
  return a;
}

Assembler& emit_tc_flow_parse(Assembler& a, Reg skb, const FlowParseOptions& options) {
  namespace sk = ebpf::dsl::ctx::sk_buff;
  if (is_scratch(skb)) return a.ja("emit_tc_flow_parse: the skb must be in r6..r9");
  const auto& regs = options.regs;
  if (skb == regs.l3 || skb == regs.l4) return a.ja("emit_tc_flow_parse: the skb register is a parse output");
  const std::string reparse = label(a, "reparse"), parsed = label(a, "parsed"), icmp_linear = label(a, "icmp_linear");
  auto load = [&] { a.ldx(W, regs.data, skb, sk::data).ldx(W, regs.data_end, skb, sk::data_end); };

  FlowParseOptions linear_only = options;
  linear_only.labels.malformed = reparse;
  if (!options.labels.icmp.empty()) linear_only.labels.icmp = icmp_linear;
  load();
  emit_flow_parse(a, linear_only).ja(parsed);
  if (!options.labels.icmp.empty()) {
    // The ICMP translation reads up to kFlowHeaderBytes; go on only if they (or the whole packet) are linear.
    const std::string len_ok = label(a, "icmp_len_ok");
    a.label(icmp_linear);
    a.ldx(W, r4, skb, sk::len).jle(r4, kFlowHeaderBytes, len_ok).mov(r4, kFlowHeaderBytes).label(len_ok);
    a.mov(r5, regs.data).add(r5, r4).jle(r5, regs.data_end, options.labels.icmp);
  }
  a.label(reparse);
  emit_pull_headers(a, skb);
  load();
  emit_flow_parse(a, options);
  return a.label(parsed);
}

Assembler& emit_tcp_fin_numbers(Assembler& a, const TcpFinNumbersOptions& o) {
  constexpr std::int16_t kTcpSeq = 4, kTcpAck = 8, kTcpDataOffset = 12, kIpv4TotalLength = 2, kIpv6PayloadLength = 4;
  constexpr std::int16_t kIpLength = 16;  // where the IP length field lands in the scratch area
  if (is_scratch(o.ctx)) return a.ja("emit_tcp_fin_numbers: the context must be in r6..r9");
  if (o.scratch % 8 != 0 || o.scratch > -24 || o.scratch < -512) return a.ja("emit_tcp_fin_numbers: bad scratch slot");
  const auto load_bytes = o.skb ? ebpf::helper::skb_load_bytes : ebpf::helper::xdp_load_bytes;
  const auto flow = [&](Field f) { return static_cast<std::int16_t>(o.flow_slot + f.offset); };
  const std::string v4 = label(a, "fin_v4"), have_offset = label(a, "fin_ip_len");
  // The first 16 bytes of the TCP header, then the IP length field.
  a.mov(r1, o.ctx).ldx(H, r2, fp, flow(kL4Offset)).mov(r3, fp).add(r3, o.scratch).mov(r4, 16).call(load_bytes);
  a.jne(r0, 0, o.unreadable);
  a.ldx(H, r2, fp, flow(kL3Offset)).ldx(B, r1, fp, flow(kFamily));
  a.jne(r1, kFamilyV6, v4).add(r2, kIpv6PayloadLength).ja(have_offset);
  a.label(v4).add(r2, kIpv4TotalLength);
  a.label(have_offset).mov(r1, o.ctx).mov(r3, fp).add(r3, o.scratch + kIpLength).mov(r4, 2).call(load_bytes);
  a.jne(r0, 0, o.unreadable);
  // End of the IP packet (as an offset in the frame): l3 + total length (v4) or l3 + 40 + payload length (v6).
  const std::string end_v4 = label(a, "fin_end_v4");
  a.ldx(H, r1, fp, o.scratch + kIpLength).be(r1, 16);
  a.ldx(B, r2, fp, flow(kFamily)).jne(r2, kFamilyV6, end_v4).add(r1, kIpv6Header);
  a.label(end_v4).ldx(H, r2, fp, flow(kL3Offset)).add(r1, r2);
  // Payload = end - l4 offset - TCP header length (data offset in 32-bit words, high nibble of byte 12).
  a.ldx(H, r2, fp, flow(kL4Offset)).sub(r1, r2);
  a.ldx(B, r2, fp, o.scratch + kTcpDataOffset).rsh(r2, 4).lsh(r2, 2).sub(r1, r2);
  a.ldx(W, r2, fp, o.scratch + kTcpSeq).be(r2, 32).add(r1, r2).add(w1, 1);  // 32-bit: sequence numbers wrap
  a.ldx(W, r2, fp, o.scratch + kTcpAck).be(r2, 32);
  a.stx(W, fp, o.scratch + kFinNumbersAck, r2).stx(W, fp, o.scratch + kFinNumbersFinEnd, r1);
  return a;
}

Assembler& emit_unless_fin_acked(Assembler& a, Reg ack, Reg fin_end, std::string_view not_acked) {
  // The 32-bit difference, sign-extended to 64 bits for the signed comparison.
  a.sub(WReg{ack.id}, WReg{fin_end.id}).lsh(ack, 32).arsh(ack, 32);
  return a.jslt(ack, 0, not_acked);
}

}  // namespace lb::dataplane
