// DataPlane with `ingress_hook: tc` against the real kernel, inside private network namespaces: the DNAT
// program is a sched_cls program on TC ingress (tcx link, or a cls_bpf filter with --netlink) and XDP stays
// empty; a real UDP datagram from a client namespace to the VIP is DNATed on the skb path (where veth hands
// over CHECKSUM_PARTIAL skbs) and delivered to the backend socket, whose reply comes back from the VIP;
// forwarding: redirect sends the DNATed request on with bpf_fib_lookup + bpf_redirect from TC ingress; restarts
// on the tc hook swap the program in place, and restarts that switch between the hooks (with pinned
// links or netlink attachments) leave exactly the new hook's program; shutdown leaves nothing attached.
// Needs root.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "lb/control/tables.hpp"
#include "lb/dataplane/dataplane.hpp"
#include "lb/tests/dataplane_fixture.hpp"
#include "lb/tests/udp_sockets.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace lb {
namespace {

using ebpf::TcDirection;
using ebpf::test::NetnsScope;
using lb::test::Socket;
using lb::test::bind_udp;
using lb::test::ipv4;
using lb::test::address_of;
using lb::test::exchange;
using ebpf::test::VethTopology;

// The backend is the load balancer namespace's own address (10.11.0.1, the left veth end), so a socket
// there plays the backend and its reply leaves toward the client through the same interface (TC egress).
Config udp_config(const std::string& pin_dir = "") {
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
    backends: [ { address: 10.11.0.1, port: 5000 } ]
)",
                             "hook.yaml");
  EXPECT_TRUE(config.has_value()) << config.error().to_string();
  if (!pin_dir.empty()) config->pin_dir = pin_dir;
  return *config;
}

// Programs on a TC hook, tcx and classic filters together (run order: tcx first).
std::vector<std::uint32_t> tc_programs(std::uint32_t ifindex, TcDirection direction) {
  std::vector<std::uint32_t> ids;
  if (auto q = ebpf::query_tcx(ifindex, direction)) ids = q->prog_ids;
  if (auto filters = ebpf::query_tc(ifindex, direction))
    for (const auto& f : *filters) ids.push_back(f.prog_id);
  return ids;
}

std::uint32_t xdp_program(std::uint32_t ifindex) {
  auto state = ebpf::query_xdp(ifindex);
  EXPECT_TRUE(state.has_value());
  return state ? state->prog_id : 0;
}

// Parameter: force_netlink (cls_bpf filter on clsact ingress instead of a tcx link).
class TcIngressHook : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Mechanism, TcIngressHook, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("netlink") : std::string("links"); });

TEST_P(TcIngressHook, DnatsARealDatagramOnTheSkbPathAndDetachesEverything) {
  EBPF_REQUIRE_KERNEL();
  const bool netlink = GetParam();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  ASSERT_OK(topo.right.sh("ip route add 10.0.0.100/32 via 10.11.0.1"));
  Socket client;
  {
    ASSERT_OK_AND_ASSIGN(auto in_client, NetnsScope::enter(topo.right));
    ASSERT_TRUE(bind_udp(client, "10.11.0.2", 6000)) << std::strerror(errno);
  }
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = udp_config();
  ASSERT_EQ(config.ingress_hook, IngressHook::tc);
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096));
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(config));
  ASSERT_OK(maps.apply(tables));
  Socket backend;
  ASSERT_TRUE(bind_udp(backend, "10.11.0.1", 5000)) << std::strerror(errno);
  const auto ifindex = topo.left_end.ifindex;
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, {.ingress = topo.left_end.name, .ingress_hook = IngressHook::tc,
                                                           .force_netlink = netlink}));
  EXPECT_EQ(plane->ingress_hook(), IngressHook::tc);
  EXPECT_EQ(plane->xdp().mechanism, netlink ? ebpf::AttachMechanism::tc_filter : ebpf::AttachMechanism::bpf_link);
  ASSERT_OK_AND_ASSIGN(auto info, plane->xdp_program().info());
  EXPECT_EQ(info.type, ebpf::ProgType::sched_cls);
  EXPECT_EQ(tc_programs(ifindex, TcDirection::ingress), std::vector<std::uint32_t>{plane->xdp().prog_id});
  EXPECT_EQ(tc_programs(ifindex, TcDirection::egress), std::vector<std::uint32_t>{plane->tc().prog_id});
  EXPECT_EQ(xdp_program(ifindex), 0u) << "the tc hook leaves XDP alone";

  // client -> VIP, DNATed at TC ingress to the backend socket; the reply SNATed back to the VIP at TC egress.
  const char request[] = "request for the vip";
  const char reply[] = "reply";
  const auto seen = exchange(client, backend, ipv4("10.0.0.100", 80), {request, sizeof request}, {reply, sizeof reply});
  ASSERT_EQ(seen.error, "") << "a datagram with a wrong checksum is dropped silently";
  ASSERT_EQ(seen.request, std::string(request, sizeof request));
  EXPECT_EQ(address_of(seen.request_from), "10.11.0.2");
  EXPECT_EQ(ntohs(seen.request_from.sin_port), 6000);
  ASSERT_EQ(seen.reply, std::string(reply, sizeof reply));
  EXPECT_EQ(address_of(seen.reply_from), "10.0.0.100");
  EXPECT_EQ(ntohs(seen.reply_from.sin_port), 80);
  ASSERT_OK_AND_ASSIGN(auto svc, maps.service_counters(tables.service_ids.at("echo")));
  EXPECT_EQ(svc.new_flows, 1u);

  ASSERT_OK(plane->shutdown(false));
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::ingress).empty());
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::egress).empty());
  EXPECT_EQ(xdp_program(ifindex), 0u);
}

