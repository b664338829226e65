// TC attachment with real traffic through a veth pair in private namespaces: tcx links (ordering, revisions)
// and classic clsact + cls_bpf filters (netlink), counted and dropped by SCHED_CLS programs; errors for bad input.
#include <gtest/gtest.h>

#include "ebpf/attach/tc.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

using test::PacketCounter;
constexpr std::uint16_t kPort = 9100;

std::uint32_t id_of(const Program& p) {
  auto info = p.info();
  return info ? info->id : 0;
}

Result<PacketCounter> counter(int match_verdict = test::kTcOk, const std::string& name = "et_tc") {
  return PacketCounter::create(ProgType::sched_cls, kPort, match_verdict, test::kTcOk, name);
}

class TcAttachTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto topo = test::VethTopology::create();
    ASSERT_OK(topo);
    topo_.emplace(std::move(*topo));
    auto left = topo_->left.open();
    ASSERT_OK(left);
    left_ns_ = std::move(*left);
    auto right = topo_->right.open();
    ASSERT_OK(right);
    right_ns_ = std::move(*right);
  }

  int send(int count) {
    auto r = test::udp_exchange(topo_->left, topo_->right, topo_->right_end.address, kPort, count);
    EXPECT_OK(r);
    return r ? *r : -1;
  }
  std::uint32_t right_if() const { return topo_->right_end.ifindex; }
  std::uint32_t left_if() const { return topo_->left_end.ifindex; }
  TcxOptions tcx_in_right() const {
    TcxOptions o;
    o.netns_fd = right_ns_.get();
    return o;
  }
  TcOptions tc_in(const Fd& ns) const {
    TcOptions o;
    o.netns_fd = ns.get();
    return o;
  }
  Result<bool> right_has_clsact() {
    auto socket = EBPF_TRY(netlink::Socket::open_in_netns(right_ns_.get()));
    return netlink::has_clsact(socket, right_if());
  }

  std::optional<test::VethTopology> topo_;
  Fd left_ns_;
  Fd right_ns_;
};

// --- tcx ----------------------------------------------------------------------------------------------------

TEST_F(TcAttachTest, TcxIngressCountsTrafficUntilDetached) {
  ASSERT_OK_AND_ASSIGN(auto c, counter());
  ASSERT_OK_AND_ASSIGN(auto link, attach_tcx(c.program, right_if(), TcDirection::ingress, tcx_in_right()));
  EXPECT_EQ(link.mechanism(), AttachMechanism::bpf_link);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::tcx);
  EXPECT_EQ(info.ifindex, right_if());
  EXPECT_EQ(info.attach_type, AttachType::tcx_ingress);
  EXPECT_EQ(info.prog_id, id_of(c.program));

  EXPECT_EQ(send(10), 10);
  ASSERT_OK_AND_ASSIGN(auto matched, c.matched());
  EXPECT_EQ(matched, 10U);

  ASSERT_OK(link.detach());
  ASSERT_OK_AND_ASSIGN(auto q, query_tcx(right_if(), TcDirection::ingress, right_ns_.get()));
  EXPECT_TRUE(q.prog_ids.empty());
  EXPECT_EQ(send(4), 4);
  ASSERT_OK_AND_ASSIGN(matched, c.matched());
  EXPECT_EQ(matched, 10U);
}

TEST_F(TcAttachTest, TcxEgressShotDropsTraffic) {
  ASSERT_OK_AND_ASSIGN(auto dropper, counter(test::kTcShot));
  TcxOptions options;
  options.netns_fd = left_ns_.get();
  ASSERT_OK_AND_ASSIGN(auto link, attach_tcx(dropper.program, left_if(), TcDirection::egress, options));
  EXPECT_EQ(send(6), 0);
  ASSERT_OK_AND_ASSIGN(auto matched, dropper.matched());
  EXPECT_EQ(matched, 6U);
  ASSERT_OK(link.detach());
  EXPECT_EQ(send(2), 2);
}

