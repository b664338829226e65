// cgroup socket hooks with real events, each from a child process inside a cgroup the test creates (the test
// process never joins it): sock_create counts socket() calls and refuses UDP ones, sock_release counts
// closes, sock_ops counts the established callbacks of real loopback TCP connections, setsockopt rejects or
// rewrites SO_PRIORITY and getsockopt rewrites what it returns, getsockname/getpeername rewrite the address
// the caller sees, bind refuses a port, connect/sendmsg redirect real UDP datagrams to the child's receiver
// and recvmsg rewrites the source it reports (v4 and v6), post_bind refuses a bound address (v4 and v6).
// Every check compares what the child observed with what the program did, and that the same calls outside
// the cgroup are untouched.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/cgroup.hpp"
#include "ebpf/dsl/context.hpp"
#include "ebpf/link.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/cgroup.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

using namespace isa;
namespace ctx = dsl::ctx;

// Loads `a` as `type` for `attach`, with a counter map the program got as `map` beforehand.
Result<test::CountingProgram> load(Fd map, Assembler& a, ProgType type, AttachType attach, const char* name) {
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = name;
  options.expected_attach_type = attach;
  auto program = EBPF_TRY(Program::load(type, code.span(), options));
  return test::CountingProgram{std::move(map), std::move(program)};
}

// slot[i] += 1 of the counter value (r1, r2 clobbered).
void count_slot(Assembler& a, const Fd& map, std::uint32_t i) {
  a.ld_map_value(r1, map.get(), 8 * i).mov(r2, 1).atomic_add(DW, r1, 0, r2);
}

// errno of socket(AF_INET, type), 0 when it worked (the socket is closed again).
int socket_errno(int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

// One loopback TCP connection: listen on 127.0.0.1:<ephemeral>, connect, accept, close all. "ok" or what failed.
std::string tcp_connection() {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::string result = "ok";
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 4) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    result = "listen errno " + std::to_string(errno);
  int client = -1, server = -1;
  if (result == "ok") {
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client < 0 || ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      result = "connect errno " + std::to_string(errno);
    else if ((server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) < 0)
      result = "accept errno " + std::to_string(errno);
  }
  for (int fd : {server, client, listener})
    if (fd >= 0) ::close(fd);
  return result;
}

class CgroupSockTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto cg = test::make_cgroup(test::kCgroupRoot, "sk");
    ASSERT_OK(cg);
    cgroup_ = std::move(*cg);
  }
  Result<std::string> in_cgroup(const std::function<std::string()>& body) { return test::run_in_cgroup(*cgroup_, body); }
  std::unique_ptr<test::TestCgroup> cgroup_;
};

TEST_F(CgroupSockTest, SockCreateCountsAndRefusesUdp) {
  ASSERT_OK_AND_ASSIGN(auto map, test::counter_map(1));
  Assembler a;
  a.mov(r6, r1);
  count_slot(a, map, 0);
  a.ldx(W, r2, r6, ctx::sock::type).mov(r0, dsl::cgroup_verdict::allow);
  a.jne(r2, SOCK_DGRAM, "out").mov(r0, dsl::cgroup_verdict::deny).label("out").exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(std::move(map), a, ProgType::cgroup_sock, AttachType::cgroup_inet_sock_create,
                                       "et_sock_create"));
  ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), AttachType::cgroup_inet_sock_create));
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup([] {
    return std::to_string(socket_errno(SOCK_STREAM)) + " " + std::to_string(socket_errno(SOCK_DGRAM)) + " " +
           std::to_string(socket_errno(SOCK_STREAM));
  }));
  EXPECT_EQ(seen, "0 " + std::to_string(EPERM) + " 0");
  EXPECT_EQ(prog.count(), 3U);
  EXPECT_EQ(socket_errno(SOCK_DGRAM), 0);  // outside the cgroup: neither refused nor seen
  EXPECT_EQ(prog.count(), 3U);
  ASSERT_OK(link.detach());
  ASSERT_OK_AND_ASSIGN(auto after, in_cgroup([] { return std::to_string(socket_errno(SOCK_DGRAM)); }));
  EXPECT_EQ(after, "0");
  EXPECT_EQ(prog.count(), 3U);
}