// Ip: ForwDatagrams of a namespace: datagrams the kernel's IP forwarding handled there.
std::uint64_t forwarded_datagrams(const ebpf::test::TestNetns& netns) {
  auto snmp = netns.exec({"cat", "/proc/net/snmp"});
  EXPECT_TRUE(snmp.has_value());
  if (!snmp) return 0;
  // Two "Ip:" lines: the field names, then the values; ForwDatagrams is the 6th value.
  const auto names = snmp->find("Ip: ");
  const auto values = snmp->find("Ip: ", names + 1);
  std::istringstream in(snmp->substr(values + 4));
  std::uint64_t v = 0;
  for (int i = 0; i < 6; ++i) in >> v;
  return v;
}

// forwarding: redirect on the tc hook: the DNATed request leaves through bpf_fib_lookup + bpf_redirect toward
// a backend in a third namespace without the LB kernel forwarding it (ForwDatagrams counts only the reply,
// which TC egress SNATs back to the VIP).
TEST(TcIngressRedirect, RequestsBypassKernelForwardingAndRepliesComeFromTheVip) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  ASSERT_OK_AND_ASSIGN(auto backend_ns, ebpf::test::TestNetns::create("be"));
  ASSERT_OK(ebpf::test::create_veth_pair(topo.left, backend_ns, "10.12.0.1/24", "10.12.0.2/24"));
  ASSERT_OK(topo.right.sh("ip route add 10.0.0.100/32 via 10.11.0.1"));
  ASSERT_OK(backend_ns.sh("ip route add 10.11.0.0/24 via 10.12.0.1"));
  ASSERT_OK(topo.left.sh("sysctl -qw net.ipv4.ip_forward=1"));
  Socket client, backend;
  {
    ASSERT_OK_AND_ASSIGN(auto in_client, NetnsScope::enter(topo.right));
    ASSERT_TRUE(bind_udp(client, "10.11.0.2", 6000)) << std::strerror(errno);
  }
  {
    ASSERT_OK_AND_ASSIGN(auto in_backend, NetnsScope::enter(backend_ns));
    ASSERT_TRUE(bind_udp(backend, "10.12.0.2", 5000)) << std::strerror(errno);
  }
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  auto config = udp_config();
  config.forwarding = ForwardingMode::redirect;
  config.services[0].backends[0].endpoint = *parse_endpoint("10.12.0.2:5000");
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096));
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(config));
  ASSERT_OK(maps.apply(tables));
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, {.ingress = topo.left_end.name, .ingress_hook = IngressHook::tc}));
  // Resolve the backend's neighbour first (a datagram to its discard port triggers ARP): bpf_fib_lookup
  // without a neighbour entry passes the packet to the kernel, which would forward it.
  {
    Socket probe;
    ASSERT_TRUE(bind_udp(probe, "10.12.0.1", 0));
    auto discard = ipv4("10.12.0.2", 9);
    ASSERT_EQ(::sendto(probe.fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&discard), sizeof discard), 1);
    bool resolved = false;
    for (int i = 0; i < 100 && !resolved; ++i) {
      auto neigh = topo.left.exec({"ip", "neigh", "show", "10.12.0.2"});
      resolved = neigh && neigh->find("lladdr") != std::string::npos;
      if (!resolved) ::usleep(10'000);
    }
    ASSERT_TRUE(resolved) << "no neighbour entry for the backend";
  }
  const auto forwarded_before = forwarded_datagrams(topo.left);

  const char request[] = "redirected request";
  const char reply[] = "reply";
  const auto seen = exchange(client, backend, ipv4("10.0.0.100", 80), {request, sizeof request}, {reply, sizeof reply});
  ASSERT_EQ(seen.error, "");
  ASSERT_EQ(seen.request, std::string(request, sizeof request));
  EXPECT_EQ(address_of(seen.request_from), "10.11.0.2");
  ASSERT_EQ(seen.reply, std::string(reply, sizeof reply));
  EXPECT_EQ(address_of(seen.reply_from), "10.0.0.100");
  EXPECT_EQ(ntohs(seen.reply_from.sin_port), 80);
  EXPECT_EQ(forwarded_datagrams(topo.left) - forwarded_before, 1u) << "the request went through ip_forward";
  ASSERT_OK(plane->shutdown(false));
}

