// XDP attachment with real traffic: UDP datagrams sent from one namespace through a veth pair to another,
// counted (or dropped) by an XDP program on the receiving end; bpf_link and netlink paths, generic and native
// mode, update, pinning, and the errors for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include "ebpf/attach/xdp.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

using test::PacketCounter;
constexpr std::uint16_t kPort = 9000;

class XdpAttachTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto topo = test::VethTopology::create();
    ASSERT_OK(topo);
    topo_.emplace(std::move(*topo));
    auto ns = topo_->right.open();
    ASSERT_OK(ns);
    right_ns_ = std::move(*ns);
  }

  // Sends `count` datagrams left -> right and returns how many arrived.
  int send(int count) {
    auto r = test::udp_exchange(topo_->left, topo_->right, topo_->right_end.address, kPort, count);
    EXPECT_OK(r);
    return r ? *r : -1;
  }
  std::uint32_t ifindex() const { return topo_->right_end.ifindex; }
  XdpOptions options(XdpMode mode, XdpMethod method) const {
    return XdpOptions{.mode = mode, .method = method, .replace = false, .netns_fd = right_ns_.get()};
  }
  Result<netlink::XdpState> state() const { return query_xdp(ifindex(), right_ns_.get()); }

  std::optional<test::VethTopology> topo_;
  Fd right_ns_;
};

std::uint32_t id_of(const Program& p) {
  auto info = p.info();
  return info ? info->id : 0;
}

// Attaches a counter, checks it counts exactly the datagrams sent, detaches, checks it stops counting.
void count_then_detach(XdpAttachTest& t, XdpMode mode, XdpMethod method, AttachMechanism expected_mechanism,
                       netlink::XdpAttached expected_attached) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, t.ifindex(), t.options(mode, method)));
  EXPECT_EQ(link.mechanism(), expected_mechanism);

  ASSERT_OK_AND_ASSIGN(auto st, t.state());
  EXPECT_EQ(st.attached, expected_attached);
  EXPECT_EQ(st.prog_id, id_of(counter.program));

  EXPECT_EQ(t.send(10), 10);
  ASSERT_OK_AND_ASSIGN(auto matched, counter.matched());
  EXPECT_EQ(matched, 10U);
  ASSERT_OK_AND_ASSIGN(auto seen, counter.seen());
  EXPECT_GE(seen, 10U);  // plus ARP and IPv6 neighbour traffic

  ASSERT_OK(link.detach());
  EXPECT_FALSE(link.attached());
  ASSERT_OK_AND_ASSIGN(st, t.state());
  EXPECT_EQ(st.attached, netlink::XdpAttached::none);
  EXPECT_EQ(st.prog_id, 0U);
  EXPECT_EQ(t.send(5), 5);
  ASSERT_OK_AND_ASSIGN(matched, counter.matched());
  EXPECT_EQ(matched, 10U) << "the program still ran after detach";
}

TEST_F(XdpAttachTest, LinkGenericCountsTraffic) {
  count_then_detach(*this, XdpMode::generic, XdpMethod::link, AttachMechanism::bpf_link,
                    netlink::XdpAttached::generic);
}

TEST_F(XdpAttachTest, LinkDriverModeOnVethCountsTraffic) {
  count_then_detach(*this, XdpMode::driver, XdpMethod::link, AttachMechanism::bpf_link,
                    netlink::XdpAttached::driver);
}

TEST_F(XdpAttachTest, NetlinkGenericCountsTraffic) {
  count_then_detach(*this, XdpMode::generic, XdpMethod::netlink, AttachMechanism::netlink_xdp,
                    netlink::XdpAttached::generic);
}

TEST_F(XdpAttachTest, NetlinkDriverModeCountsTraffic) {
  count_then_detach(*this, XdpMode::driver, XdpMethod::netlink, AttachMechanism::netlink_xdp,
                    netlink::XdpAttached::driver);
}