TEST_F(CgroupSockTest, SockReleaseCountsCloses) {
  ProgramLoadOptions options;
  options.name = "et_sock_release";
  options.expected_attach_type = AttachType::cgroup_inet_sock_release;
  ASSERT_OK_AND_ASSIGN(auto prog, test::counting_program(ProgType::cgroup_sock, 1, options));
  ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), AttachType::cgroup_inet_sock_release));
  // The child reads the counter itself (it inherits the map fd): nothing while its sockets are open, one per
  // socket once they are closed.
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup([&] {
    int fds[4];
    for (int& fd : fds) fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::string out = std::to_string(prog.count());
    for (int fd : fds) ::close(fd);
    return out + " " + std::to_string(prog.count());
  }));
  EXPECT_EQ(seen, "0 4");
  EXPECT_EQ(prog.count(), 4U);
}

TEST_F(CgroupSockTest, SockOpsSeesEstablishedConnections) {
  // slot 1: active (connect) established, slot 2: passive (accept) established, slot 0: every callback.
  ASSERT_OK_AND_ASSIGN(auto map, test::counter_map(3));
  Assembler a;
  a.mov(r6, r1);
  count_slot(a, map, 0);
  a.ldx(W, r7, r6, ctx::sock_ops::op);
  a.jne(r7, BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, "not_active");
  count_slot(a, map, 1);
  a.label("not_active").jne(r7, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB, "out");
  count_slot(a, map, 2);
  a.label("out").mov(r0, 1).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(std::move(map), a, ProgType::sock_ops, AttachType::cgroup_sock_ops, "et_sock_ops"));
  ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), AttachType::cgroup_sock_ops));
  constexpr int kConnections = 3;
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup([] {
    std::string out;
    for (int i = 0; i < kConnections; ++i) out += tcp_connection() + " ";
    return out;
  }));
  EXPECT_EQ(seen, "ok ok ok ");
  EXPECT_EQ(prog.slot(1), static_cast<std::uint64_t>(kConnections));
  EXPECT_EQ(prog.slot(2), static_cast<std::uint64_t>(kConnections));
  EXPECT_GE(prog.count(), 2U * kConnections);
  auto total = prog.count();
  EXPECT_EQ(tcp_connection(), "ok");  // outside the cgroup: not seen
  EXPECT_EQ(prog.count(), total);
}

// SOL_SOCKET/SO_PRIORITY through the sockopt hooks: setsockopt of kRejected fails with EPERM, kAsked is
// stored as kRewritten; getsockopt reports kReported whatever is stored.
constexpr std::int32_t kRejected = 6, kAsked = 3, kRewritten = 5, kReported = 77;

// Jumps to `pass` unless the call is SOL_SOCKET/SO_PRIORITY with 4 bytes of optval; leaves optval in r2.
void match_priority(Assembler& a, Assembler::Label pass) {
  a.ldx(W, r2, r6, ctx::sockopt::level).jne(r2, SOL_SOCKET, pass);
  a.ldx(W, r2, r6, ctx::sockopt::optname).jne(r2, SO_PRIORITY, pass);
  a.ldx(DW, r2, r6, ctx::sockopt::optval).ldx(DW, r3, r6, ctx::sockopt::optval_end);
  a.mov(r4, r2).add(r4, 4).jgt(r4, r3, pass);
}

std::string priority_calls() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket errno " + std::to_string(errno);
  auto set = [&](int v) { return ::setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, sizeof v) == 0 ? 0 : errno; };
  int rejected = set(kRejected);
  int asked = set(kAsked);
  int value = -1;
  socklen_t len = sizeof value;
  int got = ::getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &value, &len) == 0 ? 0 : errno;
  ::close(fd);
  return std::to_string(rejected) + " " + std::to_string(asked) + " " + std::to_string(got) + " " +
         std::to_string(value);
}

