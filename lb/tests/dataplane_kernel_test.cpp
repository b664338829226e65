// DataPlane against the real kernel, inside private network namespaces: both programs attached with bpf_links
// (XDP link, tcx egress link) and visible to the kernel's own queries; a reply a host in the load balancer's
// namespace sends toward a client really leaves with the VIP as source (TC egress on the client-facing side,
// through the real skb path); bad interfaces, programs the verifier rejects and unknown maps give precise
// errors; shutdown leaves nothing attached. Needs root.
#include "lb/dataplane/dataplane.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/map.hpp"
#include "lb/tests/udp_sockets.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace lb {
namespace {

using ebpf::test::NetnsScope;
using lb::test::Socket;
using lb::test::bind_udp;
using lb::test::ipv4;
using ebpf::test::VethTopology;
using namespace ebpf::isa;

Config small_config() {
  return *parse_config(R"(
maglev_table_size: 1009
conntrack: { max_entries: 4096 }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: udp
    backends: [ { address: 10.11.0.1, port: 5000 } ]
)",
                       "dp.yaml");
}

TEST(DataPlane, AttachesBothProgramsWithLinksAndDetachesOnShutdown) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = small_config();
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096));
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, {.ingress = topo.left_end.name}));
  const auto ifindex = topo.left_end.ifindex;
  EXPECT_EQ(plane->xdp().mechanism, ebpf::AttachMechanism::bpf_link);
  EXPECT_EQ(plane->tc().mechanism, ebpf::AttachMechanism::bpf_link);
  EXPECT_EQ(plane->tc().interface, topo.left_end.name);  // egress defaults to the client-facing interface
  EXPECT_TRUE(plane->xdp().pin.empty());
  ASSERT_OK_AND_ASSIGN(auto xdp, ebpf::query_xdp(ifindex));
  EXPECT_EQ(xdp.prog_id, plane->xdp().prog_id);
  ASSERT_OK_AND_ASSIGN(auto tcx, ebpf::query_tcx(ifindex, ebpf::TcDirection::egress));
  EXPECT_EQ(tcx.prog_ids, std::vector<std::uint32_t>{plane->tc().prog_id});
  // The programs use the catalogue's maps, not copies.
  ASSERT_OK_AND_ASSIGN(auto info, plane->tc_program().info());
  ASSERT_OK_AND_ASSIGN(auto conntrack_id, maps.find("lb_conntrack")->id());
  EXPECT_NE(std::find(info.map_ids.begin(), info.map_ids.end(), conntrack_id), info.map_ids.end());

  ASSERT_OK(plane->shutdown(false));
  ASSERT_OK_AND_ASSIGN(xdp, ebpf::query_xdp(ifindex));
  EXPECT_EQ(xdp.prog_id, 0u);
  ASSERT_OK_AND_ASSIGN(tcx, ebpf::query_tcx(ifindex, ebpf::TcDirection::egress));
  EXPECT_TRUE(tcx.prog_ids.empty());
}

// The load balancer's namespace (left) sends a "backend reply" 10.11.0.1:5000 -> client 10.11.0.2:6000 out of
// its client-facing veth; the reverse entry says the flow's VIP is 10.0.0.100:80. The client must see that.
TEST(DataPlane, ReplyLeavingTowardTheClientArrivesFromTheVip) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  Socket client;
  {
    ASSERT_OK_AND_ASSIGN(auto in_client, NetnsScope::enter(topo.right));
    ASSERT_TRUE(bind_udp(client, "10.11.0.2", 6000)) << std::strerror(errno);
  }
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = small_config();
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(config, 4096));
  ASSERT_OK_AND_ASSIGN(auto tables, compile_tables(config));
  ASSERT_OK(maps.apply(tables));
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(maps, {.ingress = topo.left_end.name}));
  const std::uint32_t backend = tables.backend_ids.at("web/10.11.0.1:5000");
  const ConntrackKey reverse{parse_ip("10.11.0.1")->addr, parse_ip("10.11.0.2")->addr, htons(5000), htons(6000),
                             kProtoUdp, kFamilyV4, 0};
  const ConntrackValue vip{parse_ip("10.0.0.100")->addr, htons(80), 0, ct_flags::kReverse, backend, 0, 0, 1, 1, 0, 0};
  ASSERT_OK(maps.find("lb_conntrack")->update(ebpf::as_bytes_of(reverse), ebpf::as_bytes_of(vip)));

  Socket server;
  ASSERT_TRUE(bind_udp(server, "10.11.0.1", 5000)) << std::strerror(errno);
  auto to = ipv4("10.11.0.2", 6000);
  const char reply[] = "reply from the backend";
  ASSERT_EQ(::sendto(server.fd, reply, sizeof reply, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(sizeof reply));
  char buffer[64] = {};
  sockaddr_in from{};
  socklen_t len = sizeof from;
  const auto got = ::recvfrom(client.fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &len);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof reply)) << std::strerror(errno);
  EXPECT_STREQ(buffer, reply);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
  EXPECT_STREQ(text, "10.0.0.100");
  EXPECT_EQ(ntohs(from.sin_port), 80);
  ASSERT_OK_AND_ASSIGN(auto counters, maps.backend_counters(backend));
  EXPECT_EQ(counters.reply_packets, 1u);
  EXPECT_GT(counters.reply_bytes, sizeof reply);
  ASSERT_OK(plane->shutdown(false));
}

TEST(DataPlane, BadInterfacesProgramsAndMapsGivePreciseErrors) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  ASSERT_OK_AND_ASSIGN(auto maps, DataPathMaps::create(small_config(), 4096));

  auto missing = DataPlane::start(maps, {.ingress = "etnosuchif0"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ebpf::Errc::not_found);
  EXPECT_NE(missing.error().to_string().find("etnosuchif0"), std::string::npos) << missing.error().to_string();

  auto unnamed = DataPlane::start(maps, {});
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().code(), ebpf::Errc::invalid_argument);

  // Reads r2 before writing it: the verifier says so, and the message quotes it.
  DataPlaneOptions bad{.ingress = topo.left_end.name};
  bad.build_xdp = [] {
    ebpf::Assembler a;
    a.mov(r0, r2).exit();
    return std::move(a).finish();
  };
  auto rejected = DataPlane::start(maps, bad);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code(), ebpf::Errc::verifier);
  EXPECT_NE(rejected.error().message().find("rejected by the verifier"), std::string::npos);
  EXPECT_NE(rejected.error().message().find("R2 !read_ok"), std::string::npos) << rejected.error().message();
  EXPECT_FALSE(rejected.error().verifier_log().empty());

  bad.build_xdp = [] {
    ebpf::Assembler a;
    a.ld_map(r1, "lb_nosuchmap").mov(r0, 2).exit();
    return std::move(a).finish();
  };
  auto unknown = DataPlane::start(maps, bad);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_NE(unknown.error().message().find("lb_nosuchmap"), std::string::npos);
  // Nothing was attached by the failed starts.
  ASSERT_OK_AND_ASSIGN(auto xdp, ebpf::query_xdp(topo.left_end.ifindex));
  EXPECT_EQ(xdp.prog_id, 0u);
}

}  // namespace
}  // namespace lb
