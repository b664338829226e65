// ebpf-lb restarts: two control-plane + data-plane lifetimes in one test process, in a private network
// namespace with pins in a private bpffs directory. The second lifetime adopts the pinned maps (a live
// conntrack entry survives), and swaps its programs into the pinned links (same link, new program id), so
// the hooks never run without a program; in between, with no process, the old programs stay attached.
// The netlink fallback (netlink XDP, clsact + cls_bpf) replaces in place the same way. A final shutdown
// leaves no attachment and no pin. Needs root.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "ebpf/map.hpp"
#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "lb/control/control_plane.hpp"
#include "lb/dataplane/dataplane.hpp"
#include "lb/tests/dataplane_fixture.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace lb {
namespace {

using ebpf::test::NetnsScope;
using ebpf::test::VethTopology;

Config make_config(const std::string& interface, const std::string& pin_dir) {
  auto config = parse_config(R"(
maglev_table_size: 1009
conntrack: { max_entries: 4096 }
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    health_check: { type: none }
    backends: [ { address: 10.11.0.2, port: 8080 } ]
)",
                             "restart.yaml");
  config->interfaces.ingress = config->interfaces.egress = interface;
  config->pin_dir = pin_dir;
  return *config;
}

// A flow the "previous process" had: its forward entry.
const ConntrackKey kLiveFlow{parse_ip("192.168.1.5")->addr, parse_ip("10.0.0.100")->addr, htons(40000), htons(80),
                             kProtoTcp, kFamilyV4, 0};

struct Lifetime {
  std::unique_ptr<ConfigStore> store;
  std::unique_ptr<LoadBalancer> lb;
  std::unique_ptr<DataPlane> plane;
};

ebpf::Result<Lifetime> start(const Config& config, bool force_netlink) {
  Lifetime life;
  life.store = std::make_unique<ConfigStore>(config);
  life.lb = EBPF_TRY(LoadBalancer::create(*life.store, {.log = nullptr, .start_healthy = true, .version = "t",
                                                         .monotonic_ns = {}, .pinning = {config.pin_dir, true}}));
  life.plane = EBPF_TRY(DataPlane::start(life.lb->maps(), {.ingress = config.interfaces.ingress,
                                                           .egress = config.interfaces.egress,
                                                           .xdp_mode = ebpf::XdpMode::unspecified,
                                                           .force_netlink = force_netlink}));
  return life;
}

std::vector<std::uint32_t> tc_prog_ids(std::uint32_t ifindex, bool netlink) {
  std::vector<std::uint32_t> ids;
  if (netlink) {
    if (auto filters = ebpf::query_tc(ifindex, ebpf::TcDirection::egress))
      for (const auto& f : *filters) ids.push_back(f.prog_id);
  } else if (auto q = ebpf::query_tcx(ifindex, ebpf::TcDirection::egress)) {
    ids = q->prog_ids;
  }
  return ids;
}

class Restart : public ::testing::TestWithParam<bool> {};

