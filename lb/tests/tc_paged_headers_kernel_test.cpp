// The TC programs parse an skb's linear area first and pull the headers in only when that parse comes up
// short (emit_tc_flow_parse). BPF_PROG_TEST_RUN builds linear skbs only, so this test makes real skbs whose
// headers sit in page fragments: a tap device with IFF_NAPI_FRAGS puts the first iovec of a write in the
// linear area and every further iovec in a fragment, and with GRO off nothing pulls them back. A datagram
// written as [Ethernet header][IPv4 + UDP + payload] reaches TC ingress with 14 linear bytes (a probe
// program placed first on the hook checks this), must be DNATed to the backend socket, and the backend's
// reply must leave the tap SNATed back to the VIP; an ICMP error whose quote is in a fragment must still be
// translated. Needs root.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/errqueue.h>
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
#include <memory>
#include <optional>
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
  if (::ioctl(tap.get(), TUNSETIFF, &ifr) != 0)
    return ebpf::Error::from_errno(errno, "TUNSETIFF", "a tap with IFF_NAPI_FRAGS");
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

// One namespace with the paged tap as the balancer's client-facing interface (TC ingress hook); the backend is
// a UDP socket on the tap's own address, so DNATed datagrams are delivered locally and replies leave the tap.
class TcPagedHeaders : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto netns = TestNetns::create("paged");
    ASSERT_TRUE(netns.has_value()) << netns.error().to_string();
    netns_.emplace(std::move(*netns));
    auto scope = NetnsScope::enter(*netns_);
    ASSERT_TRUE(scope.has_value()) << scope.error().to_string();
    scope_.emplace(std::move(*scope));
    ASSERT_OK_AND_ASSIGN(tap_, open_paged_tap());
    ASSERT_OK(netns_->sh(std::string("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && ip link set ") + kTap +
                         " address 02:00:00:00:0a:01 up && ip addr add 10.12.0.1/24 dev " + kTap +
                         " && ip neigh add 10.12.0.2 lladdr 02:00:00:00:0a:02 dev " + kTap));
    const auto config = udp_config();
    ASSERT_OK_AND_ASSIGN(maps_, DataPathMaps::create(config, 4096));
    ASSERT_OK_AND_ASSIGN(tables_, compile_tables(config));
    ASSERT_OK(maps_->apply(*tables_));
    ASSERT_TRUE(bind_udp(backend_, "10.12.0.1", 5000)) << std::strerror(errno);
    ASSERT_OK_AND_ASSIGN(plane_, DataPlane::start(*maps_, {.ingress = kTap, .ingress_hook = IngressHook::tc}));
  }
  void TearDown() override {
    if (plane_) EXPECT_OK(plane_->shutdown(false));
  }

  // Writes `frame` to the tap as two iovecs, the first `linear` bytes and the rest: the skb's linear area and
  // one page fragment. Returns what the probe (first on TC ingress) saw as the linear area.
  std::uint64_t write_split(const std::vector<std::uint8_t>& frame, std::size_t linear) {
    auto probe = LinearProbe::create(static_cast<std::uint32_t>(frame.size()));
    EXPECT_TRUE(probe.has_value());
    if (!probe) return 0;
    auto link = ebpf::attach_tcx(probe->program, kTap, ebpf::TcDirection::ingress, {.position = ebpf::TcxPosition::first});
    EXPECT_TRUE(link.has_value());
    auto* bytes = const_cast<std::uint8_t*>(frame.data());
    iovec iov[2] = {{bytes, linear}, {bytes + linear, frame.size() - linear}};
    EXPECT_EQ(::writev(tap_.get(), iov, 2), static_cast<ssize_t>(frame.size())) << std::strerror(errno);
    return probe->linear_bytes();
  }

  // client:6000 → VIP:80 with `payload`, headers in a page fragment; the backend must receive it from the client.
  void send_request(const std::string& payload) {
    packet::Builder b;
    b.ethernet(kClientMac, kTapMac).ipv4(*packet::parse_ipv4("10.12.0.2"), *packet::parse_ipv4("10.0.0.100"));
    b.udp(6000, 80).payload(payload);
    ASSERT_OK_AND_ASSIGN(auto frame, b.build());
    EXPECT_EQ(write_split(frame, 14), 14u) << "the test's premise: TC ingress sees only the Ethernet header linear";
    char buffer[256] = {};
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    pollfd p{.fd = backend_.fd, .events = POLLIN, .revents = 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the DNATed datagram never reached the backend";
    const auto got = ::recvfrom(backend_.fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    ASSERT_EQ(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(got, 0))), payload);
    EXPECT_EQ(address_of(from), "10.12.0.2");
    EXPECT_EQ(ntohs(from.sin_port), 6000);
  }

  std::optional<TestNetns> netns_;
  std::optional<NetnsScope> scope_;
  ebpf::Fd tap_;
  std::optional<DataPathMaps> maps_;
  std::optional<CompiledTables> tables_;
  Socket backend_;
  std::unique_ptr<DataPlane> plane_;
};

