// A loaded program's BTF read back from the kernel (Btf::from_kernel) and a function in it found as an
// attach target (what freplace and fentry-on-BPF need): the FUNC id must be the one in the object's own BTF,
// and programs without BTF or without that function give Errc::not_found naming the problem.
#include "../unit/elf_test_support.hpp"
#include "ebpf/btf/program_target.hpp"
#include "ebpf/object.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kProgram = R"(
__noinline int et_replace_me(int x) { return x + 1; }
SEC("xdp") int entry(struct xdp_md *ctx) { return et_replace_me(1); }
char LICENSE[] SEC("license") = "GPL";
)";

TEST(BtfProgramTarget, FindsAFunctionOfALoadedProgram) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir("prog_target");
  ASSERT_OK_AND_ASSIGN(auto path, test::compile_bpf_c(dir, "target", std::string(test::kBpfPrelude) + kProgram));
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(path.string()));
  ASSERT_OK(obj.load());
  ASSERT_EQ(obj.btf_error(), nullptr);
  const Program* entry = obj.program("entry");
  ASSERT_NE(entry, nullptr);
  ASSERT_OK_AND_ASSIGN(auto info, entry->info());

  ASSERT_OK_AND_ASSIGN(auto target, btf::program_function(entry->fd(), "et_replace_me"));
  ASSERT_OK_AND_ASSIGN(auto local, obj.spec().btf->find("et_replace_me", btf::Kind::func));
  EXPECT_EQ(target.func_id, local.id());
  EXPECT_EQ(target.btf_obj_id, info.btf_id);
  EXPECT_EQ(target.prog_id, info.id);
  // The BTF read back is the one the loader gave the kernel: same FUNC name at that id.
  ASSERT_OK_AND_ASSIGN(auto back, btf::Btf::from_kernel(info.btf_id));
  EXPECT_EQ(back.at(target.func_id).name(), "et_replace_me");
  EXPECT_EQ(back.at(target.func_id).kind(), btf::Kind::func);

  // The spec side of freplace: the target is recorded for the loader.
  auto& spec = *obj.spec().program("entry");
  spec.set_attach_target(entry->fd(), "et_replace_me");
  EXPECT_EQ(spec.attach_prog_fd, entry->fd());
  EXPECT_EQ(spec.attach_to, "et_replace_me");

  auto missing = btf::program_function(entry->fd(), "et_not_there");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("et_not_there"), std::string::npos);
  auto bad_fd = btf::program_function(-1, "x");
  ASSERT_FALSE(bad_fd.ok());
  EXPECT_EQ(bad_fd.error().code(), Errc::invalid_argument);

  // A program loaded without BTF has no functions to attach to.
  const Insn ret2[] = {Insn{0xb7, 0, 0, 0, 2}, Insn{0x95, 0, 0, 0, 0}};  // r0 = 2; exit
  ASSERT_OK_AND_ASSIGN(auto plain, Program::load(ProgType::xdp, ret2));
  auto no_btf = btf::program_function(plain.fd(), "entry");
  ASSERT_FALSE(no_btf.ok());
  EXPECT_EQ(no_btf.error().code(), Errc::not_found);
  EXPECT_NE(no_btf.error().message().find("without BTF"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
