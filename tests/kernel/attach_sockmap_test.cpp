// sockmap: sk_skb and sk_msg programs on a SOCKMAP holding real loopback TCP sockets of a private network
// namespace. An sk_skb verdict redirecting to the same socket's egress makes the kernel echo the client's bytes
// with no user-space read; an sk_msg verdict moves bytes sent on one socket into another socket's receive
// queue. Link and PROG_ATTACH paths, detach, and errors.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/sockmap.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"
#include "support/sockets.hpp"

namespace ebpf {
namespace {

constexpr std::uint64_t kIngress = 1;  // BPF_F_INGRESS

using test::readable;
using test::receive;
using test::tcp_pair;

Result<Fd> sockmap(std::uint32_t entries) {
  sys::MapCreateAttr attr{.map_type = static_cast<std::uint32_t>(MapType::sockmap), .key_size = 4, .value_size = 8,
                          .max_entries = entries};
  return sys::map_create(attr);
}

Result<void> put_socket(const Fd& map, std::uint32_t key, const Fd& socket) {
  std::uint64_t fd = static_cast<std::uint64_t>(socket.get());
  return sys::map_update_elem(map.get(), &key, &fd, 0);
}

// `return redirect(ctx, map, key, flags)` with helper `helper`; `parser` programs return skb->len instead.
Result<Program> redirect_program(ProgType type, AttachType attach, const char* helper, const Fd& map,
                                 std::int32_t key, std::int32_t flags) {
  using namespace isa;
  Assembler a;
  a.ld_map(r2, map.get()).mov(r3, key).mov(r4, flags).call(helper).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_sockmap";
  options.expected_attach_type = attach;
  return Program::load(type, code.span(), options);
}

// Stream parser: the whole skb is one message (return skb->len, __sk_buff offset 0).
Result<Program> whole_skb_parser() {
  using namespace isa;
  Assembler a;
  a.ldx(W, r0, r1, 0).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_parser";
  options.expected_attach_type = AttachType::sk_skb_stream_parser;
  return Program::load(ProgType::sk_skb, code.span(), options);
}

class SockmapTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto ns = test::TestNetns::create("sm");
    ASSERT_OK(ns);
    netns_.emplace(std::move(*ns));
    auto map = sockmap(4);
    ASSERT_OK(map);
    map_ = std::move(*map);
  }
  std::optional<test::TestNetns> netns_;
  Fd map_;
};

void expect_echo(const Fd& map, const test::TestNetns& netns, SockmapAttachMode mode, AttachMechanism mechanism) {
  ASSERT_OK_AND_ASSIGN(auto parser, whole_skb_parser());
  ASSERT_OK_AND_ASSIGN(auto verdict, redirect_program(ProgType::sk_skb, AttachType::sk_skb_stream_verdict,
                                                      "sk_redirect_map", map, 0, 0));
  ASSERT_OK_AND_ASSIGN(auto lp, attach_sockmap(parser, map.get(), AttachType::sk_skb_stream_parser, {mode}));
  ASSERT_OK_AND_ASSIGN(auto lv, attach_sockmap(verdict, map.get(), AttachType::sk_skb_stream_verdict, {mode}));
  EXPECT_EQ(lv.mechanism(), mechanism);
  ASSERT_OK_AND_ASSIGN(auto pair, tcp_pair(netns));
  ASSERT_OK(put_socket(map, 0, pair.server));
  ASSERT_EQ(::send(pair.client.get(), "ping-echo", 9, 0), 9);
  // The kernel sends the bytes back out of the server socket: nobody reads pair.server.
  EXPECT_EQ(receive(pair.client), "ping-echo");
  EXPECT_FALSE(readable(pair.server, 50));
}

TEST_F(SockmapTest, EchoServerWithLinks) {
  expect_echo(map_, *netns_, SockmapAttachMode::link, AttachMechanism::bpf_link);
}

TEST_F(SockmapTest, EchoServerWithProgAttach) {
  expect_echo(map_, *netns_, SockmapAttachMode::prog_attach, AttachMechanism::prog_attach);
}

