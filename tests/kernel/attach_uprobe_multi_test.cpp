// uprobe_multi and .dynsym / versioned symbols: the test builds a stripped shared library with gcc (symbols
// only in .dynsym, one function in two versions), dlopen()s it, attaches one program to several functions
// with per-function cookies and counts the calls per cookie.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/uprobe.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "support/clang.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kLibrarySource = R"(
int et_add(int x) { __asm__ volatile("" ::: "memory"); return x + 1; }
int et_mul(int x) { __asm__ volatile("" ::: "memory"); return x * 2; }
int et_sub(int x) { __asm__ volatile("" ::: "memory"); return x - 1; }
__attribute__((symver("et_ver@VER_1"))) int et_ver_old(int x) { __asm__ volatile("" ::: "memory"); return x; }
__attribute__((symver("et_ver@@VER_2"))) int et_ver_new(int x) { __asm__ volatile("" ::: "memory"); return x + 100; }
)";
constexpr const char* kVersionScript = "VER_1 { global: et_add; et_mul; et_sub; et_ver; local: *; };\n"
                                       "VER_2 { global: et_ver; } VER_1;\n";

using Fn = int (*)(int);

// The library built, stripped and loaded into this process.
struct TargetLibrary {
  test::TempDir dir{"et_uprobe_multi"};
  std::string path;
  void* handle = nullptr;
  ~TargetLibrary() {
    if (handle != nullptr) ::dlclose(handle);
  }
  Fn fn(const char* name, const char* version = nullptr) const {
    return reinterpret_cast<Fn>(version ? ::dlvsym(handle, name, version) : ::dlsym(handle, name));
  }
};

Result<std::unique_ptr<TargetLibrary>> build_library() {
  auto lib = std::make_unique<TargetLibrary>();
  auto dir = lib->dir.path().string();
  std::ofstream(dir + "/lib.c") << kLibrarySource;
  std::ofstream(dir + "/lib.map") << kVersionScript;
  lib->path = dir + "/libet.so";
  std::string cmd = "gcc -shared -fPIC -O1 -s -Wl,--version-script=" + dir + "/lib.map -o " + lib->path + " " + dir +
                    "/lib.c > " + dir + "/gcc.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return Error(Errc::io, "gcc", "cannot build the target library: " + cmd);
  lib->handle = ::dlopen(lib->path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib->handle == nullptr) return Error(Errc::io, "dlopen", ::dlerror());
  return lib;
}

// KPROBE program counting calls in slot bpf_get_attach_cookie() (0..3) of a 4-slot counter.
Result<test::CountingProgram> per_cookie_counter(bool multi) {
  using namespace isa;
  auto map = EBPF_TRY(test::counter_map(4));
  Assembler a;
  a.call("get_attach_cookie")
      .jgt(r0, 3, "out")
      .lsh(r0, 3)
      .ld_map_value(r7, map.get(), 0)
      .add(r7, r0)
      .mov(r4, 1)
      .atomic_add(DW, r7, 0, r4)
      .label("out")
      .mov(r0, 0)
      .exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_umulti";
  if (multi) options.expected_attach_type = AttachType::trace_uprobe_multi;
  auto program = EBPF_TRY(Program::load(ProgType::kprobe, code.span(), options));
  return test::CountingProgram{std::move(map), std::move(program)};
}

void call_n(Fn f, int n) {
  for (int i = 0; i < n; ++i) (void)f(i);
}

class UprobeMultiTest : public ::testing::Test {
 public:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto lib = build_library();
    ASSERT_OK(lib);
    lib_ = std::move(*lib);
  }
  std::unique_ptr<TargetLibrary> lib_;
};

TEST_F(UprobeMultiTest, StrippedLibraryResolvesThroughDynsym) {
  ASSERT_OK_AND_ASSIGN(auto file, elf::File::open(lib_->path));
  EXPECT_TRUE(file.symbols().empty());  // stripped: no .symtab, only .dynsym
  ASSERT_OK_AND_ASSIGN(auto add, uprobe_offset(lib_->path, "et_add"));
  ASSERT_OK_AND_ASSIGN(auto mul, uprobe_offset(lib_->path, "et_mul"));
  EXPECT_NE(add, mul);
  ASSERT_OK_AND_ASSIGN(auto old_ver, uprobe_offset(lib_->path, "et_ver@VER_1"));
  ASSERT_OK_AND_ASSIGN(auto new_ver, uprobe_offset(lib_->path, "et_ver@@VER_2"));
  ASSERT_OK_AND_ASSIGN(auto plain, uprobe_offset(lib_->path, "et_ver"));
  EXPECT_NE(old_ver, new_ver);
  EXPECT_EQ(plain, new_ver);  // a plain name is the default version
  auto not_default = uprobe_offset(lib_->path, "et_ver@@VER_1");
  ASSERT_FALSE(not_default);
  EXPECT_EQ(not_default.error().code(), Errc::not_found);
  EXPECT_NE(not_default.error().message().find(".dynsym"), std::string::npos);
}

