// DSL packet steps, each verified by the kernel verifier and run with BPF_PROG_TEST_RUN: a probe program runs
// parse_ethernet → parse_ipv4 → parse_ports and records what each step left in its registers into an array
// map whose layout is shared with this test through EBPF_FIELD.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// What the probe saw; `stage` counts the steps that succeeded (1 Ethernet, 2 IPv4, 3 ports).
struct ParseRecord {
  std::uint32_t stage;
  std::uint32_t ethertype;
  std::uint32_t protocol;
  std::uint32_t l4_offset;  // cursor - data after parse_ipv4
  std::uint32_t src_port;
  std::uint32_t dst_port;
};

Result<Program> load_probe(int record_map_fd) {
  const dsl::PacketRegs regs;  // r2 data, r3 data_end, r4 cursor, r5 scratch
  Assembler a;
  a.mov(r6, r1).st(W, r10, -4, 0).ld_map(r1, record_map_fd).mov(r2, r10).add(r2, -4);
  a.call(helper::map_lookup_elem).jne(r0, 0, "have_record").mov(r0, dsl::xdp_action::aborted).exit();
  a.label("have_record").mov(r9, r0);
  dsl::xdp_load_data(a, r6, regs);
  dsl::parse_ethernet(a, regs, r0, "done");
  dsl::store_field(a, r9, EBPF_FIELD(ParseRecord, ethertype), r0);
  dsl::store_field_imm(a, r9, EBPF_FIELD(ParseRecord, stage), 1);
  a.jne(r0, 0x0800, "done");
  dsl::parse_ipv4(a, regs, r1, r0, "done");
  dsl::store_field(a, r9, EBPF_FIELD(ParseRecord, protocol), r0);
  a.mov(r0, regs.cursor).sub(r0, regs.data);
  dsl::store_field(a, r9, EBPF_FIELD(ParseRecord, l4_offset), r0);
  dsl::store_field_imm(a, r9, EBPF_FIELD(ParseRecord, stage), 2);
  dsl::parse_ports(a, regs, r0, r1, "done");
  dsl::store_field(a, r9, EBPF_FIELD(ParseRecord, src_port), r0);
  dsl::store_field(a, r9, EBPF_FIELD(ParseRecord, dst_port), r1);
  dsl::store_field_imm(a, r9, EBPF_FIELD(ParseRecord, stage), 3);
  a.label("done").mov(r0, dsl::xdp_action::pass).exit();
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions opts;
  opts.name = "dsl_parse";
  return Program::load(ProgType::xdp, code.span(), opts);
}

class DslPacket : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto map = ArrayMap<ParseRecord>::create(test::unique_name("prs"), 1);
    ASSERT_OK(map);
    records_ = std::move(*map);
    auto prog = load_probe(records_.fd());
    ASSERT_OK(prog);
    prog_ = std::move(*prog);
  }

  // Runs the probe on `frame` from a zeroed record and returns the record.
  ParseRecord parse(const std::vector<std::uint8_t>& frame) {
    EXPECT_OK(records_.update(0, ParseRecord{}));
    auto out = prog_.test_run({.data_in = frame});
    EXPECT_TRUE(out.has_value()) << out.error().to_string();
    if (out) {
      EXPECT_EQ(out->retval, static_cast<std::uint32_t>(dsl::xdp_action::pass));
    }
    auto rec = records_.lookup(0);
    EXPECT_TRUE(rec.has_value()) << rec.error().to_string();
    return rec.value_or(ParseRecord{});
  }

  ArrayMap<ParseRecord> records_;
  Program prog_;
};

std::vector<std::uint8_t> build(packet::Builder& b) {
  auto frame = b.build();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(std::vector<std::uint8_t>{});
}

packet::EthernetSpec eth(std::optional<std::uint16_t> vlan = {}) {
  packet::EthernetSpec e;
  e.src = {2, 0, 0, 0, 0, 1};
  e.dst = {2, 0, 0, 0, 0, 2};
  e.vlan_id = vlan;
  return e;
}