TEST_F(CgroupSockTest, SockoptRejectsAndRewrites) {
  ASSERT_OK_AND_ASSIGN(auto set_map, test::counter_map(1));
  Assembler s;
  s.mov(r6, r1);
  count_slot(s, set_map, 0);
  match_priority(s, "pass");
  s.ldx(W, r4, r2, 0).mov(r0, dsl::cgroup_verdict::deny).jeq(r4, kRejected, "out");
  s.jne(r4, kAsked, "pass").st(W, r2, 0, kRewritten);
  s.label("pass").mov(r0, dsl::cgroup_verdict::allow).label("out").exit();
  ASSERT_OK_AND_ASSIGN(auto setter, load(std::move(set_map), s, ProgType::cgroup_sockopt,
                                         AttachType::cgroup_setsockopt, "et_setsockopt"));

  ASSERT_OK_AND_ASSIGN(auto get_map, test::counter_map(1));
  Assembler g;
  g.mov(r6, r1);
  count_slot(g, get_map, 0);
  match_priority(g, "pass");
  g.st(W, r2, 0, kReported).st(W, r6, ctx::sockopt::retval, 0);  // retval 0: the call succeeds
  g.label("pass").mov(r0, 1).exit();
  ASSERT_OK_AND_ASSIGN(auto getter, load(std::move(get_map), g, ProgType::cgroup_sockopt,
                                         AttachType::cgroup_getsockopt, "et_getsockopt"));

  ASSERT_OK_AND_ASSIGN(auto set_link, attach_cgroup(setter.program, cgroup_->fd.get(), AttachType::cgroup_setsockopt));
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup(priority_calls));
  EXPECT_EQ(seen, std::to_string(EPERM) + " 0 0 " + std::to_string(kRewritten));  // stored value rewritten
  EXPECT_EQ(setter.count(), 2U);

  ASSERT_OK_AND_ASSIGN(auto get_link, attach_cgroup(getter.program, cgroup_->fd.get(), AttachType::cgroup_getsockopt));
  ASSERT_OK_AND_ASSIGN(seen, in_cgroup(priority_calls));
  EXPECT_EQ(seen, std::to_string(EPERM) + " 0 0 " + std::to_string(kReported));
  EXPECT_EQ(getter.count(), 1U);
  EXPECT_EQ(setter.count(), 4U);

  EXPECT_EQ(priority_calls(), "0 0 0 " + std::to_string(kAsked));  // outside: the kernel's own behaviour
  EXPECT_EQ(setter.count(), 4U);
  EXPECT_EQ(getter.count(), 1U);
}

// post_bind runs after the address is chosen and can still refuse it: binding 127.0.0.2 (v4) or ::1 (v6) is
// refused, binding 127.0.0.1 / :: is allowed; both binds are seen.
std::string bind_errnos(int family) {
  std::string out;
  for (bool refused : {true, false}) {
    sockaddr_storage ss{};
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&ss);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(refused ? 0x7f000002 : INADDR_LOOPBACK);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = refused ? in6addr_loopback : in6addr_any;
    }
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    out += std::to_string(rc == 0 ? 0 : errno) + " ";
    ::close(fd);
  }
  return out;
}

TEST_F(CgroupSockTest, PostBindRefusesAnAddress) {
  for (auto [family, attach] : {std::pair{AF_INET, AttachType::cgroup_inet4_post_bind},
                                std::pair{AF_INET6, AttachType::cgroup_inet6_post_bind}}) {
    ASSERT_OK_AND_ASSIGN(auto map, test::counter_map(1));
    Assembler a;
    a.mov(r6, r1);
    count_slot(a, map, 0);
    if (family == AF_INET)
      a.ldx(W, r2, r6, ctx::sock::src_ip4).mov(r0, dsl::cgroup_verdict::deny).jeq(r2, static_cast<std::int32_t>(htonl(0x7f000002)), "out");
    else  // ::1: the last word is 1, the others 0
      a.ldx(W, r2, r6, ctx::sock::src_ip6 + 12).mov(r0, dsl::cgroup_verdict::deny).jeq(r2, static_cast<std::int32_t>(htonl(1)), "out");
    a.mov(r0, dsl::cgroup_verdict::allow).label("out").exit();
    ASSERT_OK_AND_ASSIGN(auto prog, load(std::move(map), a, ProgType::cgroup_sock, attach, "et_post_bind"));
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), attach));
    ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup([family] { return bind_errnos(family); }));
    EXPECT_EQ(seen, std::to_string(EPERM) + " 0 ") << family;
    EXPECT_EQ(prog.count(), 2U);
  }
}

// getsockname / getpeername rewrites: the caller sees kFakeIp:kFakePort instead of the real address.
constexpr std::uint32_t kFakeIp = 0x0a010203;  // 10.1.2.3
constexpr std::uint16_t kFakePort = 4242;

std::string sock_names() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket errno " + std::to_string(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(9);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) out = "connect errno " + std::to_string(errno);
  for (auto fn : {&::getsockname, &::getpeername}) {
    sockaddr_in got{};
    socklen_t len = sizeof got;
    if (fn(fd, reinterpret_cast<sockaddr*>(&got), &len) != 0) {
      out += "errno " + std::to_string(errno) + " ";
      continue;
    }
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &got.sin_addr, ip, sizeof ip);
    out += std::string(ip) + ":" + std::to_string(ntohs(got.sin_port)) + " ";
  }
  ::close(fd);
  return out;
}