TEST_F(TcAttachTest, TcxOrderingAndRevisions) {
  ASSERT_OK_AND_ASSIGN(auto a, counter());
  ASSERT_OK_AND_ASSIGN(auto b, counter());
  ASSERT_OK_AND_ASSIGN(auto c, counter());
  ASSERT_OK_AND_ASSIGN(auto d, counter());
  auto dir = TcDirection::ingress;
  ASSERT_OK_AND_ASSIGN(auto la, attach_tcx(a.program, right_if(), dir, tcx_in_right()));
  auto first = tcx_in_right();
  first.position = TcxPosition::first;
  ASSERT_OK_AND_ASSIGN(auto lb, attach_tcx(b.program, right_if(), dir, first));
  auto after_a = tcx_in_right();
  after_a.position = TcxPosition::after;
  after_a.relative_fd = a.program.fd();
  ASSERT_OK_AND_ASSIGN(auto lc, attach_tcx(c.program, right_if(), dir, after_a));
  ASSERT_OK_AND_ASSIGN(auto q, query_tcx(right_if(), dir, right_ns_.get()));
  auto before_link_a = tcx_in_right();
  before_link_a.position = TcxPosition::before;
  before_link_a.relative_fd = la.fd();
  before_link_a.relative_is_link = true;
  before_link_a.expected_revision = q.revision;
  ASSERT_OK_AND_ASSIGN(auto ld, attach_tcx(d.program, right_if(), dir, before_link_a));

  ASSERT_OK_AND_ASSIGN(auto q2, query_tcx(right_if(), dir, right_ns_.get()));
  std::vector<std::uint32_t> expected{id_of(b.program), id_of(d.program), id_of(a.program), id_of(c.program)};
  EXPECT_EQ(q2.prog_ids, expected);
  ASSERT_OK_AND_ASSIGN(auto info_d, ld.info());
  ASSERT_EQ(q2.link_ids.size(), 4U);
  EXPECT_EQ(q2.link_ids[1], info_d.id);
  EXPECT_GT(q2.revision, q.revision);

  // A stale revision is refused and changes nothing.
  ASSERT_OK_AND_ASSIGN(auto e, counter());
  auto stale = tcx_in_right();
  stale.expected_revision = q.revision;
  auto r = attach_tcx(e.program, right_if(), dir, stale);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::busy) << r.error().to_string();
  EXPECT_EQ(r.error().sys_errno(), ESTALE);
  // The same program twice on one hook is refused.
  auto twice = attach_tcx(a.program, right_if(), dir, tcx_in_right());
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code(), Errc::key_exists) << twice.error().to_string();
  // An anchor that is not on the hook.
  auto nowhere = tcx_in_right();
  nowhere.position = TcxPosition::before;
  nowhere.relative_fd = e.program.fd();
  auto missing = attach_tcx(e.program, right_if(), dir, nowhere);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found) << missing.error().to_string();
  // Bad option combinations never reach the kernel.
  auto no_anchor = tcx_in_right();
  no_anchor.position = TcxPosition::after;
  auto bad = attach_tcx(e.program, right_if(), dir, no_anchor);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_NE(bad.error().message().find("anchor"), std::string::npos);

  ASSERT_OK(lb.detach());
  ASSERT_OK_AND_ASSIGN(auto q3, query_tcx(right_if(), dir, right_ns_.get()));
  expected = {id_of(d.program), id_of(a.program), id_of(c.program)};
  EXPECT_EQ(q3.prog_ids, expected);
}

TEST_F(TcAttachTest, TcxLinkUpdateSwapsProgram) {
  ASSERT_OK_AND_ASSIGN(auto first, counter());
  ASSERT_OK_AND_ASSIGN(auto second, counter());
  ASSERT_OK_AND_ASSIGN(auto link, attach_tcx(first.program, right_if(), TcDirection::ingress, tcx_in_right()));
  EXPECT_EQ(send(3), 3);
  ASSERT_OK(link.update(second.program, first.program));
  EXPECT_EQ(send(5), 5);
  ASSERT_OK_AND_ASSIGN(auto a, first.matched());
  ASSERT_OK_AND_ASSIGN(auto b, second.matched());
  EXPECT_EQ(a, 3U);
  EXPECT_EQ(b, 5U);
}

// --- classic clsact + cls_bpf ---------------------------------------------------------------------------------

