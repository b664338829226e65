// struct_ops: a TCP congestion control written in BPF C (compiled with clang at test time) is loaded by the
// object loader, registered link-based and legacy, listed by the kernel, and carries a real TCP connection
// over loopback in a private namespace; counters the callbacks bump prove they ran. Unregistering removes it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ebpf/attach/struct_ops.hpp"
#include "ebpf/object.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

// The congestion control: Reno-free "constant window" with counters. `NAME` names the algorithm; SECTION
// chooses link-based (.struct_ops.link) or legacy (.struct_ops) registration. A second variable `et_cc2`
// with the same algorithm name and its own init counter lets a test swap implementations.
constexpr std::string_view kSource = R"(
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
struct sock;
struct tcp_sock { __u32 snd_cwnd; } __attribute__((preserve_access_index));
struct tcp_congestion_ops {
  __u32 (*ssthresh)(struct sock *sk);
  void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
  __u32 (*undo_cwnd)(struct sock *sk);
  void (*init)(struct sock *sk);
  char name[16];
};
__u64 init_calls, init2_calls, avoid_calls, ssthresh_calls;

SEC("struct_ops/et_ssthresh") __u32 et_ssthresh(__u64 *ctx) {
  struct tcp_sock *tp = (void *)ctx[0];
  __u32 half = tp->snd_cwnd >> 1;
  __sync_fetch_and_add(&ssthresh_calls, 1);
  return half < 2 ? 2 : half;
}
SEC("struct_ops/et_cong_avoid") void et_cong_avoid(__u64 *ctx) { __sync_fetch_and_add(&avoid_calls, 1); }
SEC("struct_ops/et_undo_cwnd") __u32 et_undo_cwnd(__u64 *ctx) {
  struct tcp_sock *tp = (void *)ctx[0];
  return tp->snd_cwnd;
}
SEC("struct_ops/et_init") void et_init(__u64 *ctx) { __sync_fetch_and_add(&init_calls, 1); }
SEC("struct_ops/et_init2") void et_init2(__u64 *ctx) { __sync_fetch_and_add(&init2_calls, 1); }

SEC(SECTION) struct tcp_congestion_ops et_cc = {
  .ssthresh = (void *)et_ssthresh, .cong_avoid = (void *)et_cong_avoid, .undo_cwnd = (void *)et_undo_cwnd,
  .init = (void *)et_init, .name = NAME,
};
SEC(SECTION) struct tcp_congestion_ops et_cc2 = {
  .ssthresh = (void *)et_ssthresh, .cong_avoid = (void *)et_cong_avoid, .undo_cwnd = (void *)et_undo_cwnd,
  .init = (void *)et_init2, .name = NAME,
};
char _license[] SEC("license") = "GPL";
)";

bool algorithm_available(const std::string& name) {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_congestion_control");
  std::string word;
  while (in >> word)
    if (word == name) return true;
  return false;
}

std::uint64_t global(const Object& obj, std::string_view name) {
  std::uint64_t v = ~0ULL;
  if (!obj.read_global(name, std::as_writable_bytes(std::span(&v, 1)))) return ~0ULL;
  return v;
}

