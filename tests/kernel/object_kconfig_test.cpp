// Kconfig externs end to end: a clang-built XDP program copies bool, tristate, int, u16, u64 hex, char-array
// (one truncated) and weak-missing externs into .bss when run with test_run; the test compares each with what
// it reads itself from `zcat /proc/config.gz` and uname(). A strong extern the config lacks and a value of the
// wrong kind fail load() with an error naming the extern. Also: auto-sized maps (perf event array → possible
// CPUs, ring buffers rounded up to a power-of-two number of pages) as the kernel reports them.
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "../unit/elf_test_support.hpp"
#include "ebpf/object.hpp"
#include "ebpf/system.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kKconfigProgram = R"(
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
extern int CONFIG_HZ __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern char CONFIG_CC_VERSION_TEXT[8] __kconfig;
extern unsigned long long CONFIG_ILLEGAL_POINTER_VALUE __kconfig;
extern unsigned short CONFIG_LOG_BUF_SHIFT __kconfig;
extern enum libbpf_tristate CONFIG_KPROBES __kconfig __weak;
extern int CONFIG_ET_NO_SUCH_OPTION __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

__u64 out_hz, out_syscall, out_jit, out_ptr, out_shift, out_kprobes, out_missing, out_version;
char out_host[16], out_cc[8];

SEC("xdp") int read_config(struct xdp_md *ctx) {
  out_hz = CONFIG_HZ;
  out_syscall = CONFIG_BPF_SYSCALL;
  out_jit = CONFIG_BPF_JIT;
  out_ptr = CONFIG_ILLEGAL_POINTER_VALUE;
  out_shift = CONFIG_LOG_BUF_SHIFT;
  out_kprobes = CONFIG_KPROBES;
  out_missing = CONFIG_ET_NO_SUCH_OPTION + 1;
  out_version = LINUX_KERNEL_VERSION;
  for (int i = 0; i < 16; i++) out_host[i] = CONFIG_DEFAULT_HOSTNAME[i];
  for (int i = 0; i < 8; i++) out_cc[i] = CONFIG_CC_VERSION_TEXT[i];
  return 2;
}
char LICENSE[] SEC("license") = "GPL";
)";

// The kernel config as `zcat` shows it: name -> raw value (independent of the library's decoder).
std::map<std::string, std::string> zcat_config() {
  std::map<std::string, std::string> out;
  FILE* p = ::popen("zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)", "r");
  if (p == nullptr) return out;
  char line[4096];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::string s(line);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    auto eq = s.find('=');
    if (s.starts_with("CONFIG_") && eq != std::string::npos) out[s.substr(0, eq)] = s.substr(eq + 1);
  }
  ::pclose(p);
  return out;
}

template <class T>
T global(const Object& obj, std::string_view name) {
  T value{};
  auto r = obj.read_global(name, std::as_writable_bytes(std::span(&value, 1)));
  EXPECT_TRUE(r.ok()) << name << ": " << (r ? "" : r.error().to_string());
  return value;
}

std::string global_string(const Object& obj, std::string_view name, std::size_t size) {
  std::vector<char> buf(size);
  EXPECT_TRUE(obj.read_global(name, std::as_writable_bytes(std::span(buf))).ok());
  return std::string(buf.data(), strnlen(buf.data(), size));
}

std::string unquote(const std::string& s) { return s.size() >= 2 ? s.substr(1, s.size() - 2) : s; }

Result<Object> compile_and_open(const test::TempDir& dir, std::string_view name, const std::string& body) {
  auto path = EBPF_TRY(test::compile_bpf_c(dir, name, std::string(test::kBpfPrelude) + body));
  return Object::open(path.string());
}

