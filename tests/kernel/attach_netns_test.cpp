// Network-namespace hooks on a namespace the test creates: an sk_lookup program sees (and can drop) UDP
// datagrams to a socket in that namespace; flow dissector links and the legacy PROG_ATTACH path.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/netns.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

// sk_lookup: counts lookups, returns `verdict` (1 SK_PASS, 0 SK_DROP).
Result<test::CountingProgram> lookup_counter(int verdict) {
  ProgramLoadOptions options;
  options.name = "et_sklookup";
  options.expected_attach_type = AttachType::sk_lookup;
  return test::counting_program(ProgType::sk_lookup, verdict, options);
}

Result<Program> flow_dissector() {
  Insn insns[2];
  insns[0].code = 0xb7;  // r0 = BPF_OK
  insns[1].code = 0x95;
  ProgramLoadOptions options;
  options.name = "et_flowdiss";
  return Program::load(ProgType::flow_dissector, insns, options);
}

std::uint32_t id_of(const Program& p) {
  auto info = p.info();
  return info ? info->id : 0;
}

class NetnsAttachTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto ns = test::TestNetns::create("k");
    ASSERT_OK(ns);
    netns_.emplace(std::move(*ns));
    auto fd = netns_->open();
    ASSERT_OK(fd);
    netns_fd_ = std::move(*fd);
  }

  // UDP over the namespace's loopback: returns how many of `count` datagrams arrived.
  int exchange(int count) {
    auto scope = test::NetnsScope::enter(*netns_);
    EXPECT_OK(scope);
    Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(rx.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0)
      return -1;
    for (int i = 0; i < count; ++i) (void)::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int received = 0;
    char buf[8];
    pollfd pfd{rx.get(), POLLIN, 0};
    while (::poll(&pfd, 1, 200) > 0 && ::recv(rx.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++received;
    return received;
  }

  std::optional<test::TestNetns> netns_;
  Fd netns_fd_;
};

TEST_F(NetnsAttachTest, SkLookupSeesAndDropsDatagrams) {
  ASSERT_OK_AND_ASSIGN(auto pass, lookup_counter(1));
  ASSERT_OK_AND_ASSIGN(auto link, attach_netns(pass.program, netns_fd_.get()));
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::netns);
  EXPECT_EQ(info.attach_type, AttachType::sk_lookup);
  struct stat st{};
  ASSERT_EQ(::fstat(netns_fd_.get(), &st), 0);
  EXPECT_EQ(info.netns_ino, st.st_ino);
  ASSERT_OK_AND_ASSIGN(auto ids, query_netns(netns_fd_.get(), AttachType::sk_lookup));
  EXPECT_EQ(ids, std::vector<std::uint32_t>{id_of(pass.program)});

  EXPECT_EQ(exchange(5), 5);
  EXPECT_EQ(pass.count(), 5U);

  ASSERT_OK_AND_ASSIGN(auto drop, lookup_counter(0));
  ASSERT_OK(link.update(drop.program));
  EXPECT_EQ(exchange(3), 0);
  // Each dropped datagram is looked up twice: on receive, and again when the ICMP port-unreachable that the
  // drop provokes is matched to the sending socket.
  auto dropped = drop.count();
  EXPECT_EQ(dropped, 6U);
  ASSERT_OK(link.detach());
  EXPECT_EQ(exchange(2), 2);
  EXPECT_EQ(drop.count(), dropped);
}

TEST_F(NetnsAttachTest, FlowDissectorLinkAndLegacyAttach) {
  ASSERT_OK_AND_ASSIGN(auto prog, flow_dissector());
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_netns(prog, netns_fd_.get()));
    ASSERT_OK_AND_ASSIGN(auto ids, query_netns(netns_fd_.get(), AttachType::flow_dissector));
    EXPECT_EQ(ids, std::vector<std::uint32_t>{id_of(prog)});
    // The hook is taken by a link: the legacy path is refused, explained.
    auto legacy = attach_netns(prog, netns_fd_.get(), {false});
    ASSERT_FALSE(legacy.has_value());
    EXPECT_EQ(legacy.error().code(), Errc::busy) << legacy.error().to_string();
  }
  ASSERT_OK_AND_ASSIGN(auto ids, query_netns(netns_fd_.get(), AttachType::flow_dissector));
  EXPECT_TRUE(ids.empty());

  ASSERT_OK_AND_ASSIGN(auto legacy, attach_netns(prog, netns_fd_.get(), {false}));
  EXPECT_EQ(legacy.mechanism(), AttachMechanism::prog_attach);
  ASSERT_OK_AND_ASSIGN(ids, query_netns(netns_fd_.get(), AttachType::flow_dissector));
  EXPECT_EQ(ids, std::vector<std::uint32_t>{id_of(prog)});
  ASSERT_OK(legacy.detach());
  ASSERT_OK_AND_ASSIGN(ids, query_netns(netns_fd_.get(), AttachType::flow_dissector));
  EXPECT_TRUE(ids.empty());
}

TEST_F(NetnsAttachTest, BadInput) {
  auto xdp = test::PacketCounter::create(ProgType::xdp, 1, test::kXdpPass, test::kXdpPass, "et_x");
  ASSERT_OK(xdp);
  auto wrong = attach_netns(xdp->program, netns_fd_.get());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("needs a sk_lookup or flow_dissector program"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto lookup, lookup_counter(1));
  auto legacy_lookup = attach_netns(lookup.program, netns_fd_.get(), {false});
  ASSERT_FALSE(legacy_lookup.has_value());
  EXPECT_EQ(legacy_lookup.error().code(), Errc::invalid_argument);
  auto no_fd = attach_netns(lookup.program, -1);
  ASSERT_FALSE(no_fd.has_value());
  EXPECT_EQ(no_fd.error().code(), Errc::invalid_argument);
  auto bad_query = query_netns(netns_fd_.get(), AttachType::xdp);
  ASSERT_FALSE(bad_query.has_value());
  EXPECT_EQ(bad_query.error().code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace ebpf
