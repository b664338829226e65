// DSL NAT rewrite fragments run in the kernel on real frames: XDP programs (direct packet access,
// incremental checksums) and TC programs (skb helpers) rewrite an address and port; the output must be
// byte-for-byte the frame packet::Builder makes with the new values, and its IPv4 header and TCP/UDP
// checksums are verified again here by a full recomputation over the pseudo-header.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/dsl/rewrite.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

ProgramLoadOptions named(const char* name) {
  ProgramLoadOptions o;
  o.name = name;
  return o;
}
using dsl::Endpoint;
using dsl::L4Proto;

// ---- independent checksum verification ----------------------------------------------------------------

std::uint32_t add_words(std::uint32_t sum, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 2) sum += std::uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  return sum;
}
std::uint16_t fold_complement(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}
std::uint16_t get16(const std::vector<std::uint8_t>& b, std::size_t off) {
  return static_cast<std::uint16_t>(b[off] << 8 | b[off + 1]);
}
void put16(std::vector<std::uint8_t>& b, std::size_t off, std::uint16_t v) {
  b[off] = static_cast<std::uint8_t>(v >> 8);
  b[off + 1] = static_cast<std::uint8_t>(v);
}

// Where the layers of an untagged or single-tagged Ethernet frame start.
struct Offsets {
  std::size_t l3 = 0, l4 = 0;
  int version = 0;
  std::uint8_t proto = 0;
};
Offsets offsets_of(const std::vector<std::uint8_t>& f) {
  Offsets o;
  o.l3 = get16(f, 12) == 0x8100 ? 18 : 14;
  o.version = f[o.l3] >> 4;
  o.l4 = o.version == 4 ? o.l3 + (f[o.l3] & 0x0f) * 4u : o.l3 + 40;
  o.proto = o.version == 4 ? f[o.l3 + 9] : f[o.l3 + 6];
  return o;
}

// True when the IPv4 header checksum (if any) and the TCP/UDP checksum verify; a UDP checksum of 0 (none)
// is accepted only when `udp_zero_ok`.
::testing::AssertionResult checksums_valid(const std::vector<std::uint8_t>& f, bool udp_zero_ok = false) {
  const Offsets o = offsets_of(f);
  const std::size_t l4_len = f.size() - o.l4;
  std::uint32_t pseudo = 0;
  if (o.version == 4) {
    const std::size_t ihl = o.l4 - o.l3;
    if (fold_complement(add_words(0, &f[o.l3], ihl)) != 0) return ::testing::AssertionFailure() << "IPv4 header";
    pseudo = add_words(0, &f[o.l3 + 12], 8);
  } else {
    pseudo = add_words(0, &f[o.l3 + 8], 32);
  }
  pseudo += o.proto + static_cast<std::uint32_t>(l4_len);
  const std::size_t csum_at = o.l4 + (o.proto == 6 ? 16 : 6);
  if (o.proto == 17 && get16(f, csum_at) == 0)
    return udp_zero_ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "UDP checksum 0";
  if (fold_complement(add_words(pseudo, &f[o.l4], l4_len)) != 0)
    return ::testing::AssertionFailure() << "L4 checksum " << std::hex << get16(f, csum_at);
  return ::testing::AssertionSuccess();
}

// ---- frames -------------------------------------------------------------------------------------------

struct Flow {
  std::vector<std::uint8_t> saddr = {}, daddr = {};  // 4 or 16 bytes
  std::uint16_t sport = 0, dport = 0;
};

struct FrameSpec {
  L4Proto proto = L4Proto::tcp;
  std::optional<std::uint16_t> vlan = {};
  std::vector<std::uint8_t> ip_options = {};
  std::string payload = "payload!";
};

