// Program::load against the real kernel: program types, the verifier-log policy (rejection, growth,
// truncation), kernel-policy EPERM, pin / open pinned / from_id, info fields, and bad input.
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "ebpf/program.hpp"
#include "support/kernel.hpp"
#include "support/privileges.hpp"

namespace {

using ebpf::Errc;
using ebpf::Insn;
using ebpf::Program;
using ebpf::ProgramLoadOptions;
using ebpf::ProgType;

// Raw encodings (struct bpf_insn), spelled out so this test depends on nothing but the kernel ABI.
Insn raw(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  Insn i;
  i.code = code;
  i.dst = dst;
  i.src = src;
  i.off = off;
  i.imm = imm;
  return i;
}
Insn mov64_imm(std::uint8_t dst, std::int32_t imm) { return raw(0xb7, dst, 0, 0, imm); }  // ALU64|MOV|K
Insn exit_insn() { return raw(0x95, 0, 0, 0, 0); }                                         // JMP|EXIT

std::vector<Insn> return_imm(std::int32_t v) { return {mov64_imm(0, v), exit_insn()}; }

ProgramLoadOptions named(std::string suffix) {
  ProgramLoadOptions o;
  o.name = ebpf::test::unique_name(suffix);
  return o;
}

TEST(ProgramLoad, LoadsSeveralTypesAndInfoMatches) {
  EBPF_REQUIRE_KERNEL();
  const ProgType types[] = {ProgType::socket_filter, ProgType::xdp,          ProgType::sched_cls,
                            ProgType::kprobe,        ProgType::tracepoint,   ProgType::cgroup_skb,
                            ProgType::raw_tracepoint, ProgType::sk_lookup};
  for (auto type : types) {
    SCOPED_TRACE(std::string(ebpf::name(type)));
    auto insns = return_imm(1);
    auto opts = named("t");
    if (type == ProgType::sk_lookup) opts.expected_attach_type = ebpf::AttachType::sk_lookup;
    ASSERT_OK_AND_ASSIGN(auto prog, Program::load(type, insns, opts));
    EXPECT_GT(prog.fd(), 2);
    EXPECT_EQ(prog.type(), type);
    EXPECT_TRUE(prog.verifier_log().empty());  // no log asked for: loaded without one
    ASSERT_OK_AND_ASSIGN(auto info, prog.info());
    EXPECT_EQ(info.type, type);
    EXPECT_EQ(info.name, opts.name);
    EXPECT_GT(info.id, 0u);
    EXPECT_EQ(info.xlated_size, 2 * sizeof(Insn));
    EXPECT_GT(info.jited_size, 0u);
    EXPECT_TRUE(info.gpl_compatible);
    EXPECT_EQ(info.tag_hex().size(), 16u);
    EXPECT_NE(info.tag_hex(), "0000000000000000");
    EXPECT_EQ(info.verified_insns, 2u);
  }
}

TEST(ProgramLoad, XlatedInstructionsReadBack) {
  EBPF_REQUIRE_KERNEL();
  auto insns = return_imm(42);
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, insns, named("x")));
  ASSERT_OK_AND_ASSIGN(auto xlated, prog.xlated_insns());
  ASSERT_EQ(xlated.size(), 2u);
  EXPECT_EQ(xlated[0], insns[0]);
  EXPECT_EQ(xlated[1], insns[1]);
}

TEST(ProgramLoad, NonGplLicenseIsReported) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("l");
  opts.license = "Proprietary";
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::socket_filter, return_imm(0), opts));
  ASSERT_OK_AND_ASSIGN(auto info, prog.info());
  EXPECT_FALSE(info.gpl_compatible);
}

TEST(ProgramLoad, TagIsTheSameForTheSameCode) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto a, Program::load(ProgType::xdp, return_imm(2), named("a")));
  ASSERT_OK_AND_ASSIGN(auto b, Program::load(ProgType::xdp, return_imm(2), named("b")));
  ASSERT_OK_AND_ASSIGN(auto c, Program::load(ProgType::xdp, return_imm(3), named("c")));
  ASSERT_OK_AND_ASSIGN(auto ia, a.info());
  ASSERT_OK_AND_ASSIGN(auto ib, b.info());
  ASSERT_OK_AND_ASSIGN(auto ic, c.info());
  EXPECT_EQ(ia.tag, ib.tag);
  EXPECT_NE(ia.tag, ic.tag);
  EXPECT_NE(ia.id, ib.id);
}

