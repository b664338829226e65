// DSL packet steps, each verified by the kernel verifier and run with BPF_PROG_TEST_RUN: a probe program runs
// parse_ethernet → parse_ipv4 → parse_ports and records what each step left in its registers into an array
// map whose layout is shared with this test through EBPF_FIELD.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ebpf/assembler.hpp"
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

}  // namespace