std::vector<std::uint8_t> frame(const Flow& flow, const FrameSpec& spec) {
  packet::Builder b;
  packet::EthernetSpec eth;
  eth.src = {2, 0, 0, 0, 0, 1};
  eth.dst = {2, 0, 0, 0, 0, 2};
  eth.vlan_id = spec.vlan;
  b.ethernet(eth);
  if (flow.saddr.size() == 4) {
    packet::Ipv4Spec ip;
    std::memcpy(ip.src.data(), flow.saddr.data(), 4);
    std::memcpy(ip.dst.data(), flow.daddr.data(), 4);
    ip.options = spec.ip_options;
    b.ipv4(ip);
  } else {
    packet::Ipv6Spec ip;
    std::memcpy(ip.src.data(), flow.saddr.data(), 16);
    std::memcpy(ip.dst.data(), flow.daddr.data(), 16);
    b.ipv6(ip);
  }
  if (spec.proto == L4Proto::tcp) {
    packet::TcpSpec tcp;
    tcp.src_port = flow.sport;
    tcp.dst_port = flow.dport;
    tcp.seq = 0x01020304;
    tcp.flags = packet::tcp_flags::ack;
    b.tcp(tcp);
  } else {
    b.udp(flow.sport, flow.dport);
  }
  b.payload(spec.payload);
  auto out = b.build();
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out.value_or(std::vector<std::uint8_t>{});
}

const std::vector<std::uint8_t> kClient4{10, 0, 0, 1}, kVip4{10, 96, 0, 10}, kBackend4{192, 168, 200, 7};
const std::vector<std::uint8_t> kClient6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const std::vector<std::uint8_t> kVip6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0a};
const std::vector<std::uint8_t> kBackend6{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xfe, 0x12, 0x34,
                                          0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0xff, 0xff};

// Value of `bytes` as ldx W loads them on this (little-endian) machine: the form st/mov immediates need.
std::int32_t raw32(const std::vector<std::uint8_t>& bytes, std::size_t off = 0) {
  std::int32_t v;
  std::memcpy(&v, bytes.data() + off, 4);
  return v;
}
std::uint16_t host_to_raw16(std::uint16_t port) { return static_cast<std::uint16_t>(port >> 8 | port << 8); }

// What the rewrite should produce: `flow` with `which` endpoint replaced by addr:port.
Flow rewritten(Flow flow, Endpoint which, const std::vector<std::uint8_t>& addr, std::uint16_t port) {
  (which == Endpoint::source ? flow.saddr : flow.daddr) = addr;
  (which == Endpoint::source ? flow.sport : flow.dport) = port;
  return flow;
}

// ---- programs -----------------------------------------------------------------------------------------

struct NatTarget {
  Endpoint which = Endpoint::destination;
  L4Proto proto = L4Proto::tcp;
  std::vector<std::uint8_t> addr = {};
  std::uint16_t port = 0;
};

// XDP: parse Ethernet (+VLAN) and IPv4 / a fixed IPv6 header, rewrite, XDP_PASS; XDP_DROP on `bad`.
Result<Program> load_xdp_nat(const NatTarget& t) {
  const dsl::PacketRegs regs;  // r2 data, r3 data_end, r4 cursor, r5 scratch
  Assembler a;
  dsl::xdp_load_data(a, r1, regs);
  dsl::parse_ethernet(a, regs, r7, "bad");
  a.mov(r8, host_to_raw16(t.port));
  if (t.addr.size() == 4) {
    a.jne(r7, 0x0800, "bad");
    dsl::parse_ipv4(a, regs, r6, r0, "bad");
    // The address as a host-order constant converted with be(), as the contract suggests.
    const std::uint32_t host = std::uint32_t(t.addr[0]) << 24 | t.addr[1] << 16 | t.addr[2] << 8 | t.addr[3];
    a.mov(WReg{7}, static_cast<std::int32_t>(host)).be(r7, 32);
    dsl::xdp_rewrite_ipv4(a, {.which = t.which, .proto = t.proto, .port = r8}, "bad");
  } else {
    a.jne(r7, 0x86dd, "bad").mov(r6, regs.cursor);
    dsl::check_bounds(a, regs, 40, "bad");
    a.add(regs.cursor, 40);
    for (int w = 0; w < 4; ++w) a.st(W, r10, static_cast<std::int16_t>(-16 + 4 * w), raw32(t.addr, 4 * w));
    dsl::xdp_rewrite_ipv6(a, {.which = t.which, .proto = t.proto, .addr = {r10, -16}, .port = r8}, "bad");
  }
  a.mov(r0, dsl::xdp_action::pass).exit();
  a.label("bad").mov(r0, dsl::xdp_action::drop).exit();
  auto code = EBPF_TRY(a.finish());
  return Program::load(ProgType::xdp, code.span(), named("dsl_nat"));
}