TEST(ProgramLoad, VerifierRejectionCarriesLogAndSummary) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Insn> insns = {exit_insn()};  // r0 never written
  auto opts = named("rej");
  auto r = Program::load(ProgType::xdp, insns, opts);
  ASSERT_FALSE(r);
  const auto& err = r.error();
  EXPECT_EQ(err.code(), Errc::verifier);
  EXPECT_EQ(err.sys_errno(), EACCES);
  EXPECT_EQ(err.operation(), "BPF_PROG_LOAD");
  EXPECT_NE(err.message().find(opts.name), std::string::npos) << err.message();
  EXPECT_NE(err.verifier_log().find("R0 !read_ok"), std::string::npos) << err.verifier_log();
  EXPECT_NE(err.summary().find("R0 !read_ok"), std::string::npos) << err.summary();
  EXPECT_NE(err.to_string().find("R0 !read_ok"), std::string::npos);
  EXPECT_FALSE(err.log_truncated());
}

// A rejected program whose level-1 log is long: many instructions before the failing exit.
std::vector<Insn> long_rejected_program(int n) {
  std::vector<Insn> insns;
  for (int i = 0; i < n; ++i) insns.push_back(mov64_imm(1 + i % 5, i));
  insns.push_back(exit_insn());
  return insns;
}

TEST(ProgramLoad, LogGrowsUntilTheWholeLogFits) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("grow");
  opts.initial_log_size = 128;  // far too small: forces the growth path
  auto r = Program::load(ProgType::xdp, long_rejected_program(200), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::verifier);
  EXPECT_FALSE(r.error().log_truncated());
  auto log = r.error().verifier_log();
  EXPECT_GT(log.size(), 128u);
  EXPECT_NE(log.find("0: (b7) r1 = 0"), std::string::npos) << log.substr(0, 200);  // the head survived
  EXPECT_NE(log.find("R0 !read_ok"), std::string::npos);
}

TEST(ProgramLoad, LogCappedAtMaxIsReportedTruncated) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("trunc");
  opts.initial_log_size = 128;
  opts.max_log_size = 256;
  auto r = Program::load(ProgType::xdp, long_rejected_program(200), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::verifier);
  EXPECT_EQ(r.error().sys_errno(), EACCES);  // the verdict of the log-less attempt, not the log's ENOSPC
  EXPECT_TRUE(r.error().log_truncated());
  EXPECT_LT(r.error().verifier_log().size(), 256u);
  EXPECT_NE(r.error().summary().find("(log truncated)"), std::string::npos);
}

TEST(ProgramLoad, RequestedLogIsKeptOnSuccess) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("stats");
  opts.log_level = ebpf::log_level::stats;
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, return_imm(2), opts));
  EXPECT_NE(prog.verifier_log().find("processed 2 insns"), std::string::npos) << prog.verifier_log();

  opts.log_level = ebpf::log_level::basic | ebpf::log_level::verbose;
  ASSERT_OK_AND_ASSIGN(auto verbose, Program::load(ProgType::xdp, return_imm(2), opts));
  // Level 2 adds per-instruction state ("Live regs before insn"), level 1 alone does not.
  EXPECT_NE(verbose.verifier_log().find("Live regs before insn"), std::string::npos) << verbose.verifier_log();
  EXPECT_NE(verbose.verifier_log().find("R0=2"), std::string::npos) << verbose.verifier_log();
}

TEST(ProgramLoad, RequestedLogTooSmallIsNoSpaceNotVerifier) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("small");
  opts.log_level = ebpf::log_level::basic | ebpf::log_level::verbose;
  opts.initial_log_size = opts.max_log_size = 128;
  auto r = Program::load(ProgType::xdp, long_rejected_program(50), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space);
  EXPECT_TRUE(r.error().log_truncated());
  EXPECT_NE(r.error().message().find("max_log_size"), std::string::npos);
}

TEST(ProgramLoad, UnprivilegedLoadIsReportedAsPolicyNotVerifier) {
  EBPF_REQUIRE_KERNEL();
  int code = ebpf::test::run_without_capabilities([] {
    auto r = Program::load(ProgType::socket_filter, return_imm(0), {});
    if (r) return 11;
    if (r.error().code() != Errc::permission) return 12;
    if (r.error().sys_errno() != EPERM) return 13;
    if (r.error().message().find("kernel policy or missing privileges") == std::string::npos) return 14;
    if (r.error().has_verifier_log() && !r.error().verifier_log().empty()) return 15;
    return 0;
  });
  EXPECT_EQ(code, 0) << "child failed at check " << code;
}

TEST(ProgramLoad, PinOpenPinnedAndFromId) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("pin");
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, return_imm(1), opts));
  std::string path = "/sys/fs/bpf/" + opts.name;
  ASSERT_OK(prog.pin(path));
  struct Unpin {
    std::string path;
    ~Unpin() { (void)Program::unpin(path); }
  } guard{path};

  ASSERT_OK_AND_ASSIGN(auto info, prog.info());
  ASSERT_OK_AND_ASSIGN(auto pinned, Program::open_pinned(path));
  EXPECT_EQ(pinned.type(), ProgType::xdp);
  EXPECT_EQ(pinned.name(), opts.name);
  ASSERT_OK_AND_ASSIGN(auto pinned_info, pinned.info());
  EXPECT_EQ(pinned_info.id, info.id);

  ASSERT_OK_AND_ASSIGN(auto by_id, Program::from_id(info.id));
  EXPECT_EQ(by_id.type(), ProgType::xdp);
  ASSERT_OK_AND_ASSIGN(auto by_id_info, by_id.info());
  EXPECT_EQ(by_id_info.tag, info.tag);

  ASSERT_OK(Program::unpin(path));
  auto gone = Program::open_pinned(path);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Errc::not_found);
  auto again = Program::unpin(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::not_found);
}

