// Socket filters (SO_ATTACH_BPF) on a UDP socket inside a private namespace: the filter counts what the
// socket would receive and keeps or drops it; detach, update and errors.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/socket.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

// Counts packets; returns `keep` (bytes to keep: -1 everything, 0 drop).
Result<test::CountingProgram> filter_counter(int keep) {
  ProgramLoadOptions options;
  options.name = "et_sockfilt";
  return test::counting_program(ProgType::socket_filter, keep, options);
}

class SocketFilterTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto ns = test::TestNetns::create("s");
    ASSERT_OK(ns);
    netns_.emplace(std::move(*ns));
    auto scope = test::NetnsScope::enter(*netns_);
    ASSERT_OK(scope);
    receiver_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sender_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(receiver_ && sender_);
    addr_.sin_family = AF_INET;
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(receiver_.get(), reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 0);
    socklen_t len = sizeof addr_;
    ASSERT_EQ(::getsockname(receiver_.get(), reinterpret_cast<sockaddr*>(&addr_), &len), 0);
  }

  // Sends `count` datagrams and returns how many the receiver got.
  int exchange(int count) {
    for (int i = 0; i < count; ++i)
      EXPECT_EQ(::sendto(sender_.get(), "ping", 4, 0, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 4);
    int received = 0;
    char buf[16];
    pollfd pfd{receiver_.get(), POLLIN, 0};
    while (::poll(&pfd, 1, 200) > 0 && ::recv(receiver_.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++received;
    return received;
  }

  std::optional<test::TestNetns> netns_;
  Fd receiver_, sender_;
  sockaddr_in addr_{};
};

TEST_F(SocketFilterTest, FilterSeesAndKeepsPackets) {
  ASSERT_OK_AND_ASSIGN(auto keep, filter_counter(-1));
  ASSERT_OK_AND_ASSIGN(auto link, attach_socket_filter(keep.program, receiver_.get()));
  EXPECT_EQ(link.mechanism(), AttachMechanism::socket_option);
  EXPECT_EQ(exchange(5), 5);
  EXPECT_EQ(keep.count(), 5U);
  ASSERT_OK(link.detach());
  EXPECT_EQ(exchange(2), 2);
  EXPECT_EQ(keep.count(), 5U);
}

TEST_F(SocketFilterTest, DroppingFilterAndUpdate) {
  ASSERT_OK_AND_ASSIGN(auto drop, filter_counter(0));
  ASSERT_OK_AND_ASSIGN(auto keep, filter_counter(-1));
  ASSERT_OK_AND_ASSIGN(auto link, attach_socket_filter(drop.program, receiver_.get()));
  EXPECT_EQ(exchange(4), 0);
  EXPECT_EQ(drop.count(), 4U);
  ASSERT_OK(link.update(keep.program));
  EXPECT_EQ(exchange(3), 3);
  EXPECT_EQ(keep.count(), 3U);
  EXPECT_EQ(drop.count(), 4U);
  auto conditional = link.update(drop.program, keep.program);
  ASSERT_FALSE(conditional.has_value());
  EXPECT_EQ(conditional.error().code(), Errc::not_supported);
  {
    Link scoped = std::move(link);  // destruction detaches
  }
  EXPECT_EQ(exchange(1), 1);
  EXPECT_EQ(keep.count(), 3U);
}

TEST_F(SocketFilterTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto keep, filter_counter(-1));
  auto pipe_end = attach_socket_filter(keep.program, 1 /* stdout: not a socket */);
  ASSERT_FALSE(pipe_end.has_value());
  EXPECT_EQ(pipe_end.error().code(), Errc::invalid_argument);
  EXPECT_NE(pipe_end.error().message().find("not a socket"), std::string::npos) << pipe_end.error().to_string();

  auto xdp = test::PacketCounter::create(ProgType::xdp, 1, test::kXdpPass, test::kXdpPass, "et_x");
  ASSERT_OK(xdp);
  auto wrong = attach_socket_filter(xdp->program, receiver_.get());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("needs a socket_filter program"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto link, attach_socket_filter(keep.program, receiver_.get()));
  ASSERT_OK(link.detach());
  auto again = link.detach();
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("already detached"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