packet::Ipv4Spec ipv4(std::vector<std::uint8_t> options = {}) {
  packet::Ipv4Spec ip;
  ip.src = {10, 0, 0, 1};
  ip.dst = {10, 0, 0, 2};
  ip.options = std::move(options);
  return ip;
}

TEST_F(DslPacket, UdpFrameToPorts) {
  packet::Builder b;
  b.ethernet(eth()).ipv4(ipv4()).udp(5353, 53).payload("x");
  auto rec = parse(build(b));
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.ethertype, 0x0800u);
  EXPECT_EQ(rec.protocol, 17u);
  EXPECT_EQ(rec.l4_offset, 34u);
  EXPECT_EQ(rec.src_port, 5353u);
  EXPECT_EQ(rec.dst_port, 53u);
}

TEST_F(DslPacket, VlanAndIpv4OptionsMoveTheL4Header) {
  packet::Builder b;
  b.ethernet(eth(42)).ipv4(ipv4({1, 1, 1, 1, 1, 1, 1, 1})).tcp(40000, 443);
  const auto frame = build(b);
  ASSERT_OK_AND_ASSIGN(auto parsed, packet::parse(frame));  // independent check of where L4 starts
  ASSERT_EQ(parsed.ip_options.size(), 8u);
  auto rec = parse(frame);
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.ethertype, 0x0800u);
  EXPECT_EQ(rec.protocol, 6u);
  EXPECT_EQ(rec.l4_offset, 14u + 4u + 20u + 8u);
  EXPECT_EQ(rec.src_port, 40000u);
  EXPECT_EQ(rec.dst_port, 443u);
}

TEST_F(DslPacket, Ipv6StopsAfterEthernetWithItsEthertype) {
  ASSERT_OK_AND_ASSIGN(auto src, packet::parse_ipv6("fd00::1"));
  ASSERT_OK_AND_ASSIGN(auto dst, packet::parse_ipv6("fd00::2"));
  packet::Builder b;
  b.ethernet(eth(5)).ipv6(src, dst).udp(1, 2);
  auto rec = parse(build(b));
  EXPECT_EQ(rec.stage, 1u);
  EXPECT_EQ(rec.ethertype, 0x86ddu);
}

TEST_F(DslPacket, ShortOrMalformedHeadersStopTheRightStep) {
  packet::Builder b;
  b.ethernet(eth()).ipv4(ipv4()).udp(1, 2);
  const auto full = build(b);
  ASSERT_GE(full.size(), 42u);
  // Ports need 4 L4 bytes: 3 is short, 4 is enough.
  EXPECT_EQ(parse({full.begin(), full.begin() + 37}).stage, 2u);
  EXPECT_EQ(parse({full.begin(), full.begin() + 38}).stage, 3u);
  // IPv4 needs its 20-byte header.
  EXPECT_EQ(parse({full.begin(), full.begin() + 33}).stage, 1u);
  // IHL below 5 is malformed; IHL 6 claims 4 option bytes that are then the L4 start.
  auto bad = full;
  bad[14] = 0x44;
  EXPECT_EQ(parse(bad).stage, 1u);
  auto longer = full;
  longer[14] = 0x46;
  auto rec = parse(longer);
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.l4_offset, 38u);
}

// ---- L3/L4 walk: IPv6 extension headers, fragments, TCP/UDP/ICMP, in XDP and TC ------------------------

struct WalkRecord {
  std::uint32_t stage;  // 1 Ethernet, 2 L3 (+ extension headers), 3 L4
  std::uint32_t bad;
  std::uint32_t fragment;
  std::uint32_t protocol;
  std::uint32_t l4_offset;
  std::uint32_t payload_offset;
  std::uint32_t info;  // TCP flags, UDP length or ICMP type
  std::uint32_t code;  // ICMP code
};