TEST_F(TcAttachTest, ClassicIngressFilterCountsAndIsListed) {
  ASSERT_OK_AND_ASSIGN(auto c, counter(test::kTcOk, "et_classic"));
  ASSERT_OK_AND_ASSIGN(auto link, attach_tc(c.program, right_if(), TcDirection::ingress, tc_in(right_ns_)));
  EXPECT_EQ(link.mechanism(), AttachMechanism::tc_filter);
  ASSERT_OK_AND_ASSIGN(auto has, right_has_clsact());
  EXPECT_TRUE(has);

  ASSERT_OK_AND_ASSIGN(auto filters, query_tc(right_if(), TcDirection::ingress, right_ns_.get()));
  ASSERT_EQ(filters.size(), 1U);
  EXPECT_EQ(filters[0].kind, "bpf");
  EXPECT_EQ(filters[0].prog_id, id_of(c.program));
  EXPECT_TRUE(filters[0].direct_action);
  EXPECT_EQ(filters[0].name, "et_classic");
  EXPECT_NE(filters[0].priority, 0);
  EXPECT_NE(filters[0].handle, 0U);
  ASSERT_OK_AND_ASSIGN(auto egress, query_tc(right_if(), TcDirection::egress, right_ns_.get()));
  EXPECT_TRUE(egress.empty());

  EXPECT_EQ(send(7), 7);
  ASSERT_OK_AND_ASSIGN(auto matched, c.matched());
  EXPECT_EQ(matched, 7U);

  ASSERT_OK(link.detach());
  ASSERT_OK_AND_ASSIGN(filters, query_tc(right_if(), TcDirection::ingress, right_ns_.get()));
  EXPECT_TRUE(filters.empty());
  EXPECT_EQ(send(2), 2);
  ASSERT_OK_AND_ASSIGN(matched, c.matched());
  EXPECT_EQ(matched, 7U);

  // The qdisc stays until torn down explicitly.
  ASSERT_OK_AND_ASSIGN(has, right_has_clsact());
  EXPECT_TRUE(has);
  ASSERT_OK(teardown_tc_qdisc(right_if(), right_ns_.get()));
  ASSERT_OK_AND_ASSIGN(has, right_has_clsact());
  EXPECT_FALSE(has);
  auto again = teardown_tc_qdisc(right_if(), right_ns_.get());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Errc::not_found) << again.error().to_string();
}

TEST_F(TcAttachTest, ClassicEgressShotDrops) {
  ASSERT_OK(setup_tc_qdisc(left_if(), left_ns_.get()));
  ASSERT_OK(setup_tc_qdisc(left_if(), left_ns_.get()));  // idempotent
  ASSERT_OK_AND_ASSIGN(auto dropper, counter(test::kTcShot));
  TcOptions options = tc_in(left_ns_);
  options.create_qdisc = false;
  ASSERT_OK_AND_ASSIGN(auto link, attach_tc(dropper.program, left_if(), TcDirection::egress, options));
  EXPECT_EQ(send(5), 0);
  ASSERT_OK_AND_ASSIGN(auto matched, dropper.matched());
  EXPECT_EQ(matched, 5U);
  link = Link();  // destruction detaches
  EXPECT_EQ(send(2), 2);
}

TEST_F(TcAttachTest, ClassicPriorityHandleReplaceAndUpdate) {
  ASSERT_OK_AND_ASSIGN(auto first, counter());
  ASSERT_OK_AND_ASSIGN(auto second, counter());
  TcOptions options = tc_in(right_ns_);
  options.priority = 7;
  options.handle = 42;
  ASSERT_OK_AND_ASSIGN(auto link, attach_tc(first.program, right_if(), TcDirection::ingress, options));
  ASSERT_OK_AND_ASSIGN(auto filters, query_tc(right_if(), TcDirection::ingress, right_ns_.get()));
  ASSERT_EQ(filters.size(), 1U);
  EXPECT_EQ(filters[0].priority, 7);
  EXPECT_EQ(filters[0].handle, 42U);

  auto dup = attach_tc(second.program, right_if(), TcDirection::ingress, options);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), Errc::key_exists) << dup.error().to_string();
  EXPECT_EQ(dup.error().sys_errno(), EEXIST);

  EXPECT_EQ(send(2), 2);
  ASSERT_OK(link.update(second.program, first.program));
  ASSERT_OK_AND_ASSIGN(filters, query_tc(right_if(), TcDirection::ingress, right_ns_.get()));
  ASSERT_EQ(filters.size(), 1U);
  EXPECT_EQ(filters[0].prog_id, id_of(second.program));
  EXPECT_EQ(send(3), 3);
  ASSERT_OK_AND_ASSIGN(auto a, first.matched());
  ASSERT_OK_AND_ASSIGN(auto b, second.matched());
  EXPECT_EQ(a, 2U);
  EXPECT_EQ(b, 3U);
  auto wrong = link.update(first.program, first.program);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("not the expected"), std::string::npos) << wrong.error().to_string();
}

