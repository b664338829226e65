// Context offsets proven by the kernel: small programs read context fields through the dsl::ctx constants and
// return them; BPF_PROG_TEST_RUN supplies known contexts (XDP ingress_ifindex, skb len/protocol, raw
// tracepoint arguments) and the return values must equal what was put in.
#include <gtest/gtest.h>

#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ebpf/dsl/context.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

Result<Program> load(ProgType type, Assembler& a) {
  auto code = EBPF_TRY(a.finish());
  ProgramLoadOptions opts;
  opts.name = "dsl_ctx";
  return Program::load(type, code.span(), opts);
}

std::vector<std::uint8_t> udp_frame(std::size_t payload) {
  auto frame = packet::Builder()
                   .ethernet({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
                   .ipv4({10, 0, 0, 1}, {10, 0, 0, 2})
                   .udp(1000, 2000)
                   .payload(std::string(payload, 'x'))
                   .build();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(std::vector<std::uint8_t>{});
}

TEST(DslContext, XdpIngressIfindexFromContext) {
  EBPF_REQUIRE_KERNEL();
  Assembler a;
  a.ldx(W, r0, r1, dsl::ctx::xdp::ingress_ifindex).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(ProgType::xdp, a));
  const unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  std::array<std::uint32_t, 6> md{};  // struct xdp_md
  md[3] = lo;
  auto frame = udp_frame(10);
  const std::span<const std::uint8_t> ctx(reinterpret_cast<const std::uint8_t*>(md.data()), sizeof(md));
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame, .ctx_in = ctx}));
  EXPECT_EQ(out.retval, lo);
}

TEST(DslContext, SkbLenProtocolAndPacketBounds) {
  EBPF_REQUIRE_KERNEL();
  // Three programs, one field each: skb->len, skb->protocol, data_end - data from the prologue.
  for (int which = 0; which < 3; ++which) {
    Assembler a;
    if (which == 0) a.ldx(W, r0, r1, dsl::ctx::sk_buff::len);
    if (which == 1) a.ldx(W, r0, r1, dsl::ctx::sk_buff::protocol);
    if (which == 2) {  // data_end - data through the prologue
      dsl::skb_load_data(a, r1);
      a.mov(r0, r3).sub(r0, r2);
    }
    a.exit();
    ASSERT_OK_AND_ASSIGN(auto prog, load(ProgType::sched_cls, a));
    for (std::size_t payload : {10u, 100u}) {
      auto frame = udp_frame(payload);
      ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.data_in = frame}));
      if (which == 1) {
        EXPECT_EQ(out.retval, 0x0008u);  // htons(ETH_P_IP) as the u32 field holds it
      } else {
        EXPECT_EQ(out.retval, frame.size()) << "field " << which;
      }
    }
  }
}

TEST(DslContext, RawTracepointArguments) {
  EBPF_REQUIRE_KERNEL();
  Assembler a;
  ASSERT_OK(dsl::load_arg(a, r6, r1, 0));
  ASSERT_OK(dsl::load_arg(a, r7, r1, 2));
  a.mul(r7, 1000).add(r6, r7).mov(r0, r6).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(ProgType::raw_tracepoint, a));
  std::array<std::uint64_t, 3> args{7, 9, 42};
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run({.ctx_in = std::span<const std::uint8_t>(
                                                    reinterpret_cast<const std::uint8_t*>(args.data()), sizeof(args))}));
  EXPECT_EQ(out.retval, 42u * 1000 + 7);
}

// Runs in a child with a private mount namespace that mounts tracefs when the machine has not: the format
// file must be there, and nothing outside the test changes. Exit code: 0 ok, 1..4 which check failed.
int check_tracepoint_field_in_child() {
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 1;
  if (access("/sys/kernel/tracing/events", F_OK) != 0 &&
      mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return 2;
  auto pid = dsl::tracepoint_field("sched", "sched_process_exec", "pid");
  if (!pid || pid->size != 4 || pid->offset < 8) return 3;  // an int after the 8-byte common header
  auto missing = dsl::tracepoint_field("sched", "sched_process_exec", "no_such_field");
  if (missing || missing.error().code() != Errc::not_found ||
      missing.error().message().find("no_such_field") == std::string::npos)
    return 4;
  return 0;
}

TEST(DslContext, TracepointFieldFromTracefs) {
  EBPF_REQUIRE_KERNEL();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(check_tracepoint_field_in_child());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1 unshare, 2 mount tracefs, 3 pid field, 4 missing-field error";
}

}  // namespace