TEST(ObjectKconfig, ProgramSeesTheKernelConfig) {
  EBPF_REQUIRE_KERNEL();
  auto config = zcat_config();
  ASSERT_TRUE(config.contains("CONFIG_HZ")) << "no kernel config readable";
  test::TempDir dir("kconfig");
  ASSERT_OK_AND_ASSIGN(auto obj, compile_and_open(dir, "kconfig", kKconfigProgram));
  ASSERT_OK(obj.load());
  std::vector<std::uint8_t> frame(64, 0);
  TestRunOptions run;
  run.data_in = frame;
  ASSERT_OK_AND_ASSIGN(auto result, obj.program("read_config")->test_run(run));
  EXPECT_EQ(result.retval, 2u);

  EXPECT_EQ(global<std::uint64_t>(obj, "out_hz"), std::stoull(config["CONFIG_HZ"]));
  EXPECT_EQ(global<std::uint64_t>(obj, "out_syscall"), config["CONFIG_BPF_SYSCALL"] == "y" ? 1u : 0u);
  std::string jit = config["CONFIG_BPF_JIT"];
  EXPECT_EQ(global<std::uint64_t>(obj, "out_jit"), jit == "y" ? 1u : jit == "m" ? 2u : 0u);
  EXPECT_EQ(global<std::uint64_t>(obj, "out_ptr"), std::stoull(config["CONFIG_ILLEGAL_POINTER_VALUE"], nullptr, 0));
  EXPECT_EQ(global<std::uint64_t>(obj, "out_shift"), std::stoull(config["CONFIG_LOG_BUF_SHIFT"]));
  std::string kprobes = config.contains("CONFIG_KPROBES") ? config["CONFIG_KPROBES"] : "n";
  EXPECT_EQ(global<std::uint64_t>(obj, "out_kprobes"), kprobes == "y" ? 1u : kprobes == "m" ? 2u : 0u);
  EXPECT_EQ(global<std::uint64_t>(obj, "out_missing"), 1u);  // unknown weak extern = 0
  EXPECT_EQ(global_string(obj, "out_host", 16), unquote(config["CONFIG_DEFAULT_HOSTNAME"]));
  EXPECT_EQ(global_string(obj, "out_cc", 8), unquote(config["CONFIG_CC_VERSION_TEXT"]).substr(0, 7));  // truncated
  struct utsname u {};
  ASSERT_EQ(::uname(&u), 0);
  unsigned a = 0, b = 0, c = 0;
  ASSERT_GE(std::sscanf(u.release, "%u.%u.%u", &a, &b, &c), 2);
  EXPECT_EQ(global<std::uint64_t>(obj, "out_version"), (a << 16) + (b << 8) + std::min(c, 255u));
}

TEST(ObjectKconfig, StrongMissingAndMistypedExternsFailLoad) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir("kconfig");
  ASSERT_OK_AND_ASSIGN(auto missing, compile_and_open(dir, "missing", R"(
extern int CONFIG_ET_NO_SUCH_OPTION __kconfig;
__u64 out;
SEC("xdp") int p(struct xdp_md *ctx) { out = CONFIG_ET_NO_SUCH_OPTION; return 2; }
char LICENSE[] SEC("license") = "GPL";
)"));
  auto r = missing.load();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::not_found) << r.error().to_string();
  EXPECT_NE(r.error().message().find("CONFIG_ET_NO_SUCH_OPTION"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().message().find("__weak"), std::string::npos) << r.error().to_string();

  ASSERT_OK_AND_ASSIGN(auto mistyped, compile_and_open(dir, "mistyped", R"(
extern int CONFIG_DEFAULT_HOSTNAME __kconfig;
__u64 out;
SEC("xdp") int p(struct xdp_md *ctx) { out = CONFIG_DEFAULT_HOSTNAME; return 2; }
char LICENSE[] SEC("license") = "GPL";
)"));
  auto m = mistyped.load();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::invalid_argument) << m.error().to_string();
  EXPECT_NE(m.error().message().find("CONFIG_DEFAULT_HOSTNAME"), std::string::npos) << m.error().to_string();
  EXPECT_NE(m.error().message().find("char array"), std::string::npos) << m.error().to_string();
}

constexpr const char* kSizedMaps = R"(
struct { __uint(type, 4); __uint(key_size, 4); __uint(value_size, 4); } events SEC(".maps");
struct { __uint(type, 27); __uint(max_entries, 5000); } ring_odd SEC(".maps");
struct { __uint(type, 27); __uint(max_entries, 3 * 4096); } ring_three SEC(".maps");
struct { __uint(type, 27); __uint(max_entries, 16384); } ring_exact SEC(".maps");
struct { __uint(type, 31); __uint(max_entries, 4097); } user_ring SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx) { return 2; }
char LICENSE[] SEC("license") = "GPL";
)";

TEST(ObjectMaps, AutoSizedPerfArrayAndRingBuffers) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir("automaps");
  ASSERT_OK_AND_ASSIGN(auto obj, compile_and_open(dir, "sized", kSizedMaps));
  ASSERT_OK(obj.load());
  ASSERT_OK_AND_ASSIGN(auto cpus, possible_cpus());
  const std::uint32_t page = static_cast<std::uint32_t>(page_size());
  auto next_pow2_pages = [&](std::uint32_t size) {
    std::uint32_t bytes = page;
    while (bytes <= size && !(bytes == size)) bytes *= 2;
    return bytes;
  };
  auto kernel_entries = [&](std::string_view name) -> std::uint32_t {
    auto info = obj.map(name)->info();  // what the kernel created, not what we asked for
    EXPECT_TRUE(info.ok()) << name;
    return info ? info->max_entries : 0;
  };
  EXPECT_EQ(kernel_entries("events"), cpus);
  EXPECT_EQ(kernel_entries("ring_odd"), next_pow2_pages(5000));
  EXPECT_EQ(kernel_entries("ring_three"), 4 * page);
  EXPECT_EQ(kernel_entries("ring_exact"), next_pow2_pages(16384));
  EXPECT_EQ(kernel_entries("user_ring"), next_pow2_pages(4097));
  // The spec keeps what the object declared; only the created map is adjusted.
  EXPECT_EQ(obj.spec().map("ring_odd")->max_entries, 5000u);
}

}  // namespace
}  // namespace ebpf
