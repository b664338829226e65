// Module BTF: split BTF on top of vmlinux, as /sys/kernel/btf/<module> provides it. This kernel has no modules
// (CONFIG_MODULES=n), so the test writes a module the way the kernel would — vmlinux's file plus a split blob
// whose types reference vmlinux types — and checks that KernelTypes finds types in it (after vmlinux), that
// CO-RE picks a candidate that exists only in the module, and that every real module BTF present parses.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "ebpf/btf.hpp"
#include "ebpf/btf/core.hpp"
#include "ebpf/btf/modules.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

using namespace ebpf::btf;

void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A fake module "et_mod" whose struct et_module_state { long cookie; int counter; struct list_head link; }
// uses vmlinux's long/int/list_head ids.
struct FakeModuleDir {
  test::TempDir dir{"btf_modules"};
  Btf vmlinux;
  std::uint32_t counter_bits = 64;
  explicit FakeModuleDir(Btf base) : vmlinux(std::move(base)) {
    std::filesystem::copy_file("/sys/kernel/btf/vmlinux", dir.path() / "vmlinux");
    TypeId list_head = vmlinux.find("list_head", Kind::struct_)->id();
    TypeId int_id = vmlinux.find("int", Kind::int_)->id();
    TypeId long_id = vmlinux.find("long int", Kind::int_)->id();
    Builder b(vmlinux);
    b.add_struct("et_module_state", 32,
                 {{"cookie", long_id, 0, 0}, {"counter", int_id, counter_bits, 0}, {"link", list_head, 128, 0}});
    b.add_func("et_module_kfunc", b.add_func_proto(int_id, {{"x", int_id}}), kFuncGlobal);
    write_file(dir.path() / "et_mod", b.finish());
  }
};

TEST(BtfModules, SplitModuleTypesAreFoundAfterVmlinux) {
  auto vmlinux = Btf::load_vmlinux();
  if (!vmlinux) GTEST_SKIP() << "no vmlinux BTF";
  FakeModuleDir fake(*vmlinux);
  ASSERT_OK_AND_ASSIGN(auto kernel, KernelTypes::load(fake.dir.path().string()));
  ASSERT_EQ(kernel.modules().size(), 1u);
  EXPECT_EQ(kernel.modules()[0].name, "et_mod");
  const Btf& mod = kernel.modules()[0].btf;
  EXPECT_EQ(mod.start_id(), vmlinux->type_count());
  ASSERT_NE(mod.base(), nullptr);

  ASSERT_OK_AND_ASSIGN(auto state, kernel.find("et_module_state", Kind::struct_));
  EXPECT_EQ(state.module, "et_mod");
  EXPECT_EQ(state.btf, &mod);
  EXPECT_GE(state.type.id(), vmlinux->type_count());
  ASSERT_EQ(state.type.vlen(), 3u);
  // Member types resolve into the base: link is vmlinux's struct list_head.
  auto link = state.btf->at(state.type.member(2).type);
  EXPECT_EQ(link.name(), "list_head");
  EXPECT_LT(link.id(), vmlinux->type_count());
  ASSERT_OK_AND_ASSIGN(auto size, state.btf->resolve_size(state.type.member(2).type));
  EXPECT_EQ(size, 16u);
  ASSERT_OK_AND_ASSIGN(auto kfunc, kernel.find("et_module_kfunc", Kind::func));
  EXPECT_EQ(kfunc.module, "et_mod");

  ASSERT_OK_AND_ASSIGN(auto task, kernel.find("task_struct", Kind::struct_));
  EXPECT_TRUE(task.module.empty());
  EXPECT_EQ(task.btf, &kernel.vmlinux());

  auto missing = kernel.find("et_nowhere", Kind::struct_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("1 module BTF"), std::string::npos) << missing.error().to_string();
}

TEST(BtfModules, CoreCandidateOnlyInAModule) {
  auto vmlinux = Btf::load_vmlinux();
  if (!vmlinux) GTEST_SKIP() << "no vmlinux BTF";
  FakeModuleDir fake(*vmlinux);
  ASSERT_OK_AND_ASSIGN(auto kernel, KernelTypes::load(fake.dir.path().string()));
  // Local view: struct et_module_state___local { int pad; int counter; }, access "0:1" = counter at byte 4.
  Builder lb;
  TypeId l_int = lb.add_int("int", 4, kIntSigned);
  TypeId l_state = lb.add_struct("et_module_state___local", 8, {{"pad", l_int, 0, 0}, {"counter", l_int, 32, 0}});
  std::uint32_t access = lb.add_string("0:1");
  ASSERT_OK_AND_ASSIGN(auto local, lb.build());
  const CoreRelo relo{0, l_state, access, RelocKind::field_byte_offset};
  const Insn load{0x61, 0, 1, 4, 0};  // r0 = *(u32 *)(r1 + 4)

  std::vector<Insn> insns{load, Insn{0x95, 0, 0, 0, 0}};
  auto order = kernel.search_order();
  ASSERT_EQ(order.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto report, core::relocate(local, std::span(&relo, 1), order, insns));
  ASSERT_EQ(report.applied.size(), 1u) << report.to_string();
  EXPECT_EQ(report.applied[0].result.target_value, fake.counter_bits / 8);
  EXPECT_EQ(insns[0].off, static_cast<std::int16_t>(fake.counter_bits / 8));
  EXPECT_GE(report.applied[0].result.target_type, vmlinux->type_count());  // the module's id

  // vmlinux alone has no such struct: the load is poisoned with the reason.
  std::vector<Insn> plain{load, Insn{0x95, 0, 0, 0, 0}};
  ASSERT_OK_AND_ASSIGN(auto alone, core::relocate(local, std::span(&relo, 1), *vmlinux, plain));
  ASSERT_EQ(alone.poisoned.size(), 1u);
  EXPECT_NE(alone.poisoned[0].result.reason.find("et_module_state"), std::string::npos);
  EXPECT_EQ(plain[0].imm, core::kPoisonHelperId);
}

TEST(BtfModules, EveryRealModuleBtfParses) {
  auto kernel = KernelTypes::load();
  if (!kernel) GTEST_SKIP() << "no kernel BTF: " << kernel.error().to_string();
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator("/sys/kernel/btf"))
    files += e.path().filename() != "vmlinux";
  EXPECT_EQ(kernel->modules().size(), files);  // 0 here: this kernel is built without modules
  for (const auto& m : kernel->modules()) {
    EXPECT_EQ(m.btf.start_id(), kernel->vmlinux().type_count()) << m.name;
    EXPECT_GT(m.btf.type_count(), m.btf.start_id()) << m.name;
  }
}

}  // namespace
}  // namespace ebpf