constexpr std::int16_t kSkbData = 76, kSkbDataEnd = 80;  // struct __sk_buff
constexpr std::int32_t kTcOk = 0, kTcShot = 2;

// TC: new address/port on the stack, L4 offset from the IPv4 IHL (register) or fixed for IPv6.
Result<Program> load_tc_nat(const NatTarget& t) {
  Assembler a;
  a.mov(r6, r1);
  a.st(H, r10, -2, host_to_raw16(t.port));
  if (t.addr.size() == 4) {
    a.st(W, r10, -8, raw32(t.addr));
    a.ldx(W, r2, r6, kSkbData).ldx(W, r3, r6, kSkbDataEnd);
    a.mov(r4, r2).add(r4, 15).jgt(r4, r3, "bad");
    a.ldx(B, r7, r2, 14).and_(r7, 0x0f).lsh(r7, 2).add(r7, 14);
    dsl::tc_rewrite_ipv4(a, {.which = t.which, .proto = t.proto, .l4_off = r7, .new_addr_slot = -8,
                             .new_port_slot = std::int16_t{-2}, .scratch_slot = -16}, "bad");
  } else {
    for (int w = 0; w < 4; ++w) a.st(W, r10, static_cast<std::int16_t>(-24 + 4 * w), raw32(t.addr, 4 * w));
    dsl::tc_rewrite_ipv6(a, {.which = t.which, .proto = t.proto, .new_addr_slot = -24,
                             .new_port_slot = std::int16_t{-2}, .scratch_slot = -48}, "bad");
  }
  a.mov(r0, kTcOk).exit();
  a.label("bad").mov(r0, kTcShot).exit();
  auto code = EBPF_TRY(a.finish());
  return Program::load(ProgType::sched_cls, code.span(), named("dsl_tc_nat"));
}

struct RunOut {
  std::uint32_t retval = 0;
  std::vector<std::uint8_t> data;
};
RunOut run(const Program& prog, const std::vector<std::uint8_t>& in) {
  auto out = prog.test_run({.data_in = in});
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  if (!out) return {};
  return {out->retval, out->data_out};
}

// ---- XDP ----------------------------------------------------------------------------------------------

struct Scenario {
  std::string name = {};
  bool tc = false;
  NatTarget target = {};
  FrameSpec spec = {};
  bool udp_zero = false;  // send with UDP checksum 0 ("none")
};

class DslRewrite : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override { EBPF_REQUIRE_KERNEL(); }
};

TEST_P(DslRewrite, OutputIsTheRewrittenFrameWithValidChecksums) {
  const Scenario& s = GetParam();
  const bool v4 = s.target.addr.size() == 4;
  const Flow flow{v4 ? kClient4 : kClient6, v4 ? kVip4 : kVip6, 40001, 80};
  auto in = frame(flow, s.spec);
  auto expected = frame(rewritten(flow, s.target.which, s.target.addr, s.target.port), s.spec);
  if (s.udp_zero) {
    const Offsets o = offsets_of(in);
    put16(in, o.l4 + 6, 0);
    put16(expected, o.l4 + 6, 0);
  }
  ASSERT_OK_AND_ASSIGN(auto prog, s.tc ? load_tc_nat(s.target) : load_xdp_nat(s.target));
  const RunOut out = run(prog, in);
  EXPECT_EQ(out.retval, static_cast<std::uint32_t>(s.tc ? kTcOk : dsl::xdp_action::pass));
  EXPECT_EQ(packet::to_hex(out.data), packet::to_hex(expected));
  EXPECT_TRUE(checksums_valid(out.data, s.udp_zero));
}