TEST_F(CgroupSockTest, GetsocknameAndGetpeernameRewrites) {
  std::vector<test::CountingProgram> progs;
  std::vector<Link> links;
  for (auto attach : {AttachType::cgroup_inet4_getsockname, AttachType::cgroup_inet4_getpeername}) {
    ASSERT_OK_AND_ASSIGN(auto map, test::counter_map(1));
    Assembler a;
    a.mov(r6, r1);
    count_slot(a, map, 0);
    a.mov(r2, static_cast<std::int32_t>(htonl(kFakeIp))).stx(W, r6, ctx::sock_addr::user_ip4, r2);
    a.mov(r2, htons(kFakePort)).stx(W, r6, ctx::sock_addr::user_port, r2);
    a.mov(r0, 1).exit();
    ASSERT_OK_AND_ASSIGN(auto prog, load(std::move(map), a, ProgType::cgroup_sock_addr, attach, "et_sockname"));
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), attach));
    progs.push_back(std::move(prog));
    links.push_back(std::move(link));
  }
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup(sock_names));
  EXPECT_EQ(seen, "10.1.2.3:4242 10.1.2.3:4242 ");
  EXPECT_EQ(progs[0].count(), 1U);
  EXPECT_EQ(progs[1].count(), 1U);
  auto outside = sock_names();
  EXPECT_TRUE(outside.starts_with("127.0.0.1:")) << outside;
  EXPECT_TRUE(outside.ends_with(" 127.0.0.1:9 ")) << outside;
  EXPECT_EQ(progs[0].count(), 1U);
}

// bind / connect / sendmsg / recvmsg with real UDP traffic on loopback (127.0.0.1 or ::1). The child binds a
// receiver on an ephemeral port P and writes P into a map; connect() and sendto() aimed at kDeadPort are
// redirected to P, recvfrom() reports the fake address (10.1.2.3 / fd00::1203) and kFakePort as the source,
// and bind() to kDeniedPort is refused.
constexpr std::uint16_t kDeadPort = 9, kDeniedPort = 1;
const std::uint32_t kFakeIp6[4] = {htonl(0xfd000000), 0, 0, htonl(0x1203)};  // fd00::1203

// Loopback of `family` with `port` (host order).
sockaddr_storage loopback(int family, std::uint16_t port) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    in6->sin6_port = htons(port);
  }
  return ss;
}
socklen_t size_of(int family) { return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }
std::uint16_t port_of(const sockaddr_storage& ss) {  // network order
  return ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(ss).sin_port
                                 : reinterpret_cast<const sockaddr_in6&>(ss).sin6_port;
}
std::string text_of(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  const void* addr = ss.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(ss).sin_addr)
                                             : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
  ::inet_ntop(ss.ss_family, addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(port_of(ss)));
}