// A TCP connection over loopback in the current namespace whose client uses congestion control `algorithm`;
// sends `bytes` and returns the algorithm getsockopt reports for the client while connected.
Result<std::string> tcp_transfer(const std::string& algorithm, std::size_t bytes) {
  Fd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!server || !client) return Error::from_errno(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(server.get(), 1) < 0 ||
      ::getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0)
    return Error::from_errno(errno, "bind/listen");
  if (::setsockopt(client.get(), IPPROTO_TCP, TCP_CONGESTION, algorithm.data(), algorithm.size()) < 0)
    return Error::from_errno(errno, "setsockopt(TCP_CONGESTION)", algorithm);
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno(errno, "connect");
  Fd peer(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!peer) return Error::from_errno(errno, "accept");
  std::size_t received = 0;
  std::thread reader([&] {
    std::vector<char> buf(65536);
    while (received < bytes) {
      auto n = ::recv(peer.get(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      received += static_cast<std::size_t>(n);
    }
  });
  std::vector<char> chunk(65536, 'x');
  for (std::size_t sent = 0; sent < bytes;) {
    auto n = ::send(client.get(), chunk.data(), std::min(chunk.size(), bytes - sent), 0);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  reader.join();
  if (received != bytes) return Error(Errc::io, "tcp transfer", "received " + std::to_string(received) + " bytes");
  char name[16] = {};
  socklen_t name_len = sizeof name;
  if (::getsockopt(client.get(), IPPROTO_TCP, TCP_CONGESTION, name, &name_len) < 0)
    return Error::from_errno(errno, "getsockopt(TCP_CONGESTION)");
  return std::string(name, strnlen(name, sizeof name));
}

class StructOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    if (test::bpf_clang().empty()) GTEST_SKIP() << "no clang for BPF";
    algorithm_ = test::unique_name("cc");
    ASSERT_LT(algorithm_.size(), 16U);
  }

  Result<Object> load(std::string_view section) {
    auto flags = "-DNAME='\"" + algorithm_ + "\"' -DSECTION='\"" + std::string(section) + "\"'";
    auto path = EBPF_TRY(test::compile_bpf_c(dir_, "cc", kSource, flags));
    auto obj = EBPF_TRY(Object::open(path.string()));
    EBPF_TRY(obj.load());
    return obj;
  }

  test::TempDir dir_{"et_struct_ops"};
  std::string algorithm_;
};

TEST_F(StructOpsTest, LoaderBuildsKernelValue) {
  ASSERT_OK_AND_ASSIGN(auto obj, load(".struct_ops.link"));
  const MapDefinition* def = obj.spec().map("et_cc");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->type, MapType::struct_ops);
  EXPECT_EQ(def->flags & map_flags::link, map_flags::link);
  ASSERT_NE(obj.map("et_cc"), nullptr);
  EXPECT_EQ(obj.map("et_cc")->value_size(), def->value_size);
  // The algorithm name was copied into the kernel value; every struct_ops program loaded as struct_ops.
  std::string value(reinterpret_cast<const char*>(def->contents.data()), def->contents.size());
  EXPECT_NE(value.find(algorithm_), std::string::npos);
  for (auto name : {"et_ssthresh", "et_cong_avoid", "et_undo_cwnd", "et_init", "et_init2"}) {
    ASSERT_NE(obj.program(name), nullptr) << name;
    EXPECT_EQ(obj.program(name)->type(), ProgType::struct_ops);
  }
  EXPECT_FALSE(algorithm_available(algorithm_));  // loading does not register
}

TEST_F(StructOpsTest, LinkRegistrationCarriesTcpTraffic) {
  ASSERT_OK_AND_ASSIGN(auto obj, load(".struct_ops.link"));
  ASSERT_OK_AND_ASSIGN(auto link, attach_struct_ops(obj, "et_cc"));
  EXPECT_EQ(link.mechanism(), AttachMechanism::bpf_link);
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::struct_ops);
  EXPECT_TRUE(algorithm_available(algorithm_));
  {
    ASSERT_OK_AND_ASSIGN(auto ns, test::TestNetns::create("so"));
    ASSERT_OK_AND_ASSIGN(auto scope, test::NetnsScope::enter(ns));
    ASSERT_OK_AND_ASSIGN(auto used, tcp_transfer(algorithm_, 4 << 20));
    EXPECT_EQ(used, algorithm_);
  }
  EXPECT_GE(global(obj, "init_calls"), 1U);
  EXPECT_GT(global(obj, "avoid_calls"), 0U);
  EXPECT_EQ(global(obj, "init2_calls"), 0U);
  ASSERT_OK(link.detach());
  EXPECT_FALSE(algorithm_available(algorithm_));
}