std::vector<Scenario> scenarios() {
  std::vector<Scenario> v;
  for (bool tc : {false, true}) {
    const std::string p = tc ? "Tc" : "Xdp";
    v.push_back({p + "Ipv4TcpDnat", tc, {Endpoint::destination, L4Proto::tcp, kBackend4, 8080}, {}});
    v.push_back({p + "Ipv4UdpSnat", tc, {Endpoint::source, L4Proto::udp, kVip4, 53}, {.proto = L4Proto::udp}});
    v.push_back({p + "Ipv4OptionsTcp", tc, {Endpoint::destination, L4Proto::tcp, kBackend4, 443},
                 {.ip_options = {1, 1, 1, 1, 0x94, 4, 0, 0}}});
    v.push_back({p + "Ipv4UdpChecksumNoneStaysZero", tc, {Endpoint::destination, L4Proto::udp, kBackend4, 5353},
                 {.proto = L4Proto::udp}, true});
    v.push_back({p + "Ipv6TcpDnat", tc, {Endpoint::destination, L4Proto::tcp, kBackend6, 8443}, {}});
    v.push_back({p + "Ipv6UdpSnat", tc, {Endpoint::source, L4Proto::udp, kVip6, 4789}, {.proto = L4Proto::udp}});
  }
  v.push_back({"XdpVlanIpv4Tcp", false, {Endpoint::source, L4Proto::tcp, kBackend4, 1}, {.vlan = 7}});
  v.push_back({"XdpVlanIpv6Udp", false, {Endpoint::destination, L4Proto::udp, kBackend6, 9}, {.proto = L4Proto::udp,
               .vlan = 7}});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Nat, DslRewrite, ::testing::ValuesIn(scenarios()),
                         [](const auto& info) { return info.param.name; });

// The rewritten UDP checksum computes to 0 and must be sent as 0xffff. The payload's last word is chosen so
// that the final datagram sums to 0xffff.
TEST(DslRewriteCorner, UdpComputedZeroIsSentAsAllOnes) {
  EBPF_REQUIRE_KERNEL();
  for (bool tc : {false, true}) {
    for (bool v4 : {true, false}) {
      const Flow flow{v4 ? kClient4 : kClient6, v4 ? kVip4 : kVip6, 40001, 80};
      const NatTarget t{Endpoint::destination, L4Proto::udp, v4 ? kBackend4 : kBackend6, 8080};
      FrameSpec spec{.proto = L4Proto::udp, .payload = std::string("abcdef\0\0", 8)};
      auto probe = frame(rewritten(flow, t.which, t.addr, t.port), spec);
      const Offsets o = offsets_of(probe);
      const std::uint16_t c = get16(probe, o.l4 + 6);  // ~sum without the last word: put it there
      spec.payload[6] = static_cast<char>(c >> 8);
      spec.payload[7] = static_cast<char>(c & 0xff);
      const auto expected = frame(rewritten(flow, t.which, t.addr, t.port), spec);
      ASSERT_EQ(get16(expected, o.l4 + 6), 0xffff) << "test setup";
      ASSERT_OK_AND_ASSIGN(auto prog, tc ? load_tc_nat(t) : load_xdp_nat(t));
      const RunOut out = run(prog, frame(flow, spec));
      EXPECT_EQ(packet::to_hex(out.data), packet::to_hex(expected)) << (tc ? "tc " : "xdp ") << (v4 ? "v4" : "v6");
      EXPECT_TRUE(checksums_valid(out.data));
    }
  }
}