TEST(ProgramLoad, PinOutsideBpffsIsExplained) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, return_imm(1), named("nb")));
  auto r = prog.pin("/tmp/" + ebpf::test::unique_name("pin"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::permission);
  EXPECT_NE(r.error().message().find("bpffs"), std::string::npos) << r.error().to_string();
}

TEST(ProgramLoad, BadInputIsRejectedBeforeTheSyscall) {
  EBPF_REQUIRE_KERNEL();
  auto empty = Program::load(ProgType::xdp, {}, {});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Errc::invalid_argument);
  EXPECT_NE(empty.error().message().find("no instructions"), std::string::npos);

  std::vector<Insn> huge(ebpf::kMaxProgramInsns + 1, mov64_imm(0, 0));
  auto big = Program::load(ProgType::xdp, huge, {});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), Errc::invalid_argument);
  EXPECT_NE(big.error().message().find("1000000"), std::string::npos) << big.error().message();

  ProgramLoadOptions bad_name;
  bad_name.name = "has space";
  auto named_badly = Program::load(ProgType::xdp, return_imm(0), bad_name);
  ASSERT_FALSE(named_badly);
  EXPECT_EQ(named_badly.error().code(), Errc::invalid_argument);
  EXPECT_EQ(named_badly.error().sys_errno(), EINVAL);

  ProgramLoadOptions both;
  both.attach_prog_fd = 5;
  both.attach_btf_obj_fd = 6;
  auto exclusive = Program::load(ProgType::tracing, return_imm(0), both);
  ASSERT_FALSE(exclusive);
  EXPECT_NE(exclusive.error().message().find("exclusive"), std::string::npos);
}

TEST(ProgramLoad, UnknownProgramTypeIsInvalidWithEmptyLog) {
  EBPF_REQUIRE_KERNEL();
  auto r = Program::load(static_cast<ProgType>(999), return_imm(0), named("unk"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_NE(r.error().message().find("load attributes"), std::string::npos) << r.error().to_string();
}

TEST(ProgramLoad, ClosedOrEmptyDescriptorsGiveClearErrors) {
  EBPF_REQUIRE_KERNEL();
  Program empty;
  auto run = empty.test_run({});
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code(), Errc::invalid_argument);
  auto info = empty.info();
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), Errc::invalid_argument);

  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, return_imm(1), named("cl")));
  int closed = prog.fd();
  prog = Program();  // closes the descriptor
  auto stale = ebpf::program_info(closed);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), Errc::invalid_argument);
  EXPECT_EQ(stale.error().sys_errno(), EBADFD);  // what bpf(BPF_OBJ_GET_INFO_BY_FD) returns for a closed fd
  EXPECT_NE(stale.error().message().find("not an open descriptor"), std::string::npos);
  EXPECT_EQ(stale.error().operation(), "BPF_OBJ_GET_INFO_BY_FD");

  auto from_empty = Program::from_fd(ebpf::Fd());
  ASSERT_FALSE(from_empty);
  EXPECT_EQ(from_empty.error().code(), Errc::invalid_argument);
}

}  // namespace

namespace {

// Kernel fact: fentry/fexit/LSM loads fail with EPERM and an empty log here (lockdown), even as root.
TEST(ProgramLoad, FentryRefusedByLockdownIsPermissionNotVerifier) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("fe");
  opts.expected_attach_type = ebpf::AttachType::trace_fentry;
  opts.attach_btf_id = 1;  // refused before the target is even looked at
  auto r = Program::load(ProgType::tracing, return_imm(0), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::permission);
  EXPECT_EQ(r.error().sys_errno(), EPERM);
  EXPECT_NE(r.error().message().find("not a verifier rejection"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().message().find(opts.name), std::string::npos);
}

}  // namespace

namespace {

TEST(ProgramLoad, LongNameIsTruncatedForTheKernelOnly) {
  EBPF_REQUIRE_KERNEL();
  auto opts = named("_a_rather_long_program_name");
  ASSERT_GT(opts.name.size(), 15u);
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, return_imm(2), opts));
  EXPECT_EQ(prog.name(), opts.name);
  ASSERT_OK_AND_ASSIGN(auto info, prog.info());
  EXPECT_EQ(info.name, opts.name.substr(0, 15));
}

}  // namespace