TEST_F(StructOpsTest, LinkUpdateSwapsImplementation) {
  ASSERT_OK_AND_ASSIGN(auto obj, load(".struct_ops.link"));
  ASSERT_OK_AND_ASSIGN(auto link, attach_struct_ops(obj, "et_cc"));
  ASSERT_OK_AND_ASSIGN(auto ns, test::TestNetns::create("su"));
  ASSERT_OK_AND_ASSIGN(auto scope, test::NetnsScope::enter(ns));
  ASSERT_OK(tcp_transfer(algorithm_, 64 << 10));
  auto first_inits = global(obj, "init_calls");
  EXPECT_GE(first_inits, 1U);
  EXPECT_EQ(global(obj, "init2_calls"), 0U);
  ASSERT_OK(update_struct_ops(link, obj, "et_cc2"));
  EXPECT_TRUE(algorithm_available(algorithm_));
  ASSERT_OK_AND_ASSIGN(auto used, tcp_transfer(algorithm_, 64 << 10));
  EXPECT_EQ(used, algorithm_);
  EXPECT_GE(global(obj, "init2_calls"), 1U);         // new connections run the new implementation
  EXPECT_EQ(global(obj, "init_calls"), first_inits);  // and no longer the old one
  link = Link();  // destruction unregisters
  EXPECT_FALSE(algorithm_available(algorithm_));
}

TEST_F(StructOpsTest, LegacyRegistrationAndUnregister) {
  ASSERT_OK_AND_ASSIGN(auto obj, load(".struct_ops"));
  EXPECT_EQ(obj.spec().map("et_cc")->flags & map_flags::link, 0U);
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_struct_ops(obj, "et_cc"));
    EXPECT_NE(link.mechanism(), AttachMechanism::bpf_link);
    EXPECT_TRUE(algorithm_available(algorithm_));
    ASSERT_OK_AND_ASSIGN(auto ns, test::TestNetns::create("sl"));
    ASSERT_OK_AND_ASSIGN(auto scope, test::NetnsScope::enter(ns));
    ASSERT_OK_AND_ASSIGN(auto used, tcp_transfer(algorithm_, 1 << 20));
    EXPECT_EQ(used, algorithm_);
    EXPECT_GE(global(obj, "init_calls"), 1U);
    // A legacy registration has no link to swap.
    auto swap = update_struct_ops(link, obj, "et_cc2");
    ASSERT_FALSE(swap.has_value());
    EXPECT_EQ(swap.error().code(), Errc::invalid_argument);
  }
  EXPECT_FALSE(algorithm_available(algorithm_));
  // A struct_ops map registers once: the kernel refuses a second registration of the same map.
  auto again = attach_struct_ops(obj, "et_cc");
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().sys_errno(), 0) << again.error().to_string();
}

TEST_F(StructOpsTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto obj, load(".struct_ops.link"));
  auto unknown = attach_struct_ops(obj, "no_such_map");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::not_found);
  auto data = attach_struct_ops(obj, ".bss");
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().code(), Errc::invalid_argument);
  EXPECT_NE(data.error().message().find("not struct_ops"), std::string::npos) << data.error().to_string();
  auto short_value = attach_struct_ops(*obj.map("et_cc"), std::vector<std::byte>(3));
  ASSERT_FALSE(short_value.has_value());
  EXPECT_EQ(short_value.error().code(), Errc::invalid_argument);

  auto unloaded = Object::open(dir_.path() / "cc.o");
  ASSERT_OK(unloaded);
  auto early = attach_struct_ops(*unloaded, "et_cc");
  ASSERT_FALSE(early.has_value());
  EXPECT_NE(early.error().message().find("not loaded"), std::string::npos);
}

TEST_F(StructOpsTest, UnknownKernelStructIsExplained) {
  constexpr std::string_view source = R"(
#define SEC(n) __attribute__((section(n), used))
struct et_no_such_ops { int (*run)(void *ctx); char name[16]; };
SEC("struct_ops/et_run") int et_run(unsigned long long *ctx) { return 0; }
SEC(".struct_ops.link") struct et_no_such_ops et_ops = { .run = (void *)et_run, .name = "x" };
char _license[] SEC("license") = "GPL";
)";
  ASSERT_OK_AND_ASSIGN(auto path, test::compile_bpf_c(dir_, "bad", source));
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(path.string()));
  ASSERT_EQ(obj.spec().map("et_ops")->initial_slots.size(), 1U);
  EXPECT_EQ(obj.spec().map("et_ops")->initial_slots[0].second, "et_run");
  auto loaded = obj.load();
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), Errc::not_found);
  EXPECT_NE(loaded.error().message().find("no struct 'et_no_such_ops'"), std::string::npos)
      << loaded.error().to_string();
}

}  // namespace
}  // namespace ebpf
