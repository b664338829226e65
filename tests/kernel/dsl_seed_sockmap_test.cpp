// Sockmap seeds on real loopback TCP connections inside a private namespace: the DSL echo server (stream
// parser + verdict redirecting to the arrival socket) echoes each of two concurrent connections' bytes back
// to its own client with no user-space read; the DSL sk_msg proxy moves bytes between the sockets of a pair
// in both directions, and a socket without a peer sends normally.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <optional>
#include <string>

#include "ebpf/attach/sockmap.hpp"
#include "ebpf/dsl/seeds_sockmap.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"
#include "support/sockets.hpp"

namespace {

using namespace ebpf;
namespace sm = ebpf::dsl::sockmap_seeds;

Result<Map> sockhash(std::uint32_t entries) {
  return Map::create({.type = MapType::sockhash, .name = test::unique_name("sh"), .key_size = sizeof(sm::SocketKey),
                      .value_size = 8, .max_entries = entries});
}

Result<void> put(Map& sockets, const Fd& socket) {
  const auto key = EBPF_TRY(sm::socket_key(socket.get()));
  const std::uint64_t fd = static_cast<std::uint64_t>(socket.get());
  return sockets.update(as_bytes_of(key), as_bytes_of(fd));
}

bool send_all(const Fd& fd, std::string_view text) {
  return ::send(fd.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size());
}

class DslSeedSockmap : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_OK_AND_ASSIGN(auto ns, test::TestNetns::create("ds"));
    netns_.emplace(std::move(ns));
    ASSERT_OK_AND_ASSIGN(auto map, sockhash(8));
    sockets_ = std::move(map);
  }
  std::optional<test::TestNetns> netns_;
  Map sockets_;
};

TEST_F(DslSeedSockmap, SocketKeyMatchesTheConnection) {
  ASSERT_OK_AND_ASSIGN(auto pair, test::tcp_pair(*netns_));
  ASSERT_OK_AND_ASSIGN(auto c, sm::socket_key(pair.client.get()));
  ASSERT_OK_AND_ASSIGN(auto s, sm::socket_key(pair.server.get()));
  EXPECT_EQ(c.remote_port, s.local_port);
  EXPECT_EQ(c.local_port, s.remote_port);
  EXPECT_EQ(c.remote_ip4, s.local_ip4);
  EXPECT_FALSE(sm::socket_key(-1));
}

TEST_F(DslSeedSockmap, EchoServerAnswersEachConnection) {
  ASSERT_OK_AND_ASSIGN(auto echo, sm::load_echo(sockets_.fd()));
  ASSERT_OK_AND_ASSIGN(auto lp, attach_sockmap(echo.parser, sockets_.fd(), AttachType::sk_skb_stream_parser));
  ASSERT_OK_AND_ASSIGN(auto lv, attach_sockmap(echo.verdict, sockets_.fd(), AttachType::sk_skb_stream_verdict));
  ASSERT_OK_AND_ASSIGN(auto a, test::tcp_pair(*netns_));
  ASSERT_OK_AND_ASSIGN(auto b, test::tcp_pair(*netns_));
  ASSERT_OK(put(sockets_, a.server));
  ASSERT_OK(put(sockets_, b.server));
  ASSERT_TRUE(send_all(a.client, "hello from a"));
  ASSERT_TRUE(send_all(b.client, "b says hi"));
  EXPECT_EQ(test::receive(a.client), "hello from a");
  EXPECT_EQ(test::receive(b.client), "b says hi");
  ASSERT_TRUE(send_all(a.client, "again"));
  EXPECT_EQ(test::receive(a.client), "again");
  // The server process never sees the bytes: the kernel answered.
  EXPECT_FALSE(test::readable(a.server, 50));
  EXPECT_FALSE(test::readable(b.server, 50));
}

TEST_F(DslSeedSockmap, ProxyMovesBytesBetweenPairedSockets) {
  ASSERT_OK_AND_ASSIGN(auto peers, (HashMap<sm::SocketKey, sm::SocketKey>::create(test::unique_name("pr"), 8)));
  ASSERT_OK_AND_ASSIGN(auto proxy, sm::load_proxy(sockets_.fd(), peers.fd()));
  ASSERT_OK_AND_ASSIGN(auto link, attach_sockmap(proxy, sockets_.fd(), AttachType::sk_msg_verdict));
  ASSERT_OK_AND_ASSIGN(auto a, test::tcp_pair(*netns_));
  ASSERT_OK_AND_ASSIGN(auto b, test::tcp_pair(*netns_));
  ASSERT_OK_AND_ASSIGN(auto c, test::tcp_pair(*netns_));
  ASSERT_OK_AND_ASSIGN(auto ka, sm::socket_key(a.client.get()));
  ASSERT_OK_AND_ASSIGN(auto kb, sm::socket_key(b.client.get()));
  ASSERT_OK(peers.update(ka, kb));
  ASSERT_OK(peers.update(kb, ka));
  ASSERT_OK(put(sockets_, a.client));
  ASSERT_OK(put(sockets_, b.client));
  ASSERT_OK(put(sockets_, c.client));  // in the map, so the program runs, but without a peer

  ASSERT_TRUE(send_all(a.client, "a to b"));
  EXPECT_EQ(test::receive(b.client), "a to b");
  ASSERT_TRUE(send_all(b.client, "b to a"));
  EXPECT_EQ(test::receive(a.client), "b to a");
  EXPECT_FALSE(test::readable(a.server, 50));  // nothing went over the pairs' own connections
  EXPECT_FALSE(test::readable(b.server, 50));
  ASSERT_TRUE(send_all(c.client, "plain"));
  EXPECT_EQ(test::receive(c.server), "plain");

  // Unpairing stops the proxying: a's bytes go to its own server again.
  ASSERT_OK(peers.remove(ka));
  ASSERT_TRUE(send_all(a.client, "direct"));
  EXPECT_EQ(test::receive(a.server), "direct");
  EXPECT_FALSE(test::readable(b.client, 50));
}

}  // namespace