Result<Program> load_walk(int record_map_fd, bool tc) {
  const dsl::PacketRegs regs;
  auto set = [](Assembler& a, auto field, std::int32_t v) { dsl::store_field_imm(a, r9, field, v); };
  Assembler a;
  a.mov(r6, r1).st(W, r10, -4, 0).ld_map(r1, record_map_fd).mov(r2, r10).add(r2, -4);
  a.call(helper::map_lookup_elem).jne(r0, 0, "have").mov(r0, 0).exit();
  a.label("have").mov(r9, r0);
  if (tc) dsl::tc_load_data(a, r6, regs); else dsl::xdp_load_data(a, r6, regs);
  dsl::parse_ethernet(a, regs, r7, "bad");
  set(a, EBPF_FIELD(WalkRecord, stage), 1);
  a.jeq(r7, 0x86dd, "v6").jne(r7, 0x0800, "done");
  dsl::parse_ipv4(a, regs, r8, r7, "bad");
  dsl::jump_if_ipv4_fragment(a, regs, r8, "frag");
  a.ja("l3");
  a.label("v6");
  dsl::parse_ipv6(a, regs, r8, r7, "bad", "frag");
  a.label("l3");
  set(a, EBPF_FIELD(WalkRecord, stage), 2);
  dsl::store_field(a, r9, EBPF_FIELD(WalkRecord, protocol), r7);
  a.mov(r0, regs.cursor).sub(r0, regs.data);
  dsl::store_field(a, r9, EBPF_FIELD(WalkRecord, l4_offset), r0);
  a.jeq(r7, 6, "tcp").jeq(r7, 17, "udp").jeq(r7, 1, "icmp").jeq(r7, 58, "icmp").ja("done");
  a.label("tcp");
  dsl::parse_tcp(a, regs, r8, r0, "bad");
  a.ja("l4");
  a.label("udp");
  dsl::parse_udp(a, regs, r8, r0, "bad");
  a.ja("l4");
  a.label("icmp");
  dsl::parse_icmp(a, regs, r8, r0, r1, "bad");
  dsl::store_field(a, r9, EBPF_FIELD(WalkRecord, code), r1);
  a.label("l4");
  dsl::store_field(a, r9, EBPF_FIELD(WalkRecord, info), r0);
  a.mov(r0, regs.cursor).sub(r0, regs.data);
  dsl::store_field(a, r9, EBPF_FIELD(WalkRecord, payload_offset), r0);
  set(a, EBPF_FIELD(WalkRecord, stage), 3);
  a.ja("done");
  a.label("frag");
  set(a, EBPF_FIELD(WalkRecord, fragment), 1);
  a.ja("done");
  a.label("bad");
  set(a, EBPF_FIELD(WalkRecord, bad), 1);
  a.label("done").mov(r0, tc ? dsl::tc_action::ok : dsl::xdp_action::pass).exit();
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions opts;
  opts.name = tc ? "dsl_walk_tc" : "dsl_walk_xdp";
  return Program::load(tc ? ProgType::sched_cls : ProgType::xdp, code.span(), opts);
}

class DslWalk : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_OK_AND_ASSIGN(records_, ArrayMap<WalkRecord>::create(test::unique_name("walk"), 1));
    ASSERT_OK_AND_ASSIGN(prog_, load_walk(records_.fd(), GetParam()));
  }
  WalkRecord walk(const std::vector<std::uint8_t>& frame) {
    EXPECT_OK(records_.update(0, WalkRecord{}));
    auto out = prog_.test_run({.data_in = frame});
    EXPECT_TRUE(out.has_value()) << out.error().to_string();
    auto rec = records_.lookup(0);
    EXPECT_TRUE(rec.has_value());
    return rec.value_or(WalkRecord{});
  }
  ArrayMap<WalkRecord> records_;
  Program prog_;
};

packet::Ipv6Addr v6(const char* text) { return *packet::parse_ipv6(text); }

