// cgroup attachment: cgroup_skb egress programs on a cgroup the test creates, counting (or refusing) the UDP
// datagrams of a socket created inside that cgroup (and inside a private network namespace); link and
// BPF_PROG_ATTACH modes, queries, replace, and errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>


#include "ebpf/assembler.hpp"
#include "ebpf/attach/cgroup.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/cgroup.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

using test::kCgroupRoot;
using test::make_cgroup;
using test::TestCgroup;

// A UDP socket whose packets belong to `cgroup` (sockets are tagged with their creator's cgroup) and to the
// network namespace `netns`.
// A child process in both makes it and hands it over, so the test process never changes cgroup.
Result<Fd> socket_in(const TestCgroup& cgroup, const test::TestNetns& netns) {
  return test::fd_from_cgroup(cgroup, [&] {
    auto scope = test::NetnsScope::enter(netns);
    return scope ? ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
  });
}

// Sends `count` datagrams to 127.0.0.1:9; returns how many the kernel accepted, or the first errno (negative).
int send_udp(const Fd& socket, int count) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    if (::sendto(socket.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0) return -errno;
    ++sent;
  }
  return sent;
}

// cgroup_skb program: counts every packet and returns `verdict` (1 allow, 0 drop).
Result<test::CountingProgram> skb_counter(int verdict) {
  ProgramLoadOptions options;
  options.name = "et_cg_skb";
  options.expected_attach_type = AttachType::cgroup_inet_egress;
  return test::counting_program(ProgType::cgroup_skb, verdict, options);
}

std::uint32_t id_of(const Program& p) {
  auto info = p.info();
  return info ? info->id : 0;
}

class CgroupAttachTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto cg = make_cgroup();
    ASSERT_OK(cg);
    cgroup_ = std::move(*cg);
    auto ns = test::TestNetns::create("c");
    ASSERT_OK(ns);
    netns_.emplace(std::move(*ns));
    auto sock = socket_in(*cgroup_, *netns_);
    ASSERT_OK(sock);
    socket_ = std::move(*sock);
  }
  void TearDown() override { socket_.reset(); }

  std::unique_ptr<TestCgroup> cgroup_;
  std::optional<test::TestNetns> netns_;
  Fd socket_;
};

constexpr auto kEgress = AttachType::cgroup_inet_egress;

TEST_F(CgroupAttachTest, LinkCountsEgressOfTheCgroupsSockets) {
  ASSERT_OK_AND_ASSIGN(auto c, skb_counter(1));
  ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(c.program, cgroup_->fd.get(), kEgress));
  EXPECT_EQ(link.mechanism(), AttachMechanism::bpf_link);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::cgroup);
  EXPECT_EQ(info.attach_type, kEgress);
  struct stat st{};
  ASSERT_EQ(::stat(cgroup_->path.c_str(), &st), 0);
  EXPECT_EQ(info.cgroup_id, st.st_ino);

  EXPECT_EQ(send_udp(socket_, 6), 6);
  EXPECT_EQ(c.count(), 6U);
  ASSERT_OK_AND_ASSIGN(auto q, query_cgroup(cgroup_->fd.get(), kEgress));
  EXPECT_EQ(q.prog_ids, std::vector<std::uint32_t>{id_of(c.program)});

  ASSERT_OK(link.detach());
  EXPECT_EQ(send_udp(socket_, 3), 3);
  EXPECT_EQ(c.count(), 6U);
  ASSERT_OK_AND_ASSIGN(q, query_cgroup(cgroup_->fd.get(), kEgress));
  EXPECT_TRUE(q.prog_ids.empty());
}

TEST_F(CgroupAttachTest, MultiRunsEveryProgramAndADropRefusesTheSend) {
  ASSERT_OK_AND_ASSIGN(auto a, skb_counter(1));
  ASSERT_OK_AND_ASSIGN(auto b, skb_counter(1));
  CgroupOptions multi{CgroupAttachMode::multi, -1};
  ASSERT_OK_AND_ASSIGN(auto la, attach_cgroup(a.program, cgroup_->path, kEgress, multi));
  ASSERT_OK_AND_ASSIGN(auto lb, attach_cgroup(b.program, cgroup_->fd.get(), kEgress, multi));
  EXPECT_EQ(la.mechanism(), AttachMechanism::prog_attach);
  ASSERT_OK_AND_ASSIGN(auto q, query_cgroup(cgroup_->fd.get(), kEgress));
  EXPECT_EQ(q.prog_ids, (std::vector<std::uint32_t>{id_of(a.program), id_of(b.program)}));
  EXPECT_EQ(q.attach_flags, 2U /* BPF_F_ALLOW_MULTI */);
  EXPECT_EQ(send_udp(socket_, 4), 4);
  EXPECT_EQ(a.count(), 4U);
  EXPECT_EQ(b.count(), 4U);

  // A dropping program in the list makes the send fail with EPERM.
  ASSERT_OK_AND_ASSIGN(auto drop, skb_counter(0));
  ASSERT_OK_AND_ASSIGN(auto ld, attach_cgroup(drop.program, cgroup_->fd.get(), kEgress, multi));
  EXPECT_EQ(send_udp(socket_, 1), -EPERM);
  EXPECT_EQ(drop.count(), 1U);
  ASSERT_OK(ld.detach());
  EXPECT_EQ(send_udp(socket_, 1), 1);

  // Replace b by the dropper in place (BPF_F_REPLACE), keeping a.
  ASSERT_OK(lb.update(drop.program, b.program));
  ASSERT_OK_AND_ASSIGN(q, query_cgroup(cgroup_->fd.get(), kEgress));
  EXPECT_EQ(q.prog_ids, (std::vector<std::uint32_t>{id_of(a.program), id_of(drop.program)}));
  EXPECT_EQ(send_udp(socket_, 1), -EPERM);
  auto wrong = lb.update(b.program, b.program);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument) << wrong.error().to_string();
}

