// The rtnetlink client against the kernel, inside private namespaces: interface look-ups, dumps, sockets
// bound to another namespace, and negative ACKs carrying the kernel's extended-ACK text.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ebpf/netlink.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf::netlink {
namespace {

class NetlinkTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto ns = test::TestNetns::create("n");
    ASSERT_OK(ns);
    ns_.emplace(std::move(*ns));
    auto fd = ns_->open();
    ASSERT_OK(fd);
    ns_fd_ = std::move(*fd);
    auto pair = test::create_veth_pair(*ns_, *ns_, "10.12.0.1/24", "");
    ASSERT_OK(pair);
    veth_ = pair->first;
    peer_ = pair->second;
  }

  std::optional<test::TestNetns> ns_;
  Fd ns_fd_;
  test::VethEnd veth_, peer_;
};

TEST_F(NetlinkTest, NameAndIndexInsideTheNamespace) {
  ASSERT_OK_AND_ASSIGN(auto scope, test::NetnsScope::enter(*ns_));
  ASSERT_OK_AND_ASSIGN(auto lo, interface_index("lo"));
  EXPECT_EQ(lo, 1U);  // a fresh namespace's loopback is always 1
  ASSERT_OK_AND_ASSIGN(auto index, interface_index(veth_.name));
  EXPECT_EQ(index, veth_.ifindex);
  ASSERT_OK_AND_ASSIGN(auto name, interface_name(veth_.ifindex));
  EXPECT_EQ(name, veth_.name);
}

TEST_F(NetlinkTest, SocketInAnotherNamespaceSeesItsInterfaces) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  ASSERT_OK_AND_ASSIGN(auto by_name, find_interface(socket, std::string_view(veth_.name)));
  EXPECT_EQ(by_name.index, veth_.ifindex);
  EXPECT_EQ(by_name.mtu, 1500U);
  EXPECT_NE(by_name.flags & 1U /* IFF_UP */, 0U);
  ASSERT_OK_AND_ASSIGN(auto by_index, find_interface(socket, veth_.ifindex));
  EXPECT_EQ(by_index.name, veth_.name);

  ASSERT_OK_AND_ASSIGN(auto all, list_interfaces(socket));
  std::vector<std::string> names;
  for (const auto& i : all) names.push_back(i.name);
  std::sort(names.begin(), names.end());
  std::vector<std::string> expected{"lo", veth_.name, peer_.name};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);

  // The calling thread never moved: the host namespace has no such interface.
  auto host = interface_index(veth_.name);
  ASSERT_FALSE(host.has_value());
  EXPECT_EQ(host.error().code(), Errc::not_found);
}

TEST_F(NetlinkTest, UnknownInterfacesAreNotFound) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  auto by_name = find_interface(socket, std::string_view("etmissing0"));
  ASSERT_FALSE(by_name.has_value());
  EXPECT_EQ(by_name.error().code(), Errc::not_found);
  EXPECT_EQ(by_name.error().sys_errno(), ENODEV);
  EXPECT_NE(by_name.error().message().find("etmissing0"), std::string::npos) << by_name.error().to_string();
  auto by_index = find_interface(socket, 999999U);
  ASSERT_FALSE(by_index.has_value());
  EXPECT_EQ(by_index.error().code(), Errc::not_found);
  EXPECT_NE(by_index.error().message().find("999999"), std::string::npos);

  auto too_long = interface_index("this-name-is-far-too-long");
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), Errc::invalid_argument);
  EXPECT_NE(too_long.error().message().find("longer than 15"), std::string::npos);
  auto empty = interface_index("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), Errc::invalid_argument);
  auto zero = interface_name(0);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code(), Errc::invalid_argument);
}

TEST_F(NetlinkTest, ExtendedAckTextBecomesTheErrorMessage) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  // A cls_bpf filter needs a clsact qdisc: the kernel explains the EINVAL in an extended ACK.
  auto no_qdisc = attach_tc_filter(socket, veth_.ifindex, TcDirection::ingress, 0 /* any fd */);
  ASSERT_FALSE(no_qdisc.has_value());
  EXPECT_EQ(no_qdisc.error().sys_errno(), EINVAL) << no_qdisc.error().to_string();
  EXPECT_NE(no_qdisc.error().message(), std::string(std::strerror(EINVAL))) << no_qdisc.error().to_string();
  EXPECT_NE(no_qdisc.error().message().find("Qdisc"), std::string::npos) << no_qdisc.error().to_string();

  ASSERT_OK(add_clsact(socket, veth_.ifindex));
  auto twice = add_clsact(socket, veth_.ifindex);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code(), Errc::key_exists) << twice.error().to_string();
  EXPECT_EQ(twice.error().sys_errno(), EEXIST);
  EXPECT_NE(twice.error().message(), std::string(std::strerror(EEXIST))) << twice.error().to_string();
}