// Ethernet (optionally VLAN) + IPv6 + the given extension headers (raw, in order, each starting with its
// next-header byte) + the L4 part of a Builder frame. Payload length fixed; L4 checksums are not needed.
std::vector<std::uint8_t> v6_with_ext(std::vector<std::pair<std::uint8_t, std::vector<std::uint8_t>>> ext,
                                      packet::Builder l4_frame, std::size_t l3) {
  auto f = build(l4_frame);
  const std::uint8_t l4_proto = f[l3 + 6];
  std::vector<std::uint8_t> chain;
  std::uint8_t first = l4_proto;
  for (std::size_t i = ext.size(); i-- > 0;) {  // build back to front so each names its successor
    auto body = ext[i].second;
    body[0] = first;
    chain.insert(chain.begin(), body.begin(), body.end());
    first = ext[i].first;
  }
  f[l3 + 6] = first;
  f.insert(f.begin() + static_cast<std::ptrdiff_t>(l3 + 40), chain.begin(), chain.end());
  const std::size_t payload = f.size() - l3 - 40;
  f[l3 + 4] = static_cast<std::uint8_t>(payload >> 8);
  f[l3 + 5] = static_cast<std::uint8_t>(payload);
  return f;
}

std::vector<std::uint8_t> ext8(std::size_t units) {  // generic extension header of (units) * 8 bytes
  std::vector<std::uint8_t> h(units * 8, 0);
  h[1] = static_cast<std::uint8_t>(units - 1);
  return h;
}

TEST_P(DslWalk, VlanIpv6ExtensionHeadersTcpOptions) {
  packet::Builder b;
  packet::TcpSpec tcp;
  tcp.src_port = 1000;
  tcp.dst_port = 443;
  tcp.flags = packet::tcp_flags::syn | packet::tcp_flags::ece;
  tcp.options = {packet::TcpOption::mss(1460), packet::TcpOption::sack_permitted()};
  b.ethernet(eth(9)).ipv6(v6("fd00::1"), v6("fd00::2")).tcp(tcp).payload("data");
  const auto f = v6_with_ext({{0, ext8(1)}, {43, ext8(3)}, {60, ext8(2)}}, b, 18);
  const std::uint32_t l4 = 18 + 40 + 8 + 24 + 16;
  auto rec = walk(f);
  EXPECT_EQ(rec.bad, 0u);
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.protocol, 6u);
  EXPECT_EQ(rec.l4_offset, l4);
  EXPECT_EQ(rec.payload_offset, l4 + 28);  // 20 + MSS 4 + SACK-permitted 2 padded to 4
  EXPECT_EQ(rec.info, 0x42u);
  // Every truncation inside the headers is `bad`; the payload may be cut.
  for (std::size_t cut = 14; cut < f.size(); ++cut) {
    auto r = walk({f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut)});
    EXPECT_EQ(r.bad, cut < l4 + 28 ? 1u : 0u) << "cut " << cut;
    EXPECT_EQ(r.stage, cut < 18 ? 0u : cut < l4 ? 1u : cut < l4 + 28 ? 2u : 3u) << "cut " << cut;
  }
}

TEST_P(DslWalk, AuthHeaderThenUdpLength) {
  packet::Builder b;
  b.ethernet(eth()).ipv6(v6("fd00::1"), v6("fd00::2")).udp(53, 5353).payload("abc");
  std::vector<std::uint8_t> ah(24, 0);
  ah[1] = 4;  // (4 + 2) * 4 = 24 bytes
  const auto f = v6_with_ext({{51, ah}}, b, 14);
  auto rec = walk(f);
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.protocol, 17u);
  EXPECT_EQ(rec.l4_offset, 14u + 40u + 24u);
  EXPECT_EQ(rec.info, 11u);  // UDP length: 8 + "abc"
  EXPECT_EQ(rec.payload_offset, 14u + 40u + 24u + 8u);
  // TC test_run refuses an untagged IP frame shorter than its IP header (EINVAL): start there for TC.
  for (std::size_t cut = GetParam() ? 54 : 14; cut < 14 + 40 + 24 + 8; ++cut)
    EXPECT_EQ(walk({f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut)}).bad, 1u) << "cut " << cut;
  auto short_len = f;
  short_len[14 + 40 + 24 + 5] = 7;  // UDP length 7 < 8
  EXPECT_EQ(walk(short_len).bad, 1u);
}

