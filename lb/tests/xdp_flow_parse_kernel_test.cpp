// lb/dataplane/flow_parse: the shared parse step, verified by the kernel and run with BPF_PROG_TEST_RUN. A
// probe program runs emit_flow_parse and copies the ParsedFlow it left on the stack into an array map; the
// return value says which exit was taken. Every expected value is computed from the built frame.
#include <gtest/gtest.h>

// Packet specs are written with designated initialisers naming only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <cstdint>
#include <cstring>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "lb/dataplane/flow_parse.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;
using lb::dataplane::ParsedFlow;

constexpr std::uint32_t kFlow = 10, kMalformed = 11, kNotFlow = 12;

Result<Program> load_probe(int out_fd, bool ipv6) {
  Assembler a;
  a.ldx(W, r2, r1, 0).ldx(W, r3, r1, 4);
  lb::dataplane::emit_flow_parse(a, {.ipv6 = ipv6});
  a.st(W, r10, -64, 0).ld_map(r1, out_fd).mov(r2, r10).add(r2, -64).call(helper::map_lookup_elem);
  a.jeq(r0, 0, "flow_malformed");
  for (std::int16_t off = 0; off < static_cast<std::int16_t>(sizeof(ParsedFlow)); off += 8)
    a.ldx(DW, r1, r10, static_cast<std::int16_t>(-56 + off)).stx(DW, r0, off, r1);
  // The packet pointers the contract promises: l3/l4 point at the headers (checked via their offsets).
  a.mov(r0, kFlow).exit();
  a.label("flow_malformed").mov(r0, kMalformed).exit();
  a.label("flow_not_flow").mov(r0, kNotFlow).exit();
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions load;
  load.name = "lb_parse_probe";
  return Program::load(ProgType::xdp, code.span(), load);
}

lb::Addr mapped(const packet::Ipv4Addr& v4) {
  lb::Addr addr;
  addr.bytes[10] = addr.bytes[11] = 0xff;
  std::memcpy(addr.bytes.data() + 12, v4.data(), 4);
  return addr;
}
lb::Addr v6addr(const packet::Ipv6Addr& v6) {
  lb::Addr addr;
  std::memcpy(addr.bytes.data(), v6.data(), 16);
  return addr;
}
std::uint16_t net16(std::uint16_t host) { return static_cast<std::uint16_t>((host >> 8) | (host << 8)); }

class FlowParse : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_OK_AND_ASSIGN(out_, ArrayMap<ParsedFlow>::create(test::unique_name("fp"), 1));
    ASSERT_OK_AND_ASSIGN(prog_, load_probe(out_.fd(), true));
  }
  // Runs the probe; returns the exit code and fills `flow` (zeroed first, so a non-flow exit leaves zeros).
  std::uint32_t run(const std::vector<std::uint8_t>& frame, ParsedFlow& flow) {
    EXPECT_OK(out_.update(0, ParsedFlow{}));
    auto res = prog_.test_run({.data_in = frame});
    EXPECT_TRUE(res.has_value()) << res.error().to_string();
    auto rec = out_.lookup(0);
    EXPECT_TRUE(rec.has_value());
    if (rec) flow = *rec;
    return res ? res->retval : 0;
  }
  ArrayMap<ParsedFlow> out_;
  Program prog_;
};

const packet::Mac kMacA{2, 0, 0, 0, 0, 1}, kMacB{2, 0, 0, 0, 0, 2};
const packet::Ipv4Addr kClient{10, 1, 2, 3}, kVip{10, 0, 0, 100};

TEST_F(FlowParse, TcpOverIpv4WithOptionsAndVlanFillsTheKey) {
  packet::TcpSpec tcp{.src_port = 40000, .dst_port = 80, .flags = packet::tcp_flags::syn};
  tcp.options = {packet::TcpOption::mss(1460), packet::TcpOption::sack_permitted()};
  auto frame = packet::Builder()
                   .ethernet({.src = kMacA, .dst = kMacB, .vlan_id = 7})
                   .ipv4({.src = kClient, .dst = kVip, .options = {1, 1, 1, 1, 1, 1, 1, 0}})
                   .tcp(tcp)
                   .payload("x")
                   .build();
  ASSERT_OK(frame);
  ParsedFlow flow;
  ASSERT_EQ(run(*frame, flow), kFlow);
  EXPECT_EQ(flow.key.src, mapped(kClient));
  EXPECT_EQ(flow.key.dst, mapped(kVip));
  EXPECT_EQ(flow.key.sport, net16(40000));
  EXPECT_EQ(flow.key.dport, net16(80));
  EXPECT_EQ(flow.key.proto, lb::kProtoTcp);
  EXPECT_EQ(flow.key.family, lb::kFamilyV4);
  EXPECT_EQ(flow.key.pad, 0);
  EXPECT_EQ(flow.l3_offset, 18);       // Ethernet + VLAN tag
  EXPECT_EQ(flow.l4_offset, 18 + 28);  // IPv4 header with 8 option bytes
  EXPECT_EQ(flow.tcp_flags, packet::tcp_flags::syn);
  EXPECT_EQ(flow.packet_len, frame->size());
  EXPECT_EQ(flow.fragment, 0);
}

TEST_F(FlowParse, UdpOverIpv6) {
  auto src = *packet::parse_ipv6("fd00::1:2"), dst = *packet::parse_ipv6("fd00::100");
  auto frame = packet::Builder().ethernet(kMacA, kMacB).ipv6(src, dst).udp(5353, 53).payload("q").build();
  ASSERT_OK(frame);
  ParsedFlow flow;
  ASSERT_EQ(run(*frame, flow), kFlow);
  EXPECT_EQ(flow.key.src, v6addr(src));
  EXPECT_EQ(flow.key.dst, v6addr(dst));
  EXPECT_EQ(flow.key.sport, net16(5353));
  EXPECT_EQ(flow.key.dport, net16(53));
  EXPECT_EQ(flow.key.proto, lb::kProtoUdp);
  EXPECT_EQ(flow.key.family, lb::kFamilyV6);
  EXPECT_EQ(flow.l3_offset, 14);
  EXPECT_EQ(flow.l4_offset, 54);
  EXPECT_EQ(flow.tcp_flags, 0);
}