TEST_F(SockmapTest, DetachStopsTheEcho) {
  ASSERT_OK_AND_ASSIGN(auto verdict, redirect_program(ProgType::sk_skb, AttachType::sk_skb_verdict,
                                                      "sk_redirect_map", map_, 0, 0));
  ASSERT_OK_AND_ASSIGN(auto link, attach_sockmap(verdict, map_.get(), AttachType::sk_skb_verdict));
  ASSERT_OK(link.detach());
  ASSERT_OK_AND_ASSIGN(auto pair, tcp_pair(*netns_));
  ASSERT_OK(put_socket(map_, 0, pair.server));
  ASSERT_EQ(::send(pair.client.get(), "plain", 5, 0), 5);
  EXPECT_EQ(receive(pair.server), "plain");  // no program: the data reaches the server normally
  EXPECT_FALSE(readable(pair.client, 50));
}

TEST_F(SockmapTest, MsgVerdictProxiesIntoAnotherSocket) {
  // Bytes sent on connection A's client go straight into connection B's client receive queue.
  ASSERT_OK_AND_ASSIGN(auto msg, redirect_program(ProgType::sk_msg, AttachType::sk_msg_verdict, "msg_redirect_map",
                                                  map_, 1, static_cast<std::int32_t>(kIngress)));
  for (auto mode : {SockmapAttachMode::auto_, SockmapAttachMode::prog_attach}) {
    ASSERT_OK_AND_ASSIGN(auto link, attach_sockmap(msg, map_.get(), AttachType::sk_msg_verdict, {mode}));
    ASSERT_OK_AND_ASSIGN(auto a, tcp_pair(*netns_));
    ASSERT_OK_AND_ASSIGN(auto b, tcp_pair(*netns_));
    ASSERT_OK(put_socket(map_, 0, a.client));
    ASSERT_OK(put_socket(map_, 1, b.client));
    ASSERT_EQ(::send(a.client.get(), "proxied", 7, 0), 7);
    EXPECT_EQ(receive(b.client), "proxied");
    EXPECT_FALSE(readable(a.server, 50));  // never went over A's connection
    ASSERT_OK(link.detach());
    std::uint32_t k0 = 0, k1 = 1;
    ASSERT_OK(sys::map_delete_elem(map_.get(), &k0));
    ASSERT_OK(sys::map_delete_elem(map_.get(), &k1));
  }
}

TEST_F(SockmapTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto msg, redirect_program(ProgType::sk_msg, AttachType::sk_msg_verdict, "msg_redirect_map",
                                                  map_, 1, 0));
  auto wrong_hook = attach_sockmap(msg, map_.get(), AttachType::sk_skb_stream_verdict);
  ASSERT_FALSE(wrong_hook);
  EXPECT_EQ(wrong_hook.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong_hook.error().message().find("needs a sk_skb program"), std::string::npos) << wrong_hook.error().to_string();
  auto not_sockmap_type = attach_sockmap(msg, map_.get(), AttachType::xdp);
  ASSERT_FALSE(not_sockmap_type);
  EXPECT_EQ(not_sockmap_type.error().code(), Errc::invalid_argument);
  auto no_map = attach_sockmap(msg, -1, AttachType::sk_msg_verdict);
  ASSERT_FALSE(no_map);
  EXPECT_EQ(no_map.error().code(), Errc::invalid_argument);
  ASSERT_OK_AND_ASSIGN(auto first, attach_sockmap(msg, map_.get(), AttachType::sk_msg_verdict,
                                                  {SockmapAttachMode::link}));
  ASSERT_OK_AND_ASSIGN(auto other, redirect_program(ProgType::sk_msg, AttachType::sk_msg_verdict,
                                                    "msg_redirect_map", map_, 0, 0));
  auto busy = attach_sockmap(other, map_.get(), AttachType::sk_msg_verdict, {SockmapAttachMode::link});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().sys_errno(), EBUSY) << busy.error().to_string();  // a link owns the hook
  ASSERT_OK(first.detach());
  auto twice = first.detach();
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace ebpf
