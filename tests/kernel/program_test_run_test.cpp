// Program::test_run against the real kernel: XDP / SCHED_CLS / SOCKET_FILTER with data and context in and
// out compared byte for byte, live frames, repeat and duration, run statistics, and bad input.
#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ebpf/isa.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::isa;
using ebpf::Errc;
using ebpf::Insn;
using ebpf::Program;
using ebpf::ProgType;
using ebpf::TestRunOptions;
namespace packet = ebpf::packet;

constexpr std::int32_t kXdpAborted = 0, kXdpDrop = 1, kXdpPass = 2, kXdpTx = 3;
constexpr std::int32_t kHelperXdpAdjustHead = 44;

ebpf::ProgramLoadOptions named(std::string suffix) {
  ebpf::ProgramLoadOptions o;
  o.name = ebpf::test::unique_name(suffix);
  return o;
}

std::vector<std::uint8_t> tcp_frame() {
  auto frame = packet::Builder()
                   .ethernet(*packet::parse_mac("02:00:00:00:00:01"), *packet::parse_mac("02:00:00:00:00:02"))
                   .ipv4(*packet::parse_ipv4("10.0.0.1"), *packet::parse_ipv4("10.0.0.2"))
                   .tcp(40000, 80, packet::tcp_flags::syn)
                   .payload("0123456789")
                   .build();
  EXPECT_TRUE(frame);
  return frame ? *frame : std::vector<std::uint8_t>{};
}

// XDP: swap source and destination MAC, return XDP_TX; XDP_DROP when the frame is shorter than 12 bytes.
std::vector<Insn> xdp_swap_macs() {
  return {
      ldx(W, r2, r1, 0),    // r2 = ctx->data
      ldx(W, r3, r1, 4),    // r3 = ctx->data_end
      mov(r4, r2),
      add(r4, 12),
      jgt(r4, r3, 10),      // out of bounds -> drop
      ldx(W, r5, r2, 0),    // dst[0..4)
      ldx(H, r6, r2, 4),    // dst[4..6)
      ldx(W, r7, r2, 6),    // src[0..4)
      ldx(H, r8, r2, 10),   // src[4..6)
      stx(W, r2, 0, r7),
      stx(H, r2, 4, r8),
      stx(W, r2, 6, r5),
      stx(H, r2, 10, r6),
      mov(r0, kXdpTx),
      ebpf::isa::exit(),
      mov(r0, kXdpDrop),
      ebpf::isa::exit(),
  };
}

TEST(ProgramTestRun, XdpSwapsMacsAndKeepsTheRest) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, xdp_swap_macs(), named("swap")));
  auto in = tcp_frame();
  TestRunOptions opts;
  opts.data_in = in;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_EQ(out.retval, static_cast<std::uint32_t>(kXdpTx));
  ASSERT_EQ(out.data_out.size(), in.size());
  ASSERT_OK_AND_ASSIGN(auto p, packet::parse(out.data_out));
  EXPECT_EQ(packet::to_string(p.src_mac), "02:00:00:00:00:02");
  EXPECT_EQ(packet::to_string(p.dst_mac), "02:00:00:00:00:01");
  EXPECT_EQ(p.ipv4_checksum_ok, true);
  EXPECT_EQ(p.l4_checksum_ok, true);
  EXPECT_TRUE(std::equal(in.begin() + 12, in.end(), out.data_out.begin() + 12));

  std::vector<std::uint8_t> runt(8, 0xaa);  // XDP test runs need at least an Ethernet header
  opts.data_in = runt;
  auto short_run = prog.test_run(opts);
  ASSERT_FALSE(short_run);
  EXPECT_EQ(short_run.error().code(), Errc::invalid_argument);
}

// struct xdp_md as user space passes it to BPF_PROG_TEST_RUN.
struct XdpMd {
  std::uint32_t data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
};