// Restarts with pinned state (the --keep-pins upgrade path) that switch xdp -> tc -> xdp: each start attaches
// the new hook's program and removes the previous run's, pinned link or netlink attachment alike.
TEST_P(TcIngressHook, RestartThatSwitchesHooksLeavesOnlyTheNewHooksProgram) {
  EBPF_REQUIRE_KERNEL();
  const bool netlink = GetParam();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = udp_config(dir.path());
  const auto ifindex = topo.left_end.ifindex;
  auto start = [&](IngressHook hook, bool keep) -> ebpf::Result<std::uint32_t> {
    auto maps = EBPF_TRY(DataPathMaps::create(config, 4096, {.dir = dir.path(), .adopt = true}));
    auto plane = EBPF_TRY(DataPlane::start(maps, {.ingress = topo.left_end.name, .ingress_hook = hook,
                                                  .force_netlink = netlink}));
    const std::uint32_t id = plane->xdp().prog_id;
    EBPF_TRY(plane->shutdown(/*keep_pins=*/keep));
    if (!keep) EBPF_TRY(maps.unpin_all());
    return id;
  };
  ASSERT_OK_AND_ASSIGN(const auto xdp_id, start(IngressHook::xdp, true));
  EXPECT_EQ(xdp_program(ifindex), xdp_id);
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::ingress).empty());

  ASSERT_OK_AND_ASSIGN(const auto tc_id, start(IngressHook::tc, true));
  EXPECT_EQ(xdp_program(ifindex), 0u) << "the previous run's XDP program is gone";
  EXPECT_EQ(tc_programs(ifindex, TcDirection::ingress), std::vector<std::uint32_t>{tc_id});
  EXPECT_EQ(tc_programs(ifindex, TcDirection::egress).size(), 1u);

  ASSERT_OK_AND_ASSIGN(const auto xdp_again, start(IngressHook::xdp, true));
  EXPECT_EQ(xdp_program(ifindex), xdp_again);
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::ingress).empty()) << "the previous run's TC ingress program is gone";
  EXPECT_EQ(tc_programs(ifindex, TcDirection::egress).size(), 1u);

  // A final start without keeping (SIGTERM): nothing attached, nothing pinned.
  ASSERT_OK(start(IngressHook::tc, false));
  EXPECT_EQ(xdp_program(ifindex), 0u);
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::ingress).empty());
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::egress).empty());
  EXPECT_EQ(dir.entries(), 0u);
}

// A restart on the same tc hook (--keep-pins, then a new process) swaps the program in place: the pinned tcx
// link is updated (same link id) or the cls_bpf filter replaced, never two programs, never none.
TEST_P(TcIngressHook, RestartOnTheTcHookSwapsTheProgramInPlace) {
  EBPF_REQUIRE_KERNEL();
  const bool netlink = GetParam();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = udp_config(dir.path());
  const auto ifindex = topo.left_end.ifindex;
  const DataPlaneOptions options{.ingress = topo.left_end.name, .ingress_hook = IngressHook::tc, .force_netlink = netlink};
  HookState first;
  {
    ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096, {.dir = dir.path(), .adopt = true}));
    ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, options));
    first = plane->xdp();
    EXPECT_EQ(first.pin.empty(), netlink) << "tcx links are pinned, classic filters belong to the interface";
    ASSERT_OK(plane->shutdown(/*keep_pins=*/true));
  }
  EXPECT_EQ(tc_programs(ifindex, TcDirection::ingress), std::vector<std::uint32_t>{first.prog_id});
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096, {.dir = dir.path(), .adopt = true}));
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, options));
  const HookState& second = plane->xdp();
  EXPECT_NE(second.prog_id, first.prog_id);
  EXPECT_EQ(tc_programs(ifindex, TcDirection::ingress), std::vector<std::uint32_t>{second.prog_id});
  if (!netlink) {
    EXPECT_TRUE(second.replaced);
    EXPECT_EQ(second.link_id, first.link_id);
  }
  ASSERT_OK(plane->shutdown(false));
  ASSERT_OK(maps.unpin_all());
  EXPECT_TRUE(tc_programs(ifindex, TcDirection::ingress).empty());
}

}  // namespace
}  // namespace lb