TEST_F(XdpAttachTest, AutomaticUsesALink) {
  count_then_detach(*this, XdpMode::generic, XdpMethod::automatic, AttachMechanism::bpf_link,
                    netlink::XdpAttached::generic);
}

TEST_F(XdpAttachTest, DropVerdictReallyDrops) {
  ASSERT_OK_AND_ASSIGN(auto dropper, PacketCounter::create(ProgType::xdp, kPort, test::kXdpDrop, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(dropper.program, ifindex(), options(XdpMode::driver, XdpMethod::link)));
  EXPECT_EQ(send(8), 0);
  ASSERT_OK_AND_ASSIGN(auto matched, dropper.matched());
  EXPECT_EQ(matched, 8U);
  ASSERT_OK(link.detach());
  EXPECT_EQ(send(3), 3);
}

TEST_F(XdpAttachTest, DestructionDetaches) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  for (auto method : {XdpMethod::link, XdpMethod::netlink}) {
    {
      ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, method)));
      ASSERT_OK_AND_ASSIGN(auto st, state());
      EXPECT_EQ(st.prog_id, id_of(counter.program));
    }
    ASSERT_OK_AND_ASSIGN(auto st, state());
    EXPECT_EQ(st.attached, netlink::XdpAttached::none) << "method " << static_cast<int>(method);
  }
}

TEST_F(XdpAttachTest, UpdateSwapsProgramInPlace) {
  for (auto method : {XdpMethod::link, XdpMethod::netlink}) {
    ASSERT_OK_AND_ASSIGN(auto first, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
    ASSERT_OK_AND_ASSIGN(auto second, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
    ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(first.program, ifindex(), options(XdpMode::generic, method)));
    EXPECT_EQ(send(4), 4);
    ASSERT_OK(link.update(second.program, first.program));
    ASSERT_OK_AND_ASSIGN(auto st, state());
    EXPECT_EQ(st.prog_id, id_of(second.program));
    EXPECT_EQ(send(6), 6);
    ASSERT_OK_AND_ASSIGN(auto a, first.matched());
    ASSERT_OK_AND_ASSIGN(auto b, second.matched());
    EXPECT_EQ(a, 4U);
    EXPECT_EQ(b, 6U);
    // A conditional update naming the wrong current program is refused and changes nothing.
    auto wrong = link.update(first.program, first.program);
    ASSERT_FALSE(wrong.has_value());
    EXPECT_EQ(wrong.error().code(), Errc::invalid_argument) << wrong.error().to_string();
    EXPECT_NE(wrong.error().message().find("not the expected"), std::string::npos) << wrong.error().to_string();
    ASSERT_OK_AND_ASSIGN(st, state());
    EXPECT_EQ(st.prog_id, id_of(second.program));
  }
}

TEST_F(XdpAttachTest, LinkInfoDescribesTheAttachment) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, XdpMethod::link)));
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::xdp);
  EXPECT_EQ(info.ifindex, ifindex());
  EXPECT_EQ(info.prog_id, id_of(counter.program));
  EXPECT_GT(info.id, 0U);
  ASSERT_OK_AND_ASSIGN(auto again, Link::from_id(info.id));
  ASSERT_OK_AND_ASSIGN(auto info2, again.info());
  EXPECT_EQ(info2.id, info.id);
  (void)again.release_fd().value();  // closing our second reference must not detach
}

TEST_F(XdpAttachTest, PinnedLinkOutlivesItsOwner) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  std::string pin = "/sys/fs/bpf/" + test::unique_name("xdplink");
  struct Unpin {
    std::string path;
    ~Unpin() { ::unlink(path.c_str()); }
  } unpin{pin};
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, XdpMethod::link)));
    ASSERT_OK(link.pin(pin));
  }
  ASSERT_OK_AND_ASSIGN(auto st, state());
  EXPECT_EQ(st.prog_id, id_of(counter.program)) << "a pinned link must survive its Link";
  EXPECT_EQ(send(3), 3);
  ASSERT_OK_AND_ASSIGN(auto matched, counter.matched());
  EXPECT_EQ(matched, 3U);

  ASSERT_OK_AND_ASSIGN(auto reopened, Link::open_pinned(pin));
  ASSERT_OK(reopened.detach());  // BPF_LINK_DETACH cuts the pinned link loose
  ASSERT_OK_AND_ASSIGN(st, state());
  EXPECT_EQ(st.attached, netlink::XdpAttached::none);
}