TEST_P(Restart, MapsAreAdoptedAndProgramsSwappedWithoutADetachWindow) {
  EBPF_REQUIRE_KERNEL();
  const bool netlink = GetParam();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = make_config(topo.left_end.name, dir.path());
  const auto ifindex = topo.left_end.ifindex;

  HookState xdp1, tc1;
  {
    ASSERT_OK_AND_ASSIGN(auto first, start(config, netlink));
    xdp1 = first.plane->xdp();
    tc1 = first.plane->tc();
    EXPECT_FALSE(xdp1.replaced);
    EXPECT_EQ(xdp1.mechanism, netlink ? ebpf::AttachMechanism::netlink_xdp : ebpf::AttachMechanism::bpf_link);
    EXPECT_EQ(tc1.mechanism, netlink ? ebpf::AttachMechanism::tc_filter : ebpf::AttachMechanism::bpf_link);
    EXPECT_EQ(first.lb->status().data_path_attached, false);  // main sets it; here only the plane runs
    ConntrackValue live{parse_ip("10.11.0.2")->addr, htons(8080), 2, 0, 0, 0, 0, 1, 1, 7, 700};
    ASSERT_OK(first.lb->maps().find("lb_conntrack")->update(ebpf::as_bytes_of(kLiveFlow), ebpf::as_bytes_of(live)));
    ASSERT_OK(first.plane->shutdown(/*keep_pins=*/true));
  }
  // No process: the old programs are still attached and the pins are there.
  ASSERT_OK_AND_ASSIGN(auto between, ebpf::query_xdp(ifindex));
  EXPECT_EQ(between.prog_id, xdp1.prog_id);
  EXPECT_EQ(tc_prog_ids(ifindex, netlink), std::vector<std::uint32_t>{tc1.prog_id});
  EXPECT_TRUE(dir.exists());

  ASSERT_OK_AND_ASSIGN(auto second, start(config, netlink));
  EXPECT_TRUE(second.lb->maps().adopted("lb_conntrack"));
  ConntrackValue value;
  ASSERT_OK(second.lb->maps().find("lb_conntrack")->lookup(ebpf::as_bytes_of(kLiveFlow), ebpf::as_writable_bytes_of(value)));
  EXPECT_EQ(value.packets, 7u);
  const auto& xdp2 = second.plane->xdp();
  const auto& tc2 = second.plane->tc();
  EXPECT_NE(xdp2.prog_id, xdp1.prog_id);
  EXPECT_NE(tc2.prog_id, tc1.prog_id);
  if (!netlink) {
    // The same links (BPF_LINK_UPDATE), now running the new programs.
    EXPECT_TRUE(xdp2.replaced);
    EXPECT_TRUE(tc2.replaced);
    EXPECT_EQ(xdp2.link_id, xdp1.link_id);
    EXPECT_EQ(tc2.link_id, tc1.link_id);
  }
  ASSERT_OK_AND_ASSIGN(auto after, ebpf::query_xdp(ifindex));
  EXPECT_EQ(after.prog_id, xdp2.prog_id);
  EXPECT_EQ(tc_prog_ids(ifindex, netlink), std::vector<std::uint32_t>{tc2.prog_id}) << "exactly one TC program";

  // SIGTERM without --keep-pins: nothing attached, nothing pinned.
  ASSERT_OK(second.plane->shutdown(/*keep_pins=*/false));
  ASSERT_OK(second.lb->maps().unpin_all());
  ASSERT_OK_AND_ASSIGN(auto gone, ebpf::query_xdp(ifindex));
  EXPECT_EQ(gone.prog_id, 0u);
  EXPECT_TRUE(tc_prog_ids(ifindex, netlink).empty());
  EXPECT_FALSE(dir.exists());
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, Restart, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Netlink" : "Links"; });

TEST(RestartClean, AdoptFalseStartsFreshAndRemovesLinksOfOtherInterfaces) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto topo, VethTopology::create());
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto scope, NetnsScope::enter(topo.left));
  const auto config = make_config(topo.left_end.name, dir.path());
  std::uint32_t old_link = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto first, start(config, false));
    old_link = first.plane->xdp().link_id;
    ASSERT_OK(first.lb->maps().find("lb_conntrack")->update(ebpf::as_bytes_of(kLiveFlow), ebpf::as_bytes_of(ConntrackValue{})));
    // Crash: no shutdown at all; the destructor leaves pinned state for the next run.
  }
  ConfigStore store(config);
  ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, {.log = nullptr, .start_healthy = true, .version = "t",
                                                             .monotonic_ns = {}, .pinning = {dir.path(), false}}));
  EXPECT_FALSE(lb->maps().adopted("lb_conntrack"));
  ConntrackValue value;
  EXPECT_FALSE(lb->maps().find("lb_conntrack")->lookup(ebpf::as_bytes_of(kLiveFlow), ebpf::as_writable_bytes_of(value)));
  ASSERT_OK_AND_ASSIGN(auto plane, DataPlane::start(lb->maps(), {.ingress = config.interfaces.ingress,
                                                                 .egress = {},
                                                                 .xdp_mode = ebpf::XdpMode::unspecified,
                                                                 .force_netlink = false,
                                                                 .adopt = false}));
  EXPECT_FALSE(plane->xdp().replaced);
  EXPECT_NE(plane->xdp().link_id, old_link);
  ASSERT_OK_AND_ASSIGN(auto state, ebpf::query_xdp(topo.left_end.ifindex));
  EXPECT_EQ(state.prog_id, plane->xdp().prog_id);
  ASSERT_OK(plane->shutdown(false));
  ASSERT_OK(lb->maps().unpin_all());
  EXPECT_FALSE(dir.exists());
}

}  // namespace
}  // namespace lb
