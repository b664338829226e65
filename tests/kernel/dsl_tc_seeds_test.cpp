// DSL TC seed programs: run with BPF_PROG_TEST_RUN on built frames, then attached for real (TCX ingress) on a
// veth inside private namespaces, where IPv4 UDP traffic must still arrive and IPv6 traffic must not.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "ebpf/attach/tc.hpp"
#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/tc_seeds.hpp"
#include "ebpf/link.hpp"
#include "ebpf/packet.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace {

using namespace ebpf;

std::vector<std::uint8_t> frame(int kind, std::optional<std::uint16_t> vlan = {}) {
  packet::Builder b;
  packet::EthernetSpec eth;
  eth.src = {2, 0, 0, 0, 0, 1};
  eth.dst = {2, 0, 0, 0, 0, 2};
  eth.vlan_id = vlan;
  if (kind == 6) eth.ethertype = 0;
  b.ethernet(eth);
  if (kind == 4) b.ipv4({10, 0, 0, 1}, {10, 0, 0, 2}).udp(1, 2).payload("x");
  if (kind == 6) b.ipv6(*packet::parse_ipv6("fd00::1"), *packet::parse_ipv6("fd00::2")).udp(1, 2).payload("x");
  if (kind == 0) {  // an ARP-typed frame with a zero body
    std::vector<std::uint8_t> arp(60, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    return arp;
  }
  auto f = b.build();
  EXPECT_TRUE(f.has_value());
  return f.value_or(std::vector<std::uint8_t>{});
}

std::uint32_t verdict(const Program& p, const std::vector<std::uint8_t>& f) {
  auto out = p.test_run({.data_in = f});
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out ? out->retval : 0xffffffffu;
}

constexpr std::uint32_t kOk = static_cast<std::uint32_t>(dsl::tc_action::ok);
constexpr std::uint32_t kShot = static_cast<std::uint32_t>(dsl::tc_action::shot);

TEST(DslTcSeeds, TestRunVerdicts) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto pass, dsl::load_tc_seed(dsl::TcSeed::pass_all));
  ASSERT_OK_AND_ASSIGN(auto v4only, dsl::load_tc_seed(dsl::TcSeed::ipv4_only));
  EXPECT_EQ(pass.name(), "tc_pass_all");
  for (int kind : {4, 6, 0}) EXPECT_EQ(verdict(pass, frame(kind)), kOk) << kind;
  EXPECT_EQ(verdict(v4only, frame(4)), kOk);
  EXPECT_EQ(verdict(v4only, frame(4, 10)), kOk);  // VLAN tag in the data
  EXPECT_EQ(verdict(v4only, frame(6)), kShot);
  EXPECT_EQ(verdict(v4only, frame(6, 10)), kShot);
  EXPECT_EQ(verdict(v4only, frame(0)), kShot);  // ARP
}

// MAC address of `dev` in `ns`, from `ip -o link show`.
Result<std::string> mac_of(const test::TestNetns& ns, const std::string& dev) {
  auto out = EBPF_TRY(ns.exec({"ip", "-o", "link", "show", "dev", dev}));
  const auto at = out.find("link/ether ");
  if (at == std::string::npos) return Error::invalid("mac_of", "no link/ether in: " + out);
  return out.substr(at + 11, 17);
}

Result<Fd> udp6_socket_in(const test::TestNetns& ns) {
  auto scope = EBPF_TRY(test::NetnsScope::enter(ns));
  Fd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "socket(AF_INET6, SOCK_DGRAM)");
  return fd;
}