TEST_F(XdpAttachTest, NetlinkAttachmentIsNotPinnable) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, XdpMethod::netlink)));
  auto pinned = link.pin("/sys/fs/bpf/" + test::unique_name("nope"));
  ASSERT_FALSE(pinned.has_value());
  EXPECT_EQ(pinned.error().code(), Errc::not_supported);
  EXPECT_NE(pinned.error().message().find("not a bpf_link"), std::string::npos) << pinned.error().to_string();
}

// --- bad input ------------------------------------------------------------------------------------------

TEST_F(XdpAttachTest, UnknownInterfaceIsNotFound) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  auto by_name = attach_xdp(counter.program, std::string_view("etnosuchif0"), options(XdpMode::generic, XdpMethod::link));
  ASSERT_FALSE(by_name.has_value());
  EXPECT_EQ(by_name.error().code(), Errc::not_found);
  EXPECT_NE(by_name.error().message().find("etnosuchif0"), std::string::npos) << by_name.error().to_string();

  for (auto method : {XdpMethod::link, XdpMethod::netlink}) {
    auto by_index = attach_xdp(counter.program, 987654U, options(XdpMode::generic, method));
    ASSERT_FALSE(by_index.has_value());
    EXPECT_EQ(by_index.error().code(), Errc::not_found) << by_index.error().to_string();
    EXPECT_EQ(by_index.error().sys_errno(), ENODEV);
    EXPECT_NE(by_index.error().message().find("987654"), std::string::npos) << by_index.error().to_string();
  }
  auto zero = attach_xdp(counter.program, 0U);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code(), Errc::invalid_argument);
}

TEST_F(XdpAttachTest, WrongProgramTypeIsRefusedBeforeTheKernel) {
  ASSERT_OK_AND_ASSIGN(auto tc, PacketCounter::create(ProgType::sched_cls, kPort, test::kTcOk, test::kTcOk, "et_tc"));
  auto r = attach_xdp(tc.program, ifindex(), options(XdpMode::generic, XdpMethod::link));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_NE(r.error().message().find("sched_cls program 'et_tc'"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().message().find("needs an xdp program"), std::string::npos) << r.error().to_string();
  Program empty;
  auto e = attach_xdp(empty, ifindex());
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), Errc::invalid_argument);
}

TEST_F(XdpAttachTest, DoubleDetachIsAnError) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  for (auto method : {XdpMethod::link, XdpMethod::netlink}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, method)));
    ASSERT_OK(link.detach());
    auto again = link.detach();
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code(), Errc::invalid_argument);
    EXPECT_NE(again.error().message().find("already detached"), std::string::npos) << again.error().to_string();
  }
}

TEST_F(XdpAttachTest, SecondExclusiveAttachIsBusy) {
  ASSERT_OK_AND_ASSIGN(auto first, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto second, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  for (auto holder : {XdpMethod::link, XdpMethod::netlink}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_xdp(first.program, ifindex(), options(XdpMode::generic, holder)));
    for (auto intruder : {XdpMethod::link, XdpMethod::netlink}) {
      auto r = attach_xdp(second.program, ifindex(), options(XdpMode::generic, intruder));
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code(), Errc::busy) << r.error().to_string();
      EXPECT_EQ(r.error().sys_errno(), EBUSY);
      EXPECT_NE(r.error().message().find("already attached"), std::string::npos) << r.error().to_string();
    }
    ASSERT_OK_AND_ASSIGN(auto st, state());
    EXPECT_EQ(st.prog_id, id_of(first.program)) << "a refused attach must not change the interface";
  }
}