TEST(ProgramTestRun, XdpAdjustHeadWithContextInAndOut) {
  EBPF_REQUIRE_KERNEL();
  // bpf_xdp_adjust_head(ctx, 14): strip the Ethernet header, pass.
  std::vector<Insn> insns = {mov(r6, r1), mov(r2, 14), call_helper(kHelperXdpAdjustHead),
                             mov(r0, kXdpPass), ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, insns, named("adj")));
  auto in = tcp_frame();
  XdpMd ctx{0, static_cast<std::uint32_t>(in.size()), 0, 0, 0, 0};
  TestRunOptions opts;
  opts.data_in = in;
  opts.ctx_in = {reinterpret_cast<const std::uint8_t*>(&ctx), sizeof ctx};
  opts.ctx_out_size = TestRunOptions::kAuto;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_EQ(out.retval, static_cast<std::uint32_t>(kXdpPass));
  ASSERT_EQ(out.data_out.size(), in.size() - 14);
  EXPECT_TRUE(std::equal(out.data_out.begin(), out.data_out.end(), in.begin() + 14));
  packet::ParseOptions l3;
  l3.ethernet = false;
  ASSERT_OK_AND_ASSIGN(auto p, packet::parse(out.data_out, l3));
  EXPECT_EQ(p.dst_port, 80);

  ASSERT_EQ(out.ctx_out.size(), sizeof(XdpMd));
  XdpMd back{};
  std::memcpy(&back, out.ctx_out.data(), sizeof back);
  EXPECT_EQ(back.data_end - back.data, in.size() - 14);
}

TEST(ProgramTestRun, SchedClsReadsAndWritesSkbContext) {
  EBPF_REQUIRE_KERNEL();
  // return skb->mark; skb->priority = 7
  std::vector<Insn> insns = {ldx(W, r0, r1, offsetof(__sk_buff, mark)), st(W, r1, offsetof(__sk_buff, priority), 7),
                             ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::sched_cls, insns, named("cls")));
  auto in = tcp_frame();
  __sk_buff skb{};
  skb.mark = 0x1234;
  TestRunOptions opts;
  opts.data_in = in;
  opts.ctx_in = {reinterpret_cast<const std::uint8_t*>(&skb), sizeof skb};
  opts.ctx_out_size = TestRunOptions::kAuto;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_EQ(out.retval, 0x1234u);
  EXPECT_EQ(out.data_out, in);
  ASSERT_EQ(out.ctx_out.size(), sizeof(__sk_buff));
  __sk_buff back{};
  std::memcpy(&back, out.ctx_out.data(), sizeof back);
  EXPECT_EQ(back.priority, 7u);
  EXPECT_EQ(back.mark, 0x1234u);
}

TEST(ProgramTestRun, SocketFilterSeesLengthAfterL2Pull) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Insn> insns = {ldx(W, r0, r1, offsetof(__sk_buff, len)), ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::socket_filter, insns, named("sf")));
  std::vector<std::uint8_t> frame(64, 0);
  frame[12] = 0x08;  // ethertype IPv4
  TestRunOptions opts;
  opts.data_in = frame;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_EQ(out.retval, 50u);  // 64 - 14 bytes of Ethernet header
  auto in = tcp_frame();
  opts.data_in = in;
  ASSERT_OK_AND_ASSIGN(auto out2, prog.test_run(opts));
  EXPECT_EQ(out2.retval, in.size() - 14);
}

TEST(ProgramTestRun, XdpLiveFramesFlagIsAccepted) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Insn> drop = {mov(r0, kXdpDrop), ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, drop, named("live")));
  ASSERT_OK_AND_ASSIGN(auto stats, ebpf::enable_run_stats());
  ASSERT_OK_AND_ASSIGN(auto before, prog.info());
  auto in = tcp_frame();
  TestRunOptions opts;
  opts.data_in = in;
  opts.flags = ebpf::test_run_flags::xdp_live_frames;
  opts.repeat = 100;
  opts.batch_size = 16;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_TRUE(out.data_out.empty());  // live frames produce no data_out
  ASSERT_OK_AND_ASSIGN(auto after, prog.info());
  EXPECT_GE(after.run_count - before.run_count, 100u);
}