TEST_P(DslWalk, Ipv6FragmentHeaderIsReportedAndTooManyHeadersAreBad) {
  packet::Builder b;
  b.ethernet(eth()).ipv6(v6("fd00::1"), v6("fd00::2")).udp(1, 2);
  auto rec = walk(v6_with_ext({{0, ext8(1)}, {44, ext8(1)}}, b, 14));
  EXPECT_EQ(rec.fragment, 1u);
  EXPECT_EQ(rec.bad, 0u);
  EXPECT_EQ(rec.stage, 1u);
  std::vector<std::pair<std::uint8_t, std::vector<std::uint8_t>>> six(6, {60, ext8(1)}), seven(7, {60, ext8(1)});
  EXPECT_EQ(walk(v6_with_ext(six, b, 14)).stage, 3u);
  auto too_many = walk(v6_with_ext(seven, b, 14));
  EXPECT_EQ(too_many.bad, 1u);
  EXPECT_EQ(too_many.stage, 1u);
}

TEST_P(DslWalk, Ipv4FragmentsAndTcpHeaderLength) {
  packet::Builder b;
  b.ethernet(eth()).ipv4(ipv4({1, 1, 1, 1})).tcp(1, 2, packet::tcp_flags::fin | packet::tcp_flags::ack);
  const auto f = build(b);
  auto rec = walk(f);
  EXPECT_EQ(rec.fragment, 0u);  // DF alone is not a fragment
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.l4_offset, 38u);
  EXPECT_EQ(rec.payload_offset, 58u);
  EXPECT_EQ(rec.info, 0x11u);
  auto mf = f;
  mf[14 + 6] = 0x20;  // More Fragments
  EXPECT_EQ(walk(mf).fragment, 1u);
  auto offset = f;
  offset[14 + 6] = 0x00;
  offset[14 + 7] = 0x01;  // fragment offset 8 bytes
  EXPECT_EQ(walk(offset).fragment, 1u);
  auto doff4 = f;
  doff4[38 + 12] = 0x40;  // data offset 4 words < 20 bytes
  EXPECT_EQ(walk(doff4).bad, 1u);
  auto doff15 = f;
  doff15[38 + 12] = 0xf0;  // 60-byte header claimed, 20 present
  EXPECT_EQ(walk(doff15).bad, 1u);
  for (std::size_t cut = GetParam() ? 34 : 14; cut < 58; ++cut)  // TC: see AuthHeaderThenUdpLength
    EXPECT_EQ(walk({f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut)}).bad, 1u) << "cut " << cut;
}

TEST_P(DslWalk, IcmpAndIcmpv6TypeAndCode) {
  packet::Builder b4;
  b4.ethernet(eth()).ipv4(ipv4()).icmp_echo({.reply = true, .id = 1, .seq = 2});
  auto rec = walk(build(b4));
  EXPECT_EQ(rec.stage, 3u);
  EXPECT_EQ(rec.protocol, 1u);
  EXPECT_EQ(rec.info, 0u);  // echo reply
  EXPECT_EQ(rec.code, 0u);
  packet::Builder b6;
  b6.ethernet(eth(3)).ipv6(v6("fd00::1"), v6("fd00::2")).icmp_echo({.reply = false, .id = 1, .seq = 2});
  auto f6 = build(b6);
  f6[18 + 40 + 1] = 7;  // a code, to see it read
  rec = walk(f6);
  EXPECT_EQ(rec.protocol, 58u);
  EXPECT_EQ(rec.info, 128u);  // echo request
  EXPECT_EQ(rec.code, 7u);
  EXPECT_EQ(rec.payload_offset, 18u + 40u + 4u);
}

INSTANTIATE_TEST_SUITE_P(XdpAndTc, DslWalk, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "tc" : "xdp"; });

}  // namespace