TEST_F(XdpAttachTest, NetlinkReplaceTakesOverAndDetachOnlyRemovesItsOwnProgram) {
  ASSERT_OK_AND_ASSIGN(auto first, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto second, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto old_link, attach_xdp(first.program, ifindex(), options(XdpMode::generic, XdpMethod::netlink)));
  auto opts = options(XdpMode::generic, XdpMethod::netlink);
  opts.replace = true;
  ASSERT_OK_AND_ASSIGN(auto new_link, attach_xdp(second.program, ifindex(), opts));
  // The old owner's detach must not remove the program that replaced it.
  auto r = old_link.detach();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::busy) << r.error().to_string();
  EXPECT_NE(r.error().message().find("left in place"), std::string::npos) << r.error().to_string();
  ASSERT_OK_AND_ASSIGN(auto st, state());
  EXPECT_EQ(st.prog_id, id_of(second.program));
  ASSERT_OK(new_link.detach());
}

TEST_F(XdpAttachTest, InterfaceDeletedWhileAttached) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto via_link, attach_xdp(counter.program, ifindex(), options(XdpMode::generic, XdpMethod::link)));
  // A second veth pair inside `right` for the netlink attachment.
  ASSERT_OK_AND_ASSIGN(auto pair, test::create_veth_pair(topo_->right, topo_->right, "", ""));
  ASSERT_OK_AND_ASSIGN(auto via_netlink, attach_xdp(counter.program, pair.first.ifindex,
                                                    options(XdpMode::generic, XdpMethod::netlink)));

  ASSERT_OK(topo_->right.exec({"ip", "link", "delete", topo_->right_end.name}));
  ASSERT_OK(topo_->right.exec({"ip", "link", "delete", pair.first.name}));

  // The kernel detaches a bpf_link from a vanished interface: info shows no interface, detach succeeds.
  ASSERT_OK_AND_ASSIGN(auto info, via_link.info());
  EXPECT_EQ(info.ifindex, 0U);
  EXPECT_OK(via_link.detach());
  // A netlink attachment has nothing left to remove: a clear not_found.
  auto r = via_netlink.detach();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::not_found) << r.error().to_string();
  EXPECT_NE(r.error().message().find("no longer exists"), std::string::npos) << r.error().to_string();
}

TEST_F(XdpAttachTest, AttachEachIsAllOrNothing) {
  ASSERT_OK_AND_ASSIGN(auto counter, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass));
  ASSERT_OK_AND_ASSIGN(auto pair, test::create_veth_pair(topo_->right, topo_->right, "", ""));
  auto attach = [&](std::uint32_t i) { return attach_xdp(counter.program, i, options(XdpMode::generic, XdpMethod::link)); };
  std::vector<std::uint32_t> both{ifindex(), pair.first.ifindex};
  {
    ASSERT_OK_AND_ASSIGN(auto links, attach_each(both, attach));
    ASSERT_EQ(links.size(), 2U);
    for (auto i : both) {
      ASSERT_OK_AND_ASSIGN(auto st, query_xdp(i, right_ns_.get()));
      EXPECT_EQ(st.prog_id, id_of(counter.program));
    }
  }
  std::vector<std::uint32_t> one_bad{ifindex(), 987654U, pair.first.ifindex};
  auto r = attach_each(one_bad, attach);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::not_found);
  EXPECT_NE(r.error().message().find("interface 987654"), std::string::npos) << r.error().to_string();
  for (auto i : both) {
    ASSERT_OK_AND_ASSIGN(auto st, query_xdp(i, right_ns_.get()));
    EXPECT_EQ(st.attached, netlink::XdpAttached::none) << "a failed attach_each must leave nothing attached";
  }
}

}  // namespace
}  // namespace ebpf