// IPv6 counterpart of test::udp_exchange (which is IPv4 only): datagrams sent from `from` to `to_address`,
// how many a socket in `to` received within 500 ms.
Result<int> udp6_exchange(const test::TestNetns& from, const test::TestNetns& to, const std::string& to_address,
                          std::uint16_t port, int count) {
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  auto receiver = EBPF_TRY(udp6_socket_in(to));
  if (::bind(receiver.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno(errno, "bind(udp6)");
  if (::inet_pton(AF_INET6, to_address.c_str(), &addr.sin6_addr) != 1)
    return Error::invalid("udp6_exchange", "bad IPv6 address " + to_address);
  auto sender = EBPF_TRY(udp6_socket_in(from));
  for (int i = 0; i < count; ++i)
    if (::sendto(sender.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return Error::from_errno(errno, "sendto(udp6)");
  int received = 0;
  char buf[16];
  while (received < count) {
    pollfd pfd{receiver.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 500) <= 0) break;
    if (::recv(receiver.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) ++received;
  }
  return received;
}

// Datagrams that arrive from left to right over IPv6 (-1 on a setup error, reported as a failure).
int v6_received(const test::VethTopology& topo, std::uint16_t port) {
  auto n = udp6_exchange(topo.left, topo.right, "fd00:11::2", port, 5);
  EXPECT_TRUE(n.has_value()) << n.error().to_string();
  return n.value_or(-1);
}

TEST(DslTcSeeds, Ipv4OnlyFilterOnARealVeth) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, test::VethTopology::create());
  const std::string l = topo.left_end.name, r = topo.right_end.name;
  ASSERT_OK(topo.left.exec({"ip", "-6", "addr", "add", "fd00:11::1/64", "dev", l, "nodad"}));
  ASSERT_OK(topo.right.exec({"ip", "-6", "addr", "add", "fd00:11::2/64", "dev", r, "nodad"}));
  // Static neighbours: the filter drops ARP and neighbour discovery, the test is about the data packets.
  ASSERT_OK_AND_ASSIGN(auto right_mac, mac_of(topo.right, r));
  ASSERT_OK(topo.left.exec({"ip", "neigh", "replace", topo.right_end.address, "lladdr", right_mac, "dev", l,
                            "nud", "permanent"}));
  ASSERT_OK(topo.left.exec({"ip", "-6", "neigh", "replace", "fd00:11::2", "lladdr", right_mac, "dev", l, "nud",
                            "permanent"}));
  ASSERT_OK_AND_ASSIGN(auto left_mac, mac_of(topo.left, l));
  ASSERT_OK(topo.right.exec({"ip", "-6", "neigh", "replace", "fd00:11::1", "lladdr", left_mac, "dev", r, "nud",
                             "permanent"}));
  ASSERT_OK(topo.right.exec({"ip", "neigh", "replace", topo.left_end.address, "lladdr", left_mac, "dev", r, "nud",
                             "permanent"}));
  // Without a filter both families get through (the control).
  ASSERT_EQ(v6_received(topo, 7101), 5);
  ASSERT_OK_AND_ASSIGN(auto before, test::udp_exchange(topo.left, topo.right, topo.right_end.address, 7001, 5));
  ASSERT_EQ(before, 5);

  ASSERT_OK_AND_ASSIGN(auto prog, dsl::load_tc_seed(dsl::TcSeed::ipv4_only));
  ASSERT_OK_AND_ASSIGN(auto netns_fd, topo.right.open());
  TcxOptions opts;
  opts.netns_fd = netns_fd.get();
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_tcx(prog, topo.right_end.ifindex, TcDirection::ingress, opts));
    ASSERT_OK_AND_ASSIGN(auto received, test::udp_exchange(topo.left, topo.right, topo.right_end.address, 7002, 5));
    EXPECT_EQ(received, 5);
    EXPECT_EQ(v6_received(topo, 7102), 0);  // dropped at the right's ingress
  }
  // Link gone: IPv6 flows again, so the drops above were the filter's.
  EXPECT_EQ(v6_received(topo, 7103), 5);

  ASSERT_OK_AND_ASSIGN(auto pass, dsl::load_tc_seed(dsl::TcSeed::pass_all));
  ASSERT_OK_AND_ASSIGN(auto link, attach_tcx(pass, topo.right_end.ifindex, TcDirection::ingress, opts));
  EXPECT_EQ(v6_received(topo, 7104), 5);
  ASSERT_OK_AND_ASSIGN(auto received, test::udp_exchange(topo.left, topo.right, topo.right_end.address, 7003, 5));
  EXPECT_EQ(received, 5);
}

}  // namespace
