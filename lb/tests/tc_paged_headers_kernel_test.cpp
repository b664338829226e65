// The TC programs parse an skb's linear area first and pull the headers in only when that parse comes up
// short (emit_tc_flow_parse). BPF_PROG_TEST_RUN builds linear skbs only, so this test makes real skbs whose
// headers sit in page fragments: a tap device with IFF_NAPI_FRAGS puts the first iovec of a write in the
// linear area and every further iovec in a fragment, and with GRO off nothing pulls them back. A datagram
// written as [Ethernet header][IPv4 + UDP + payload] reaches TC ingress with 14 linear bytes (a probe
// program placed first on the hook checks this), must be DNATed to the backend socket, and the backend's
// reply must leave the tap SNATed back to the VIP. Needs root.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/tc.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "lb/control/tables.hpp"
#include "lb/dataplane/dataplane.hpp"
#include "lb/tests/udp_sockets.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace lb {
namespace {

namespace packet = ebpf::packet;
using ebpf::test::NetnsScope;
using ebpf::test::TestNetns;
using lb::test::Socket;
using lb::test::bind_udp;
using lb::test::ipv4;
using lb::test::address_of;

constexpr char kTap[] = "lbpaged0";
constexpr packet::Mac kTapMac{0x02, 0, 0, 0, 0x0a, 0x01};
constexpr packet::Mac kClientMac{0x02, 0, 0, 0, 0x0a, 0x02};

Config udp_config() {
  auto config = parse_config(R"(
maglev_table_size: 1009
conntrack: { max_entries: 4096 }
ingress_hook: tc
services:
  - name: echo
    vip: 10.0.0.100
    port: 80
    protocol: udp
    health_check: { type: none }
    backends: [ { address: 10.12.0.1, port: 5000 } ]
)",
                             "paged.yaml");
  EXPECT_TRUE(config.has_value()) << config.error().to_string();
  return *config;
}

// A tap whose writes become skbs with paged data (IFF_NAPI_FRAGS), GRO off. Created in the calling thread's
// network namespace; the fd closes (and the device goes) with the Fd.
ebpf::Result<ebpf::Fd> open_paged_tap() {
  ebpf::Fd tap(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!tap.valid()) return ebpf::Error::from_errno(errno, "open /dev/net/tun");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, kTap, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS;
  if (::ioctl(tap.get(), TUNSETIFF, &ifr) != 0) return ebpf::Error::from_errno(errno, "TUNSETIFF", "a tap with IFF_NAPI_FRAGS");
  ebpf::Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ethtool_value gro{.cmd = ETHTOOL_SGRO, .data = 0};
  ifr.ifr_data = reinterpret_cast<char*>(&gro);
  if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) != 0) return ebpf::Error::from_errno(errno, "SIOCETHTOOL", "turning GRO off");
  return tap;
}

// A sched_cls probe that records, for skbs of `len` bytes, the length of their linear area; then lets the
// next program run (TCX_NEXT).
struct LinearProbe {
  ebpf::Fd map;
  ebpf::Program program;

  static ebpf::Result<LinearProbe> create(std::uint32_t len) {
    using namespace ebpf::isa;
    ebpf::sys::MapCreateAttr attr;
    attr.map_type = static_cast<std::uint32_t>(ebpf::MapType::array);
    attr.key_size = 4;
    attr.value_size = 8;
    attr.max_entries = 1;
    auto map = EBPF_TRY(ebpf::sys::map_create(attr));
    // __sk_buff: len at 0, data at 76, data_end at 80.
    ebpf::Assembler a;
    a.ldx(W, r2, r1, 0).jne(r2, static_cast<std::int32_t>(len), "next");
    a.ldx(W, r2, r1, 76).ldx(W, r3, r1, 80).sub(r3, r2);
    a.ld_map_value(r4, map.get(), 0).stx(DW, r4, 0, r3);
    a.label("next").mov(r0, -1).exit();
    auto code = EBPF_TRY(std::move(a).finish());
    ebpf::ProgramLoadOptions options;
    options.name = "linear_probe";
    auto program = EBPF_TRY(ebpf::Program::load(ebpf::ProgType::sched_cls, code.span(), options));
    return LinearProbe{std::move(map), std::move(program)};
  }
  std::uint64_t linear_bytes() const {
    std::uint32_t key = 0;
    std::uint64_t value = 0;
    EXPECT_TRUE(ebpf::sys::map_lookup_elem(map.get(), &key, &value).has_value());
    return value;
  }
};

