// Seed XDP event producer: one PacketEvent per frame read back with the library's RingBuffer — IPv4 TCP and
// UDP frames through BPF_PROG_TEST_RUN (addresses, ports, protocol, length, ethertype), an IPv6 frame (only
// length and ethertype), a full ring counting drops; and real UDP datagrams through a veth pair in private
// namespaces, whose records carry the sender's and receiver's addresses, the port and the ingress ifindex.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "ebpf/attach/xdp.hpp"
#include "ebpf/dsl/seeds_events.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "ebpf/ringbuf.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace {

using namespace ebpf;
namespace pe = ebpf::dsl::packet_events;

constexpr std::uint32_t kPass = 2;

std::uint32_t be_addr(const packet::Ipv4Addr& addr) {
  std::uint32_t v = 0;
  std::memcpy(&v, addr.data(), sizeof v);
  return v;
}

struct Fixture {
  Fd ring;
  ArrayMap<std::uint64_t> drops;
  Program prog;

  static Result<Fixture> make(std::uint32_t ring_size) {
    Fixture f;
    f.ring = EBPF_TRY(RingBuffer::create_map(test::unique_name("ev"), ring_size));
    f.drops = EBPF_TRY(ArrayMap<std::uint64_t>::create(test::unique_name("dr"), 1));
    f.prog = EBPF_TRY(pe::load(f.ring.get(), f.drops.fd()));
    return f;
  }
};

Result<std::vector<pe::PacketEvent>> drain(RingBuffer& ring) {
  std::vector<pe::PacketEvent> events;
  EBPF_TRY(ring.consume<pe::PacketEvent>([&](const pe::PacketEvent& e) { events.push_back(e); }, SizeCheck::exact));
  return events;
}

TEST(DslSeedPacketEvents, OneRecordPerFrame) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(64 * 1024));
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(f.ring.get()));
  const packet::Ipv4Addr src{192, 0, 2, 7}, dst{198, 51, 100, 9};
  const packet::Mac m1{2, 0, 0, 0, 0, 1}, m2{2, 0, 0, 0, 0, 2};
  ASSERT_OK_AND_ASSIGN(auto udp, packet::Builder().ethernet(m1, m2).ipv4(src, dst).udp(5353, 53).payload("q").build());
  ASSERT_OK_AND_ASSIGN(auto tcp, packet::Builder().ethernet(m1, m2).ipv4(dst, src).tcp(443, 40000).build());
  ASSERT_OK_AND_ASSIGN(auto v6src, packet::parse_ipv6("fd00::1"));
  ASSERT_OK_AND_ASSIGN(auto v6dst, packet::parse_ipv6("fd00::2"));
  ASSERT_OK_AND_ASSIGN(auto v6, packet::Builder().ethernet(m1, m2).ipv6(v6src, v6dst).udp(1, 2).build());
  for (const auto* frame : {&udp, &tcp, &v6}) {
    ASSERT_OK_AND_ASSIGN(auto out, f.prog.test_run({.data_in = *frame}));
    EXPECT_EQ(out.retval, kPass);
  }
  ASSERT_OK_AND_ASSIGN(auto events, drain(ring));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].saddr, be_addr(src));
  EXPECT_EQ(events[0].daddr, be_addr(dst));
  EXPECT_EQ(events[0].sport, 5353);
  EXPECT_EQ(events[0].dport, 53);
  EXPECT_EQ(events[0].protocol, IPPROTO_UDP);
  EXPECT_EQ(events[0].ethertype, 0x0800);
  EXPECT_EQ(events[0].len, udp.size());
  EXPECT_EQ(events[1].saddr, be_addr(dst));
  EXPECT_EQ(events[1].daddr, be_addr(src));
  EXPECT_EQ(events[1].sport, 443);
  EXPECT_EQ(events[1].dport, 40000);
  EXPECT_EQ(events[1].protocol, IPPROTO_TCP);
  EXPECT_EQ(events[1].len, tcp.size());
  EXPECT_EQ(events[2].ethertype, 0x86dd);
  EXPECT_EQ(events[2].len, v6.size());
  EXPECT_EQ(events[2].saddr, 0u);
  EXPECT_EQ(events[2].protocol, 0u);
  EXPECT_EQ(events[2].sport, 0u);
  ASSERT_OK_AND_ASSIGN(auto drops, f.drops.lookup(0));
  EXPECT_EQ(drops, 0u);
}

TEST(DslSeedPacketEvents, FullRingCountsDropsAndStillPasses) {
  EBPF_REQUIRE_KERNEL();
  const auto size = static_cast<std::uint32_t>(page_size());
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(size));
  ASSERT_OK_AND_ASSIGN(auto frame, packet::Builder()
                                       .ethernet({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
                                       .ipv4({10, 0, 0, 1}, {10, 0, 0, 2})
                                       .udp(1, 2)
                                       .build());
  // The kernel keeps the unconsumed bytes below the ring size, so (size - 1) / span records fit.
  const auto fit = (size - 1) / ringbuf_abi::record_span(sizeof(pe::PacketEvent));
  constexpr std::uint32_t kExtra = 7;
  for (std::uint32_t i = 0; i < fit + kExtra; ++i) {
    ASSERT_OK_AND_ASSIGN(auto out, f.prog.test_run({.data_in = frame}));
    ASSERT_EQ(out.retval, kPass);
  }
  ASSERT_OK_AND_ASSIGN(auto drops, f.drops.lookup(0));
  EXPECT_EQ(drops, kExtra);
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(f.ring.get(), {.drop_counter_map_fd = f.drops.fd()}));
  ASSERT_OK_AND_ASSIGN(auto events, drain(ring));
  EXPECT_EQ(events.size(), fit);
  EXPECT_EQ(ring.stats().drops, kExtra);
}

TEST(DslSeedPacketEvents, RealVethTraffic) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(256 * 1024));
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(f.ring.get()));
  ASSERT_OK_AND_ASSIGN(auto topo, test::VethTopology::create());
  ASSERT_OK_AND_ASSIGN(auto netns_fd, topo.right.open());
  XdpOptions options;
  options.netns_fd = netns_fd.get();
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(f.prog, topo.right_end.ifindex, options));
  constexpr std::uint16_t kPort = 4747;
  constexpr std::size_t kPayload = 40;
  ASSERT_OK_AND_ASSIGN(auto received, test::udp_exchange(topo.left, topo.right, topo.right_end.address, kPort, 6,
                                                         kPayload));
  EXPECT_EQ(received, 6);  // the producer passes everything
  ASSERT_OK_AND_ASSIGN(auto events, drain(ring));
  ASSERT_OK_AND_ASSIGN(auto left, packet::parse_ipv4(topo.left_end.address));
  ASSERT_OK_AND_ASSIGN(auto right, packet::parse_ipv4(topo.right_end.address));
  int datagrams = 0;
  for (const auto& e : events) {  // ARP and IPv6 neighbour traffic may be recorded too
    EXPECT_EQ(e.ifindex, topo.right_end.ifindex);
    if (e.protocol != IPPROTO_UDP || e.dport != kPort) continue;
    ++datagrams;
    EXPECT_EQ(e.saddr, be_addr(left));
    EXPECT_EQ(e.daddr, be_addr(right));
    EXPECT_EQ(e.len, 14 + 20 + 8 + kPayload);
    EXPECT_NE(e.sport, 0u);
  }
  EXPECT_EQ(datagrams, 6);
}

}  // namespace