std::string redirected_traffic(Map& ports, int family) {
  const auto len = size_of(family);
  int rx = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto addr = loopback(family, 0);
  socklen_t got = sizeof addr;
  if (rx < 0 || ::bind(rx, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(rx, reinterpret_cast<sockaddr*>(&addr), &got) != 0)
    return "receiver errno " + std::to_string(errno);
  timeval timeout{2, 0};  // bounded: a lost datagram fails the test instead of hanging it
  ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::uint32_t key = 0;
  std::uint64_t port = port_of(addr);  // network order, as user_port holds it
  if (!ports.update(as_bytes_of(key), as_bytes_of(port))) return "map update failed";

  std::string out;
  int denied = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto target = loopback(family, kDeniedPort);
  out += "bind=" + std::to_string(::bind(denied, reinterpret_cast<sockaddr*>(&target), len) == 0 ? 0 : errno);
  ::close(denied);

  target = loopback(family, kDeadPort);
  int connected = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (::connect(connected, reinterpret_cast<sockaddr*>(&target), len) != 0 || ::send(connected, "c", 1, 0) != 1)
    out += " connect errno " + std::to_string(errno);
  int unconnected = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (::sendto(unconnected, "s", 1, 0, reinterpret_cast<sockaddr*>(&target), len) != 1)
    out += " sendto errno " + std::to_string(errno);
  for (int i = 0; i < 2; ++i) {
    char payload = 0;
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    if (::recvfrom(rx, &payload, 1, 0, reinterpret_cast<sockaddr*>(&from), &from_len) != 1)
      out += " recv errno " + std::to_string(errno);
    else
      out += std::string(" ") + payload + "@" + text_of(from);
  }
  for (int fd : {connected, unconnected, rx}) ::close(fd);
  return out;
}

struct SockAddrHooks {
  int family;
  AttachType bind, connect, sendmsg, recvmsg;
  const char* fake_source;
};

class SockAddrTest : public CgroupSockTest, public ::testing::WithParamInterface<SockAddrHooks> {};

TEST_P(SockAddrTest, HooksRedirectRealTraffic) {
  const auto& hooks = GetParam();
  MapSpec port_spec{.type = MapType::array, .name = "et_ports", .key_size = 4, .value_size = 8, .max_entries = 1};
  ASSERT_OK_AND_ASSIGN(auto ports, Map::create(port_spec));
  std::vector<test::CountingProgram> progs;
  std::vector<Link> links;
  for (auto attach : {hooks.bind, hooks.connect, hooks.sendmsg, hooks.recvmsg}) {
    ASSERT_OK_AND_ASSIGN(auto map, test::counter_map(1));
    Assembler a;
    a.mov(r6, r1);
    count_slot(a, map, 0);
    a.ldx(W, r7, r6, ctx::sock_addr::user_port);
    if (attach == hooks.bind) {
      a.mov(r0, dsl::cgroup_verdict::deny).jeq(r7, htons(kDeniedPort), "out");
    } else if (attach == hooks.recvmsg) {
      if (hooks.family == AF_INET) {
        a.mov(r2, static_cast<std::int32_t>(htonl(kFakeIp))).stx(W, r6, ctx::sock_addr::user_ip4, r2);
      } else {
        for (int i = 0; i < 4; ++i)
          a.mov(r2, static_cast<std::int32_t>(kFakeIp6[i])).stx(W, r6, static_cast<std::int16_t>(ctx::sock_addr::user_ip6 + 4 * i), r2);
      }
      a.mov(r2, htons(kFakePort)).stx(W, r6, ctx::sock_addr::user_port, r2);
    } else {  // connect, sendmsg: kDeadPort -> the receiver's port from the map
      a.jne(r7, htons(kDeadPort), "allow");
      a.ld_map_value(r1, ports.fd(), 0).ldx(W, r2, r1, 0).stx(W, r6, ctx::sock_addr::user_port, r2);
    }
    a.label("allow").mov(r0, dsl::cgroup_verdict::allow).label("out").exit();
    ASSERT_OK_AND_ASSIGN(auto prog, load(std::move(map), a, ProgType::cgroup_sock_addr, attach, "et_sock_addr"));
    ASSERT_OK_AND_ASSIGN(auto link, attach_cgroup(prog.program, cgroup_->fd.get(), attach));
    progs.push_back(std::move(prog));
    links.push_back(std::move(link));
  }
  ASSERT_OK_AND_ASSIGN(auto seen, in_cgroup([&] { return redirected_traffic(ports, hooks.family); }));
  const std::string source = std::string(hooks.fake_source) + ":" + std::to_string(kFakePort);
  EXPECT_EQ(seen, "bind=" + std::to_string(EPERM) + " c@" + source + " s@" + source);
  EXPECT_EQ(progs[0].count(), 2U);  // the receiver's bind and the refused one
  EXPECT_EQ(progs[1].count(), 1U);  // connect
  EXPECT_EQ(progs[2].count(), 1U);  // sendto with an address (send() on the connected socket has none)
  EXPECT_EQ(progs[3].count(), 2U);  // both recvfrom calls
  // Outside the cgroup the same bind is neither seen nor refused.
  int fd = ::socket(hooks.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int one = 1;  // parallel runs of this test bind the same port
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto denied = loopback(hooks.family, kDeniedPort);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&denied), size_of(hooks.family)), 0) << errno;
  ::close(fd);
  EXPECT_EQ(progs[0].count(), 2U);
}

INSTANTIATE_TEST_SUITE_P(
    Families, SockAddrTest,
    ::testing::Values(SockAddrHooks{AF_INET, AttachType::cgroup_inet4_bind, AttachType::cgroup_inet4_connect,
                                    AttachType::cgroup_udp4_sendmsg, AttachType::cgroup_udp4_recvmsg, "10.1.2.3"},
                      SockAddrHooks{AF_INET6, AttachType::cgroup_inet6_bind, AttachType::cgroup_inet6_connect,
                                    AttachType::cgroup_udp6_sendmsg, AttachType::cgroup_udp6_recvmsg, "fd00::1203"}),
    [](const auto& info) { return info.param.family == AF_INET ? std::string("v4") : std::string("v6"); });

}  // namespace
}  // namespace ebpf