// The next IPv4 UDP frame the kernel sends out of the tap (skipping IPv6 neighbour discovery and the like).
std::vector<std::uint8_t> read_udp_frame(int tap) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    pollfd p{.fd = tap, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    std::vector<std::uint8_t> frame(2048);
    const auto n = ::read(tap, frame.data(), frame.size());
    if (n <= 0) continue;
    frame.resize(static_cast<std::size_t>(n));
    auto parsed = packet::parse(frame);
    if (parsed && parsed->ip_version == 4 && parsed->protocol == IPPROTO_UDP) return frame;
  }
  return {};
}

TEST(TcPagedHeaders, ADatagramWhoseHeadersAreInPageFragmentsIsDnatedAndItsReplySnated) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto netns, TestNetns::create("paged"));
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(netns));
  ASSERT_OK_AND_ASSIGN(auto tap, open_paged_tap());
  ASSERT_OK(netns.sh(std::string("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && ip link set ") + kTap +
                     " address 02:00:00:00:0a:01 up && ip addr add 10.12.0.1/24 dev " + kTap +
                     " && ip neigh add 10.12.0.2 lladdr 02:00:00:00:0a:02 dev " + kTap));

  const auto config = udp_config();
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096));
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(config));
  ASSERT_OK(maps.apply(tables));
  Socket backend;
  ASSERT_TRUE(bind_udp(backend, "10.12.0.1", 5000)) << std::strerror(errno);
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, {.ingress = kTap, .ingress_hook = IngressHook::tc}));

  const std::string payload = "headers in page fragments";
  packet::Builder b;
  b.ethernet(kClientMac, kTapMac).ipv4(*packet::parse_ipv4("10.12.0.2"), *packet::parse_ipv4("10.0.0.100")).udp(6000, 80).payload(payload);
  ASSERT_OK_AND_ASSIGN(auto frame, b.build());
  ASSERT_OK_AND_ASSIGN(auto probe, LinearProbe::create(static_cast<std::uint32_t>(frame.size())));
  ASSERT_OK_AND_ASSIGN(auto probe_link, ebpf::attach_tcx(probe.program, kTap, ebpf::TcDirection::ingress,
                                                         {.position = ebpf::TcxPosition::first}));

  // [Ethernet][the rest]: the first iovec becomes the linear area, the second a page fragment.
  iovec iov[2] = {{frame.data(), 14}, {frame.data() + 14, frame.size() - 14}};
  ASSERT_EQ(::writev(tap.get(), iov, 2), static_cast<ssize_t>(frame.size())) << std::strerror(errno);
  EXPECT_EQ(probe.linear_bytes(), 14u) << "the test's premise: TC ingress sees only the Ethernet header linear";

  char buffer[256] = {};
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  pollfd p{.fd = backend.fd, .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the DNATed datagram never reached the backend";
  const auto got = ::recvfrom(backend.fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  ASSERT_EQ(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(got, 0))), payload);
  EXPECT_EQ(address_of(from), "10.12.0.2");
  EXPECT_EQ(ntohs(from.sin_port), 6000);

  const std::string reply = "reply from the backend";
  const auto client = ipv4("10.12.0.2", 6000);
  ASSERT_EQ(::sendto(backend.fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&client), sizeof client),
            static_cast<ssize_t>(reply.size()));
  const auto out = read_udp_frame(tap.get());
  ASSERT_FALSE(out.empty()) << "no reply frame left the tap";
  ASSERT_OK_AND_ASSIGN(auto parsed, packet::parse(out));
  EXPECT_EQ(parsed.src_ipv4, *packet::parse_ipv4("10.0.0.100")) << "SNATed back to the VIP";
  EXPECT_EQ(parsed.dst_ipv4, *packet::parse_ipv4("10.12.0.2"));
  EXPECT_EQ(parsed.src_port, 80);
  EXPECT_EQ(parsed.dst_port, 6000);
  EXPECT_EQ(parsed.ipv4_checksum_ok, true);
  EXPECT_EQ(parsed.l4_checksum_ok, true);
  EXPECT_EQ(std::string(parsed.payload.begin(), parsed.payload.end()), reply);

  ASSERT_OK_AND_ASSIGN(auto svc, maps.service_counters(tables.service_ids.at("echo")));
  EXPECT_EQ(svc.new_flows, 1u);
  ASSERT_OK_AND_ASSIGN(auto global, maps.global_counters());
  EXPECT_EQ(global.malformed, 0u);
  ASSERT_OK(plane->shutdown(false));
}

}  // namespace
}  // namespace lb
