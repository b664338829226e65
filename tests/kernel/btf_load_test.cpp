// BPF_BTF_LOAD: built and sanitised blobs are accepted by the running kernel, which hands back the exact
// bytes through BPF_OBJ_GET_INFO_BY_FD; rejected blobs carry the kernel's log.
#include <gtest/gtest.h>

#include <cstring>

#include "ebpf/btf.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;

struct BtfInfo {
  std::uint64_t btf = 0;
  std::uint32_t btf_size = 0;
  std::uint32_t id = 0;
  std::uint64_t name = 0;
  std::uint32_t name_len = 0;
  std::uint32_t kernel_btf = 0;
};

// The blob the kernel holds for `fd`.
std::vector<std::byte> kernel_copy(int fd) {
  BtfInfo info;
  std::uint32_t len = sizeof info;
  if (!ebpf::sys::obj_get_info_by_fd(fd, &info, len).ok()) return {};
  std::vector<std::byte> out(info.btf_size);
  BtfInfo again;
  again.btf = ebpf::sys::ptr(out.data());
  again.btf_size = info.btf_size;
  len = sizeof again;
  if (!ebpf::sys::obj_get_info_by_fd(fd, &again, len).ok()) return {};
  return out;
}

Builder modern() {
  Builder b;
  TypeId i = b.add_int("int", 4, kIntSigned);
  TypeId v = b.add_var("counter", i, kVarGlobal);
  b.add_datasec(".data", 4, {{v, 0, 4}});
  TypeId fn = b.add_func("main", b.add_func_proto(i, {{"x", i}}), kFuncGlobal);
  b.add_float("double", 8);
  b.add_decl_tag("tag", fn, -1);
  b.add_ptr(b.add_type_tag("user", i));
  b.add_enum64("big", 8, {{"HUGE", std::int64_t{1} << 40}});
  return b;
}

TEST(BtfLoad, KernelAcceptsAndReturnsTheBlob) {
  EBPF_REQUIRE_KERNEL();
  auto b = modern();
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  ASSERT_OK_AND_ASSIGN(ebpf::Fd fd, btf.load_into_kernel());
  auto back = kernel_copy(fd.get());
  ASSERT_EQ(back.size(), btf.raw().size());
  EXPECT_EQ(std::memcmp(back.data(), btf.raw().data(), back.size()), 0);
}

TEST(BtfLoad, SanitisedBlobLoadsAndKeepsIds) {
  EBPF_REQUIRE_KERNEL();
  auto b = modern();
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  LoadOptions opts;
  opts.features = KernelFeatures::none();
  ASSERT_OK_AND_ASSIGN(ebpf::Fd fd, btf.load_into_kernel(opts));
  ASSERT_OK_AND_ASSIGN(Btf held, Btf::parse(kernel_copy(fd.get())));
  ASSERT_EQ(held.type_count(), btf.type_count() + 1);
  for (TypeId id = 1; id < held.type_count(); ++id) {
    Kind k = held.at(id).kind();
    EXPECT_TRUE(k == Kind::int_ || k == Kind::ptr || k == Kind::struct_ || k == Kind::union_ || k == Kind::enum_ ||
                k == Kind::typedef_ || k == Kind::const_)
        << "type " << id << " is still " << kind_name(k);
  }
  EXPECT_EQ(held.at(3).name(), "_data");
}

TEST(BtfLoad, ProbeFindsEverythingOnThisKernel) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(KernelFeatures f, probe_kernel_features());
  EXPECT_TRUE(f.func && f.func_global && f.datasec && f.float_ && f.decl_tag && f.type_tag && f.enum64);
}

TEST(BtfLoad, RejectionCarriesTheKernelLog) {
  EBPF_REQUIRE_KERNEL();
  Builder b;
  b.add_ptr(42);  // a reference to a type that does not exist
  auto r = load_raw_into_kernel(b.finish());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sys_errno(), EINVAL);
  EXPECT_TRUE(r.error().has_verifier_log());
  EXPECT_NE(r.error().verifier_log().find("[1] PTR"), std::string::npos) << r.error().verifier_log();
  EXPECT_NE(r.error().verifier_log().find("type_id=42"), std::string::npos) << r.error().verifier_log();
  auto empty = load_raw_into_kernel({});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ebpf::Errc::invalid_argument);
}

}  // namespace