TEST_F(FlowParse, IcmpArpAndIpv6ExtensionHeadersAreNotFlows) {
  ParsedFlow flow;
  auto icmp = packet::Builder().ethernet(kMacA, kMacB).ipv4(kClient, kVip).icmp_echo({}).build();
  ASSERT_OK(icmp);
  EXPECT_EQ(run(*icmp, flow), kNotFlow);
  auto arp = packet::Builder().ethernet({.src = kMacA, .dst = kMacB, .ethertype = 0x0806}).payload(std::string(28, '\0')).build();
  ASSERT_OK(arp);
  EXPECT_EQ(run(*arp, flow), kNotFlow);
  auto hop_by_hop = packet::Builder()
                        .ethernet(kMacA, kMacB)
                        .ipv6({.src = *packet::parse_ipv6("fd00::1"), .dst = *packet::parse_ipv6("fd00::2"), .next_header = 0})
                        .payload(std::string(16, '\0'))
                        .build();
  ASSERT_OK(hop_by_hop);
  EXPECT_EQ(run(*hop_by_hop, flow), kNotFlow);
}

// Flips the IPv4 flags/fragment-offset field of a built frame (checksum is not the parser's business).
std::vector<std::uint8_t> with_fragment_field(std::vector<std::uint8_t> frame, std::uint16_t field) {
  frame[14 + 6] = static_cast<std::uint8_t>(field >> 8);
  frame[14 + 7] = static_cast<std::uint8_t>(field & 0xff);
  return frame;
}

TEST_F(FlowParse, FirstFragmentIsFlaggedLaterFragmentsAreNotFlows) {
  auto frame = packet::Builder().ethernet(kMacA, kMacB).ipv4(kClient, kVip).udp(1000, 53).payload("abc").build();
  ASSERT_OK(frame);
  ParsedFlow flow;
  ASSERT_EQ(run(with_fragment_field(*frame, 0x2000), flow), kFlow);  // MF, offset 0
  EXPECT_EQ(flow.fragment, 1);
  EXPECT_EQ(flow.key.dport, net16(53));
  EXPECT_EQ(run(with_fragment_field(*frame, 0x0010), flow), kNotFlow);  // offset 16*8
  EXPECT_EQ(run(with_fragment_field(*frame, 0x2010), flow), kNotFlow);
}

TEST_F(FlowParse, EveryTruncationIsMalformed) {
  auto tcp4 = packet::Builder()
                  .ethernet({.src = kMacA, .dst = kMacB, .vlan_id = 3})
                  .ipv4({.src = kClient, .dst = kVip, .options = {1, 1, 1, 0}})
                  .tcp(1234, 80)
                  .build();
  auto udp6 = packet::Builder().ethernet(kMacA, kMacB).ipv6(*packet::parse_ipv6("fd00::1"), *packet::parse_ipv6("fd00::2")).udp(1, 2).build();
  ASSERT_OK(tcp4);
  ASSERT_OK(udp6);
  for (const auto* frame : {&*tcp4, &*udp6}) {
    for (std::size_t len = 14; len < frame->size(); ++len) {  // test_run refuses frames below ETH_HLEN
      std::vector<std::uint8_t> cut(frame->begin(), frame->begin() + static_cast<std::ptrdiff_t>(len));
      ParsedFlow flow;
      EXPECT_EQ(run(cut, flow), kMalformed) << "length " << len << " of " << frame->size();
    }
  }
}

TEST_F(FlowParse, BadIhlAndBadVersionAreMalformed) {
  auto frame = packet::Builder().ethernet(kMacA, kMacB).ipv4(kClient, kVip).udp(1000, 53).payload("abc").build();
  ASSERT_OK(frame);
  ParsedFlow flow;
  auto bad_ihl = *frame;
  bad_ihl[14] = 0x44;
  EXPECT_EQ(run(bad_ihl, flow), kMalformed);
  auto bad_version = *frame;
  bad_version[14] = 0x65;
  EXPECT_EQ(run(bad_version, flow), kMalformed);
}

TEST(FlowParseOptions, InvalidOptionsAreReportedByFinish) {
  Assembler a;
  lb::dataplane::emit_flow_parse(a, {.stack_offset = -12});
  a.label("flow_malformed").label("flow_not_flow").mov(r0, 0).exit();
  auto code = std::move(a).finish();
  ASSERT_FALSE(code.has_value());
  EXPECT_EQ(code.error().code(), Errc::invalid_argument);
  EXPECT_NE(code.error().to_string().find("stack_offset"), std::string::npos) << code.error().to_string();
}

TEST(FlowParseOptions, ProgramWithoutIpv6TreatsIpv6AsNotFlow) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto out, ArrayMap<ParsedFlow>::create(test::unique_name("fp"), 1));
  ASSERT_OK_AND_ASSIGN(auto prog, load_probe(out.fd(), false));
  auto frame = packet::Builder().ethernet(kMacA, kMacB).ipv6(*packet::parse_ipv6("fd00::1"), *packet::parse_ipv6("fd00::2")).udp(1, 2).build();
  ASSERT_OK(frame);
  ASSERT_OK_AND_ASSIGN(auto res, prog.test_run({.data_in = *frame}));
  EXPECT_EQ(res.retval, kNotFlow);
}

}  // namespace