TEST_F(UprobeMultiTest, CountsCallsPerFunctionByCookie) {
  ASSERT_OK_AND_ASSIGN(auto c, per_cookie_counter(true));
  std::vector<std::string> symbols = {"et_add", "et_mul", "et_sub"};
  UprobeMultiOptions options;
  options.pid = ::getpid();
  options.cookies = {0, 1, 2};
  ASSERT_OK_AND_ASSIGN(auto link, attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>(symbols), options));
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::uprobe_multi);
  call_n(lib_->fn("et_add"), 3);
  call_n(lib_->fn("et_mul"), 5);
  call_n(lib_->fn("et_ver"), 7);  // not attached
  EXPECT_EQ(c.slot(0), 3U);
  EXPECT_EQ(c.slot(1), 5U);
  EXPECT_EQ(c.slot(2), 0U);
  EXPECT_EQ(c.slot(3), 0U);
  ASSERT_OK(link.detach());
  call_n(lib_->fn("et_add"), 2);
  EXPECT_EQ(c.slot(0), 3U);
}

TEST_F(UprobeMultiTest, ReturnProbesAndPidFilter) {
  ASSERT_OK_AND_ASSIGN(auto c, per_cookie_counter(true));
  std::vector<std::string> symbols = {"et_sub"};
  UprobeMultiOptions mine{.retprobe = true, .pid = ::getpid(), .cookies = {2}, .ref_ctr_offsets = {}};
  ASSERT_OK_AND_ASSIGN(auto ret, attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>(symbols), mine));
  // Another process's filter: our calls must not count in slot 1.
  pid_t other = ::fork();
  if (other == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(other, 0);
  UprobeMultiOptions theirs{.retprobe = false, .pid = other, .cookies = {1}, .ref_ctr_offsets = {}};
  auto filtered = attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>(symbols), theirs);
  call_n(lib_->fn("et_sub"), 4);
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
  ASSERT_OK(filtered);
  EXPECT_EQ(c.slot(2), 4U);
  EXPECT_EQ(c.slot(1), 0U);
}

TEST_F(UprobeMultiTest, VersionedSymbolsWithSingleUprobes) {
  ASSERT_OK_AND_ASSIGN(auto c, per_cookie_counter(false));
  ASSERT_OK_AND_ASSIGN(auto old_link, attach_uprobe(c.program, lib_->path, std::string_view("et_ver@VER_1"),
                                                    {.pid = ::getpid(), .cookie = 1, .use_link = true, .ref_ctr_offset = 0}));
  ASSERT_OK_AND_ASSIGN(auto new_link, attach_uprobe(c.program, lib_->path, std::string_view("et_ver@@VER_2"),
                                                    {.pid = ::getpid(), .cookie = 2, .use_link = true, .ref_ctr_offset = 0}));
  call_n(lib_->fn("et_ver", "VER_1"), 2);
  call_n(lib_->fn("et_ver", "VER_2"), 6);
  EXPECT_EQ(c.slot(1), 2U);
  EXPECT_EQ(c.slot(2), 6U);
}

TEST_F(UprobeMultiTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto c, per_cookie_counter(true));
  std::vector<std::string> symbols = {"et_add", "et_mul"};
  auto mismatch = attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>(symbols), {.cookies = {1}, .ref_ctr_offsets = {}});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code(), Errc::invalid_argument);
  EXPECT_NE(mismatch.error().message().find("one cookie per target"), std::string::npos);
  std::vector<std::string> missing = {"et_add", "et_nope"};
  auto absent = attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>(missing));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), Errc::not_found);
  EXPECT_NE(absent.error().message().find("et_nope"), std::string::npos);
  auto none = attach_uprobe_multi(c.program, lib_->path, std::span<const std::string>());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::invalid_argument);
  // A kprobe program loaded without the trace_uprobe_multi attach type: the kernel's EINVAL, explained.
  ASSERT_OK_AND_ASSIGN(auto plain, per_cookie_counter(false));
  auto wrong = attach_uprobe_multi(plain.program, lib_->path, std::span<const std::string>(symbols));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().sys_errno(), EINVAL);
  EXPECT_NE(wrong.error().message().find("trace_uprobe_multi"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