// --- bad input ------------------------------------------------------------------------------------------------

TEST_F(TcAttachTest, WrongProgramTypeIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto xdp, PacketCounter::create(ProgType::xdp, kPort, test::kXdpPass, test::kXdpPass, "et_x"));
  auto tcx = attach_tcx(xdp.program, right_if(), TcDirection::ingress, tcx_in_right());
  ASSERT_FALSE(tcx.has_value());
  EXPECT_EQ(tcx.error().code(), Errc::invalid_argument);
  EXPECT_NE(tcx.error().message().find("xdp program 'et_x'"), std::string::npos) << tcx.error().to_string();
  EXPECT_NE(tcx.error().message().find("needs a sched_cls program"), std::string::npos);
  auto tc = attach_tc(xdp.program, right_if(), TcDirection::ingress, tc_in(right_ns_));
  ASSERT_FALSE(tc.has_value());
  EXPECT_EQ(tc.error().code(), Errc::invalid_argument);
  ASSERT_OK_AND_ASSIGN(auto has, right_has_clsact());
  EXPECT_FALSE(has) << "a refused attach must not create the qdisc";
}

TEST_F(TcAttachTest, UnknownInterfaceIsNotFound) {
  ASSERT_OK_AND_ASSIGN(auto c, counter());
  auto tcx = attach_tcx(c.program, 876543U, TcDirection::ingress, tcx_in_right());
  ASSERT_FALSE(tcx.has_value());
  EXPECT_EQ(tcx.error().code(), Errc::not_found) << tcx.error().to_string();
  EXPECT_EQ(tcx.error().sys_errno(), ENODEV);
  auto tc = attach_tc(c.program, 876543U, TcDirection::ingress, tc_in(right_ns_));
  ASSERT_FALSE(tc.has_value());
  EXPECT_EQ(tc.error().code(), Errc::not_found) << tc.error().to_string();
  EXPECT_NE(tc.error().message().find("876543"), std::string::npos) << tc.error().to_string();
  auto by_name = attach_tc(c.program, std::string_view("etnosuch0"), TcDirection::egress, tc_in(right_ns_));
  ASSERT_FALSE(by_name.has_value());
  EXPECT_EQ(by_name.error().code(), Errc::not_found);
  EXPECT_NE(by_name.error().message().find("etnosuch0"), std::string::npos) << by_name.error().to_string();
}

TEST_F(TcAttachTest, DoubleDetachIsAnError) {
  ASSERT_OK_AND_ASSIGN(auto c, counter());
  ASSERT_OK_AND_ASSIGN(auto tcx, attach_tcx(c.program, right_if(), TcDirection::ingress, tcx_in_right()));
  ASSERT_OK_AND_ASSIGN(auto tc, attach_tc(c.program, right_if(), TcDirection::egress, tc_in(right_ns_)));
  for (Link* link : {&tcx, &tc}) {
    ASSERT_OK(link->detach());
    auto again = link->detach();
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code(), Errc::invalid_argument);
    EXPECT_NE(again.error().message().find("already detached"), std::string::npos);
  }
}

TEST_F(TcAttachTest, InterfaceDeletedWhileAttached) {
  ASSERT_OK_AND_ASSIGN(auto c, counter());
  ASSERT_OK_AND_ASSIGN(auto tcx, attach_tcx(c.program, right_if(), TcDirection::ingress, tcx_in_right()));
  ASSERT_OK_AND_ASSIGN(auto tc, attach_tc(c.program, right_if(), TcDirection::egress, tc_in(right_ns_)));
  ASSERT_OK(topo_->right.exec({"ip", "link", "delete", topo_->right_end.name}));
  ASSERT_OK_AND_ASSIGN(auto info, tcx.info());
  EXPECT_EQ(info.ifindex, 0U);
  EXPECT_OK(tcx.detach());
  auto r = tc.detach();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::not_found) << r.error().to_string();
  EXPECT_NE(r.error().message().find("no longer exists"), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace ebpf