TEST(DslRewriteCorner, XdpShortL4HeaderTakesBadAndWritesNothing) {
  EBPF_REQUIRE_KERNEL();
  const NatTarget t{Endpoint::destination, L4Proto::tcp, kBackend4, 8080};
  ASSERT_OK_AND_ASSIGN(auto prog, load_xdp_nat(t));
  const auto full = frame({kClient4, kVip4, 1, 2}, {.payload = ""});
  for (std::size_t cut = 34; cut < 34 + 18; ++cut) {  // L4 header starts at 34; the rewrite needs 18 bytes
    const std::vector<std::uint8_t> in(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    const RunOut out = run(prog, in);
    EXPECT_EQ(out.retval, static_cast<std::uint32_t>(dsl::xdp_action::drop)) << cut;
    EXPECT_EQ(out.data, in) << cut;
  }
  EXPECT_EQ(run(prog, full).retval, static_cast<std::uint32_t>(dsl::xdp_action::pass));
}

TEST(DslRewriteCorner, TcShortPacketTakesBad) {
  EBPF_REQUIRE_KERNEL();
  const NatTarget t{Endpoint::destination, L4Proto::tcp, kBackend6, 8080};
  ASSERT_OK_AND_ASSIGN(auto prog, load_tc_nat(t));
  const auto full = frame({kClient6, kVip6, 1, 2}, {.payload = ""});
  const std::vector<std::uint8_t> in(full.begin(), full.begin() + 60);  // TCP checksum at 54+16 is missing
  EXPECT_EQ(run(prog, in).retval, static_cast<std::uint32_t>(kTcShot));
}

// ---- swaps --------------------------------------------------------------------------------------------

TEST(DslSwap, MacsAddressesAndPortsSwapWithChecksumsUnchanged) {
  EBPF_REQUIRE_KERNEL();
  for (bool v4 : {true, false}) {
    const dsl::PacketRegs regs;
    Assembler a;
    dsl::xdp_load_data(a, r1, regs);
    dsl::parse_ethernet(a, regs, r7, "bad");
    dsl::swap_macs(a, regs.data, r0, r1);
    a.mov(r6, regs.cursor);
    if (v4) {
      dsl::parse_ipv4(a, regs, r6, r0, "bad");
      dsl::swap_ipv4_addrs(a, r6, r0, r1);
    } else {
      dsl::check_bounds(a, regs, 40, "bad");
      a.add(regs.cursor, 40);
      dsl::swap_ipv6_addrs(a, r6, r0, r1);
    }
    dsl::check_bounds(a, regs, 4, "bad");
    dsl::swap_ports(a, regs.cursor, r0, r1);
    a.mov(r0, dsl::xdp_action::tx).exit();
    a.label("bad").mov(r0, dsl::xdp_action::drop).exit();
    ASSERT_OK_AND_ASSIGN(auto code, a.finish());
    ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, code.span(), named("dsl_swap")));
    const Flow flow{v4 ? kClient4 : kClient6, v4 ? kVip4 : kVip6, 40001, 80};
    const Flow back{flow.daddr, flow.saddr, flow.dport, flow.sport};
    auto expected = frame(back, {.proto = L4Proto::udp});
    std::swap_ranges(expected.begin(), expected.begin() + 6, expected.begin() + 6);  // MACs back to front
    const RunOut out = run(prog, frame(flow, {.proto = L4Proto::udp}));
    EXPECT_EQ(out.retval, static_cast<std::uint32_t>(dsl::xdp_action::tx));
    EXPECT_EQ(packet::to_hex(out.data), packet::to_hex(expected)) << (v4 ? "v4" : "v6");
    EXPECT_TRUE(checksums_valid(out.data));
  }
}

}  // namespace
