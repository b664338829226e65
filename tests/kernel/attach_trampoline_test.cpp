// fentry / fexit / fmod_ret / LSM / freplace: targets are resolved from kernel BTF (and from a target
// program's own BTF for freplace); this kernel (lockdown under its hypervisor) then refuses every trampoline
// program at load with EPERM and an empty verifier log, which must come back as Errc::permission explaining
// that it was policy, not the verifier.
#include <gtest/gtest.h>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/kprobe.hpp"
#include "ebpf/attach/trampoline.hpp"
#include "ebpf/btf.hpp"
#include "ebpf/object.hpp"
#include "support/clang.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

std::vector<Insn> return_zero() {
  Assembler a;
  a.mov(isa::r0, 0).exit();
  return std::move(a).finish()->insns;
}

void expect_policy_refusal(const Result<Program>& r, std::string_view kind) {
  ASSERT_FALSE(r.has_value()) << kind << " loaded: this kernel was expected to refuse trampolines";
  EXPECT_EQ(r.error().code(), Errc::permission) << r.error().to_string();
  EXPECT_EQ(r.error().sys_errno(), EPERM);
  const auto& m = r.error().message();
  EXPECT_NE(m.find(std::string(kind) + " program"), std::string::npos) << m;
  EXPECT_NE(m.find("not by the verifier"), std::string::npos) << m;
  EXPECT_NE(m.find("lockdown"), std::string::npos) << m;
  EXPECT_NE(m.find(lockdown_explanation()), std::string::npos) << m;
}

TEST(TrampolineTest, TargetsResolveFromKernelBtf) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto vmlinux, btf::Btf::load_vmlinux());
  ASSERT_OK_AND_ASSIGN(auto id, kernel_function_btf_id("bpf_fentry_test1"));
  EXPECT_EQ(vmlinux.at(id).name(), "bpf_fentry_test1");
  EXPECT_EQ(vmlinux.at(id).kind(), btf::Kind::func);
  ASSERT_OK_AND_ASSIGN(auto hook, lsm_hook_btf_id("file_open"));
  EXPECT_EQ(vmlinux.at(hook).name(), "bpf_lsm_file_open");
  auto missing = kernel_function_btf_id("et_no_such_function");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("et_no_such_function"), std::string::npos);
  auto no_hook = lsm_hook_btf_id("et_no_such_hook");
  ASSERT_FALSE(no_hook.has_value());
  EXPECT_NE(no_hook.error().message().find("no LSM hook 'et_no_such_hook'"), std::string::npos);
}

TEST(TrampolineTest, LockdownRefusalIsExplained) {
  EBPF_REQUIRE_KERNEL();
  auto insns = return_zero();
  expect_policy_refusal(load_trampoline_program(TrampolineKind::fentry, "bpf_fentry_test1", insns), "fentry");
  expect_policy_refusal(load_trampoline_program(TrampolineKind::fexit, "bpf_fentry_test1", insns), "fexit");
  expect_policy_refusal(load_trampoline_program(TrampolineKind::fmod_ret, "bpf_modify_return_test", insns),
                        "fmod_ret");
  expect_policy_refusal(load_trampoline_program(TrampolineKind::lsm, "file_open", insns), "lsm");
}

TEST(TrampolineTest, FreplaceResolvesTargetProgramFunction) {
  EBPF_REQUIRE_KERNEL();
  if (test::bpf_clang().empty()) GTEST_SKIP() << "no clang for BPF";
  constexpr std::string_view source = R"(
#define SEC(n) __attribute__((section(n), used))
struct xdp_md { unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
__attribute__((noinline)) int et_verdict(struct xdp_md *ctx) { return 2; }
SEC("xdp") int et_entry(struct xdp_md *ctx) { return et_verdict(ctx); }
char _license[] SEC("license") = "GPL";
)";
  test::TempDir dir("et_freplace");
  ASSERT_OK_AND_ASSIGN(auto path, test::compile_bpf_c(dir, "target", source));
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(path.string()));
  ASSERT_OK(obj.load());
  const Program* target = obj.program("et_entry");
  ASSERT_NE(target, nullptr);
  ASSERT_OK_AND_ASSIGN(auto id, program_function_btf_id(*target, "et_verdict"));
  ASSERT_OK_AND_ASSIGN(auto info, target->info());
  ASSERT_OK_AND_ASSIGN(auto prog_btf, btf::Btf::from_kernel(info.btf_id));
  EXPECT_EQ(prog_btf.at(id).name(), "et_verdict");
  auto missing = program_function_btf_id(*target, "et_nothing");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);

  auto insns = return_zero();
  expect_policy_refusal(load_trampoline_program(TrampolineKind::freplace, "et_verdict", insns, {{}, target}),
                        "freplace");
  auto no_target = load_trampoline_program(TrampolineKind::freplace, "et_verdict", insns);
  ASSERT_FALSE(no_target.has_value());
  EXPECT_EQ(no_target.error().code(), Errc::invalid_argument);
}

TEST(TrampolineTest, BadInput) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto xdp, test::counting_program(ProgType::xdp, 2));
  auto wrong = attach_trampoline(xdp.program);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("not a tracing, LSM or ext program"), std::string::npos);
  auto unloaded = attach_trampoline(Program());
  ASSERT_FALSE(unloaded.has_value());
  EXPECT_EQ(unloaded.error().code(), Errc::invalid_argument);
  auto no_btf = program_function_btf_id(xdp.program, "f");  // loaded from raw instructions: no BTF
  ASSERT_FALSE(no_btf.has_value());
  EXPECT_NE(no_btf.error().message().find("without BTF"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