TEST_F(CgroupAttachTest, ExclusiveAndOverrideModes) {
  ASSERT_OK_AND_ASSIGN(auto a, skb_counter(1));
  ASSERT_OK_AND_ASSIGN(auto b, skb_counter(1));
  ASSERT_OK_AND_ASSIGN(auto la, attach_cgroup(a.program, cgroup_->fd.get(), kEgress, {CgroupAttachMode::override, -1}));
  ASSERT_OK_AND_ASSIGN(auto q, query_cgroup(cgroup_->fd.get(), kEgress));
  EXPECT_EQ(q.attach_flags, 1U /* BPF_F_ALLOW_OVERRIDE */);
  // Mixing modes on one cgroup is refused by the kernel with EPERM, explained.
  auto mixed = attach_cgroup(b.program, cgroup_->fd.get(), kEgress, {CgroupAttachMode::multi, -1});
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error().code(), Errc::permission) << mixed.error().to_string();
  EXPECT_NE(mixed.error().message().find("different mode"), std::string::npos) << mixed.error().to_string();

  // A child cgroup may override the parent's program: its sockets run only the child's.
  ASSERT_OK_AND_ASSIGN(auto child, make_cgroup(cgroup_->path));
  ASSERT_OK_AND_ASSIGN(auto child_socket, socket_in(*child, *netns_));
  ASSERT_OK_AND_ASSIGN(auto lb, attach_cgroup(b.program, child->fd.get(), kEgress, {CgroupAttachMode::override, -1}));
  EXPECT_EQ(send_udp(child_socket, 3), 3);
  EXPECT_EQ(b.count(), 3U);
  EXPECT_EQ(a.count(), 0U);
  ASSERT_OK_AND_ASSIGN(auto eff, query_cgroup(child->fd.get(), kEgress, true));
  EXPECT_EQ(eff.prog_ids, std::vector<std::uint32_t>{id_of(b.program)});
  ASSERT_OK(lb.detach());
  EXPECT_EQ(send_udp(child_socket, 2), 2);
  EXPECT_EQ(a.count(), 2U) << "without its own program the child inherits the parent's";
  child_socket.reset();
  ASSERT_OK(la.detach());
}

TEST_F(CgroupAttachTest, ExclusiveParentForbidsChildPrograms) {
  ASSERT_OK_AND_ASSIGN(auto a, skb_counter(1));
  ASSERT_OK_AND_ASSIGN(auto la, attach_cgroup(a.program, cgroup_->fd.get(), kEgress, {CgroupAttachMode::exclusive, -1}));
  ASSERT_OK_AND_ASSIGN(auto child, make_cgroup(cgroup_->path));
  auto r = attach_cgroup(a.program, child->fd.get(), kEgress, {CgroupAttachMode::override, -1});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::permission) << r.error().to_string();
  EXPECT_EQ(r.error().sys_errno(), EPERM);
}

TEST_F(CgroupAttachTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto a, skb_counter(1));
  auto not_cgroup_type = attach_cgroup(a.program, cgroup_->fd.get(), AttachType::xdp);
  ASSERT_FALSE(not_cgroup_type.has_value());
  EXPECT_EQ(not_cgroup_type.error().code(), Errc::invalid_argument);
  EXPECT_NE(not_cgroup_type.error().message().find("not a cgroup attach type"), std::string::npos);

  auto wrong_prog = attach_cgroup(a.program, cgroup_->fd.get(), AttachType::cgroup_inet4_connect);
  ASSERT_FALSE(wrong_prog.has_value());
  EXPECT_EQ(wrong_prog.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong_prog.error().message().find("needs a cgroup_sock_addr program"), std::string::npos)
      << wrong_prog.error().to_string();

  auto missing = attach_cgroup(a.program, std::string(kCgroupRoot) + "/etno-such-cgroup", kEgress);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);

  auto replace_single = attach_cgroup(a.program, cgroup_->fd.get(), kEgress, {CgroupAttachMode::exclusive, a.program.fd()});
  ASSERT_FALSE(replace_single.has_value());
  EXPECT_EQ(replace_single.error().code(), Errc::invalid_argument);

  for (auto mode : {CgroupAttachMode::link, CgroupAttachMode::multi}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(a.program, cgroup_->fd.get(), kEgress, {mode, -1}));
    ASSERT_OK(link.detach());
    auto again = link.detach();
    ASSERT_FALSE(again.has_value());
    EXPECT_NE(again.error().message().find("already detached"), std::string::npos);
  }
}

}  // namespace
}  // namespace ebpf