TEST_F(NetlinkTest, QdiscLifecycleAndEmptyDumps) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  ASSERT_OK_AND_ASSIGN(auto has, has_clsact(socket, veth_.ifindex));
  EXPECT_FALSE(has);
  ASSERT_OK_AND_ASSIGN(auto none, list_tc_filters(socket, veth_.ifindex, TcDirection::ingress));
  EXPECT_TRUE(none.empty());
  ASSERT_OK(add_clsact(socket, veth_.ifindex));
  ASSERT_OK_AND_ASSIGN(has, has_clsact(socket, veth_.ifindex));
  EXPECT_TRUE(has);
  ASSERT_OK_AND_ASSIGN(has, has_clsact(socket, peer_.ifindex));
  EXPECT_FALSE(has) << "the peer has its own (no) qdisc";
  ASSERT_OK_AND_ASSIGN(none, list_tc_filters(socket, veth_.ifindex, TcDirection::egress));
  EXPECT_TRUE(none.empty());
  ASSERT_OK(delete_clsact(socket, veth_.ifindex));
  ASSERT_OK_AND_ASSIGN(has, has_clsact(socket, veth_.ifindex));
  EXPECT_FALSE(has);
  auto again = delete_clsact(socket, veth_.ifindex);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Errc::not_found) << again.error().to_string();
}

TEST_F(NetlinkTest, FilterDeletionNeedsPriorityAndHandle) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  auto no_prio = detach_tc_filter(socket, veth_.ifindex, TcDirection::ingress, 0, 1);
  ASSERT_FALSE(no_prio.has_value());
  EXPECT_EQ(no_prio.error().code(), Errc::invalid_argument);
  auto no_handle = detach_tc_filter(socket, veth_.ifindex, TcDirection::ingress, 1, 0);
  ASSERT_FALSE(no_handle.has_value());
  EXPECT_EQ(no_handle.error().code(), Errc::invalid_argument);
}

TEST_F(NetlinkTest, XdpQueryOfAnInterfaceWithoutProgram) {
  ASSERT_OK_AND_ASSIGN(auto socket, Socket::open_in_netns(ns_fd_.get()));
  ASSERT_OK_AND_ASSIGN(auto state, query_xdp(socket, veth_.ifindex));
  EXPECT_EQ(state.attached, XdpAttached::none);
  EXPECT_EQ(state.prog_id, 0U);
  // Flag validation happens before the kernel.
  auto two_modes = set_xdp(socket, veth_.ifindex, -1, {xdp_flags::skb_mode | xdp_flags::drv_mode, -1});
  ASSERT_FALSE(two_modes.has_value());
  EXPECT_EQ(two_modes.error().code(), Errc::invalid_argument);
  auto replace_without_fd = set_xdp(socket, veth_.ifindex, -1, {xdp_flags::replace, -1});
  ASSERT_FALSE(replace_without_fd.has_value());
  EXPECT_EQ(replace_without_fd.error().code(), Errc::invalid_argument);
  auto missing = query_xdp(socket, 424242U);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
}

TEST_F(NetlinkTest, NetnsGuardReturnsToTheOriginalNamespace) {
  auto before = interface_index(veth_.name);
  EXPECT_FALSE(before.has_value());
  {
    ASSERT_OK_AND_ASSIGN(auto guard, NetnsGuard::enter(ns_->path()));
    EXPECT_OK(interface_index(veth_.name));
  }
  auto after = interface_index(veth_.name);
  EXPECT_FALSE(after.has_value());
  auto missing = NetnsGuard::enter(std::string("/var/run/netns/etno-such-ns"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  auto bad_fd = NetnsGuard::enter(-1);
  ASSERT_FALSE(bad_fd.has_value());
  EXPECT_EQ(bad_fd.error().code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace ebpf::netlink

namespace ebpf::test {
namespace {

// The sweeper removes "et<pid>x..." namespaces whose pid is dead and leaves live ones (ours) alone.
TEST(NetnsSweeper, RemovesOnlyStaleTestNamespaces) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto live, TestNetns::create("live"));
  // A pid residue no running process has: nothing alive can own this name.
  long dead = -1;
  for (long candidate = 99999; candidate > 90000 && dead < 0; --candidate)
    if (::access(("/proc/" + std::to_string(candidate)).c_str(), F_OK) != 0) dead = candidate;
  ASSERT_GT(dead, 0);
  std::string stale = "et" + std::to_string(dead) + "x0stale";
  bool dead_residue_is_free = true;
  for (long pid = dead + 100000; pid < 4194304; pid += 100000)
    if (::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0) dead_residue_is_free = false;
  if (!dead_residue_is_free) GTEST_SKIP() << "no free pid residue found";
  ASSERT_OK(run_command({"ip", "netns", "add", stale}));
  sweep_stale_test_objects();
  EXPECT_NE(::access(("/var/run/netns/" + stale).c_str(), F_OK), 0) << "stale namespace survived";
  EXPECT_EQ(::access(live.path().c_str(), F_OK), 0) << "a live test namespace was swept";
  (void)run_command({"ip", "netns", "delete", stale});
}

}  // namespace
}  // namespace ebpf::test