TEST(ProgramTestRun, RepeatReportsDurationAndRunStatistics) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Insn> pass = {mov(r0, kXdpPass), ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, pass, named("rep")));
  auto in = tcp_frame();
  TestRunOptions opts;
  opts.data_in = in;
  {
    ASSERT_OK_AND_ASSIGN(auto before, prog.info());
    ASSERT_OK(prog.test_run(opts));
    ASSERT_OK_AND_ASSIGN(auto after, prog.info());
    EXPECT_EQ(after.run_count, before.run_count);  // stats off: nothing counted
  }
  ASSERT_OK_AND_ASSIGN(auto stats, ebpf::enable_run_stats());
  ASSERT_OK_AND_ASSIGN(auto before, prog.info());
  opts.repeat = 10000;
  ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
  EXPECT_EQ(out.retval, static_cast<std::uint32_t>(kXdpPass));
  EXPECT_GT(out.duration.count(), 0);
  EXPECT_LT(out.duration.count(), 100'000);  // the kernel reports the per-run average
  ASSERT_OK_AND_ASSIGN(auto after, prog.info());
  EXPECT_EQ(after.run_count - before.run_count, 10000u);
  EXPECT_GT(after.run_time_ns, before.run_time_ns);
}

TEST(ProgramTestRun, RawTracepointRunsOnTheRequestedCpuWithArgs) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::int32_t kGetSmpProcessorId = 8;
  // return ctx->args[0] * 10 + smp_processor_id()
  std::vector<Insn> insns = {ldx(DW, r6, r1, 0), mul(r6, 10), call_helper(kGetSmpProcessorId), add(r0, r6),
                             ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::raw_tracepoint, insns, named("rtp")));
  const std::uint64_t args[1] = {4};
  TestRunOptions opts;
  opts.ctx_in = {reinterpret_cast<const std::uint8_t*>(args), sizeof args};
  opts.flags = ebpf::test_run_flags::run_on_cpu;
  for (std::uint32_t cpu : {0u, 1u}) {
    opts.cpu = cpu;
    ASSERT_OK_AND_ASSIGN(auto out, prog.test_run(opts));
    EXPECT_EQ(out.retval, 40 + cpu);
    EXPECT_TRUE(out.data_out.empty());
  }
  opts.cpu = 4096;  // no such CPU
  auto r = prog.test_run(opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), ENXIO);
}

TEST(ProgramTestRun, RunOnCpuIsRejectedForXdpWithClearError) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Insn> pass = {mov(r0, kXdpPass), ebpf::isa::exit()};
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, pass, named("cpu")));
  auto in = tcp_frame();
  TestRunOptions opts;
  opts.data_in = in;
  opts.cpu = 1;  // without the flag: caught before the syscall
  auto r = prog.test_run(opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("run_on_cpu"), std::string::npos);
}

TEST(ProgramTestRun, SmallOutputBufferIsNoSpace) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, xdp_swap_macs(), named("nospc")));
  auto in = tcp_frame();
  TestRunOptions opts;
  opts.data_in = in;
  opts.data_out_size = 10;
  auto r = prog.test_run(opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space);
  EXPECT_EQ(r.error().sys_errno(), ENOSPC);
  EXPECT_NE(r.error().message().find("needs " + std::to_string(in.size()) + " bytes"), std::string::npos)
      << r.error().message();
}

TEST(ProgramTestRun, WrongContextSizeIsInvalid) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, xdp_swap_macs(), named("ctx")));
  auto in = tcp_frame();
  XdpMd ctx{0, static_cast<std::uint32_t>(in.size()), 0, 0, 0, 7};  // egress_ifindex must be 0 on input
  TestRunOptions opts;
  opts.data_in = in;
  opts.ctx_in = {reinterpret_cast<const std::uint8_t*>(&ctx), sizeof ctx};
  auto r = prog.test_run(opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_NE(r.error().message().find(prog.name()), std::string::npos);

  std::vector<std::uint8_t> long_ctx(64, 0);  // larger than struct xdp_md with a non-zero tail
  long_ctx[40] = 1;
  opts.ctx_in = long_ctx;
  auto r3 = prog.test_run(opts);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r3.error().sys_errno(), E2BIG);
  EXPECT_NE(r3.error().message().find("not zero"), std::string::npos) << r3.error().message();

  std::vector<std::uint8_t> empty;
  opts.ctx_in = {};
  opts.data_in = empty;  // XDP needs at least an Ethernet header
  auto r2 = prog.test_run(opts);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), Errc::invalid_argument);
}

}  // namespace