TEST_F(TcPagedHeaders, ADatagramWhoseHeadersAreInAPageFragmentIsDnatedAndItsReplySnated) {
  ASSERT_NO_FATAL_FAILURE(send_request("headers in page fragments"));

  const std::string reply = "reply from the backend";
  const auto client = ipv4("10.12.0.2", 6000);
  ASSERT_EQ(::sendto(backend_.fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&client), sizeof client),
            static_cast<ssize_t>(reply.size()));
  const auto out = read_udp_frame(tap_.get());
  ASSERT_FALSE(out.empty()) << "no reply frame left the tap";
  ASSERT_OK_AND_ASSIGN(auto parsed, packet::parse(out));
  EXPECT_EQ(parsed.src_ipv4, *packet::parse_ipv4("10.0.0.100")) << "SNATed back to the VIP";
  EXPECT_EQ(parsed.dst_ipv4, *packet::parse_ipv4("10.12.0.2"));
  EXPECT_EQ(parsed.src_port, 80);
  EXPECT_EQ(parsed.dst_port, 6000);
  EXPECT_EQ(parsed.ipv4_checksum_ok, true);
  EXPECT_EQ(parsed.l4_checksum_ok, true);
  EXPECT_EQ(std::string(parsed.payload.begin(), parsed.payload.end()), reply);

  ASSERT_OK_AND_ASSIGN(auto svc, maps_->service_counters(tables_->service_ids.at("echo")));
  EXPECT_EQ(svc.new_flows, 1u);
  ASSERT_OK_AND_ASSIGN(auto global, maps_->global_counters());
  EXPECT_EQ(global.malformed, 0u);
}

// The client's "port unreachable" about a reply VIP:80 → client:6000, with the outer headers linear and the
// quote in a page fragment (the parse reaches ICMP on the linear part; the translation needs the quote): it
// must reach the backend socket as an error about its own datagram 10.12.0.1:5000 → client:6000.
TEST_F(TcPagedHeaders, AnIcmpErrorWhoseQuoteIsInAPageFragmentIsTranslatedToTheBackend) {
  ASSERT_NO_FATAL_FAILURE(send_request("open the flow"));
  const int on = 1;
  ASSERT_EQ(::setsockopt(backend_.fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on), 0);

  packet::Builder reply;
  reply.ethernet(kTapMac, kClientMac).ipv4(*packet::parse_ipv4("10.0.0.100"), *packet::parse_ipv4("10.12.0.2"));
  reply.udp(80, 6000).payload("reply");
  ASSERT_OK_AND_ASSIGN(auto reply_frame, reply.build());
  const std::vector<std::uint8_t> quote(reply_frame.begin() + 14, reply_frame.end());
  packet::Builder error;
  error.ethernet(kClientMac, kTapMac).ipv4(*packet::parse_ipv4("10.12.0.2"), *packet::parse_ipv4("10.0.0.100"))
      .icmp({.type = 3, .code = 3, .rest = 0}).payload(quote);
  ASSERT_OK_AND_ASSIGN(auto frame, error.build());
  constexpr std::size_t kOuterHeaders = 14 + 20 + 8;  // Ethernet + IPv4 + ICMP
  EXPECT_EQ(write_split(frame, kOuterHeaders), kOuterHeaders) << "the test's premise: the quote is not linear";

  pollfd p{.fd = backend_.fd, .events = POLLERR, .revents = 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "no error reached the backend socket";
  char data[64];
  alignas(cmsghdr) char control[256];
  sockaddr_in offender_to{};
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_name = &offender_to;
  msg.msg_namelen = sizeof offender_to;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ASSERT_GE(::recvmsg(backend_.fd, &msg, MSG_ERRQUEUE), 0) << std::strerror(errno);
  const sock_extended_err* ee = nullptr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR)
      ee = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
  ASSERT_NE(ee, nullptr);
  EXPECT_EQ(ee->ee_errno, static_cast<std::uint32_t>(ECONNREFUSED));
  EXPECT_EQ(ee->ee_origin, SO_EE_ORIGIN_ICMP);
  EXPECT_EQ(address_of(offender_to), "10.12.0.2") << "the quoted datagram's destination: the client";
  EXPECT_EQ(ntohs(offender_to.sin_port), 6000);

  ASSERT_OK_AND_ASSIGN(auto global, maps_->global_counters());
  EXPECT_EQ(global.icmp_translated, 1u);
}

}  // namespace
}  // namespace lb
