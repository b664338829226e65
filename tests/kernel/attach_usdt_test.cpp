// USDT probes for real: a gcc-built target with DTRACE_PROBE4(etprov, evt, a, b, 42, c) (semaphore-guarded)
// runs as a child; a DSL program attached with attach_usdt decodes the arguments through the spec map and
// stores them in an array. The test asserts the exact values the target printed for each firing, that the
// target saw its semaphore set only while the probe was attached, and that nothing fires after detach.
// Built at -O0 (arguments on the stack: memory specs) and -O2 (arguments in registers); a hand-written
// base+index*scale argument is read too, and a probe with a semaphore inside a dlopen()ed shared library.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/usdt.hpp"
#include "ebpf/dsl/usdt.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/attach_usdt_target.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

// The target, talking over pipes: each request() makes it fire its probes once and returns what it printed.
class Target {
 public:
  static Result<std::unique_ptr<Target>> start(const std::string& path) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]), ::close(in[1]);
      return Error::from_errno(errno, "pipe2");
    }
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno(errno, "fork");
    if (pid == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    auto t = std::unique_ptr<Target>(new Target);
    t->pid_ = pid;
    t->to_ = ::fdopen(in[1], "w");
    t->from_ = ::fdopen(out[0], "r");
    return t;
  }
  ~Target() {
    if (to_ != nullptr) std::fclose(to_);  // EOF: the target exits
    if (from_ != nullptr) std::fclose(from_);
    int status = 0;
    // Bounded: the target ends at EOF; if it does not within ~2 s, kill it.
    for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(10000);
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  pid_t pid() const { return pid_; }

  struct Reply {
    unsigned semaphore = 0;
    long long a = 0, b = 0;
    unsigned c = 0;
    int d = 0;
  };
  Result<Reply> request() {
    if (std::fputs("go\n", to_) < 0 || std::fflush(to_) != 0) return Error::from_errno(errno, "write to target");
    char line[128];
    if (std::fgets(line, sizeof line, from_) == nullptr) return Error(Errc::io, "read from target", "no reply");
    Reply r;
    std::istringstream in(line);
    if (!(in >> r.semaphore >> r.a >> r.b >> r.c >> r.d)) return Error(Errc::bad_format, "target", line);
    return r;
  }

 private:
  Target() = default;
  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
};

// Slots of the result array value: firings, then the decoded arguments 0..3, arg count, cookie.
constexpr std::uint32_t kSlots = 7;

struct Reader {
  Map results;  // ARRAY, one value of kSlots u64
  Program program;
  std::uint64_t slot(std::uint32_t i) const {
    std::array<std::uint64_t, kSlots> v{};
    std::uint32_t key = 0;
    if (!results.lookup(as_bytes_of(key), as_writable_bytes_of(v))) return ~0ULL;
    return v.at(i);
  }
  std::uint64_t count() const { return slot(0); }
};

// KPROBE program: look the site's spec up, decode `args` arguments into slots 1..args, then count in slot 0.
Result<Reader> usdt_reader(const Map& specs, int args = 4, bool multi = false) {
  using namespace isa;
  MapSpec spec{.type = MapType::array, .name = "et_usdt_out", .key_size = 4, .value_size = 8 * kSlots, .max_entries = 1};
  auto results = EBPF_TRY(Map::create(spec));
  const int map = results.fd();
  dsl::UsdtRegs u;
  Assembler a;
  a.mov(r6, r1);
  EBPF_TRY(dsl::usdt_load_spec(a, specs.fd(), u, "out"));
  for (int n = 0; n < args; ++n) {
    EBPF_TRY(dsl::usdt_arg(a, n, r8, u, "out"));
    a.ld_map_value(r1, map, static_cast<std::uint32_t>(8 + 8 * n)).stx(DW, r1, 0, r8);
  }
  dsl::usdt_arg_count(a, r8, u);
  a.ld_map_value(r1, map, 40).stx(DW, r1, 0, r8);
  dsl::usdt_cookie(a, r8, u);
  a.ld_map_value(r1, map, 48).stx(DW, r1, 0, r8);
  a.ld_map_value(r1, map, 0).mov(r2, 1).atomic_add(DW, r1, 0, r2);
  a.label("out").mov(r0, 0).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_usdt";
  if (multi) options.expected_attach_type = AttachType::trace_uprobe_multi;
  auto program = EBPF_TRY(Program::load(ProgType::kprobe, code.span(), options));
  return Reader{std::move(results), std::move(program)};
}

void run_with(std::string_view optimization, bool multi = false) {
  test::TempDir dir{"et_usdt"};
  auto path = test::build_usdt_target(dir, optimization);
  if (!path) {
    if (test::in_ci()) FAIL() << path.error().to_string();
    GTEST_SKIP() << path.error().to_string();
  }
  ASSERT_OK_AND_ASSIGN(auto probes, usdt_probes(path->string()));
  for (const auto& p : probes) std::printf("  %s:%s args \"%s\"\n", p.provider.c_str(), p.name.c_str(), p.arg_text.c_str());
  ASSERT_OK_AND_ASSIGN(auto specs, usdt_spec_map(8, "et_usdt_specs"));
  ASSERT_OK_AND_ASSIGN(auto reader, usdt_reader(specs, 4, multi));
  ASSERT_OK_AND_ASSIGN(auto target, Target::start(path->string()));

  // Not attached: the semaphore is 0 and nothing runs.
  ASSERT_OK_AND_ASSIGN(auto before, target->request());
  EXPECT_EQ(before.semaphore, 0U);
  EXPECT_EQ(reader.count(), 0U);

  UsdtOptions options;
  options.pid = target->pid();
  options.first_spec_id = 3;
  options.cookie = 0xc0ffee;
  options.multi = multi;
  ASSERT_OK_AND_ASSIGN(auto usdt, attach_usdt(reader.program, path->string(), "etprov", "evt", specs, options));
  ASSERT_EQ(usdt.sites.size(), 1U);
  ASSERT_EQ(usdt.links.size(), 1U);
  ASSERT_OK_AND_ASSIGN(auto info, usdt.links[0].info());
  EXPECT_EQ(info.type, multi ? LinkType::uprobe_multi : LinkType::perf_event);
  EXPECT_EQ(usdt.next_spec_id, 4U);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto seen, target->request());
    SCOPED_TRACE("firing " + std::to_string(i));
    EXPECT_EQ(seen.semaphore, 1U) << "the kernel must bump the semaphore while the uprobe exists";
    EXPECT_EQ(reader.count(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(static_cast<std::int64_t>(reader.slot(1)), seen.a);  // int, sign-extended
    EXPECT_EQ(static_cast<std::int64_t>(reader.slot(2)), seen.b);
    EXPECT_EQ(reader.slot(3), 42U);
    EXPECT_EQ(reader.slot(4), seen.c);  // unsigned char, zero-extended
    EXPECT_EQ(reader.slot(5), 4U);
    EXPECT_EQ(reader.slot(6), 0xc0ffeeU);
  }
  ASSERT_OK(usdt.detach());
  ASSERT_OK_AND_ASSIGN(auto after, target->request());
  EXPECT_EQ(after.semaphore, 0U);
  EXPECT_EQ(reader.count(), 3U);

  if (dsl::host_arch() != dsl::Arch::x86_64) return;  // etprov:indexed is x86-64 assembly
  // base + index * scale + offset, with the spec after evt's in the same map.
  ASSERT_OK_AND_ASSIGN(auto indexed_reader, usdt_reader(specs, 1, multi));
  options.first_spec_id = usdt.next_spec_id;
  ASSERT_OK_AND_ASSIGN(auto indexed, attach_usdt(indexed_reader.program, path->string(), "etprov", "indexed", specs, options));
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(auto seen, target->request());
    EXPECT_EQ(indexed_reader.count(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(static_cast<std::int64_t>(indexed_reader.slot(1)), seen.d) << "firing " << i;
    EXPECT_EQ(indexed_reader.slot(5), 1U);
  }
  EXPECT_EQ(reader.count(), 3U);
}

TEST(Usdt, ArgumentsOnTheStack) {
  EBPF_REQUIRE_KERNEL();
  run_with("-O0");
}

TEST(Usdt, ArgumentsInRegisters) {
  EBPF_REQUIRE_KERNEL();
  run_with("-O2");
}

TEST(Usdt, OneUprobeMultiLink) {
  EBPF_REQUIRE_KERNEL();
  run_with("-O2", true);
}

// A probe in a shared library loaded into this process: the site and semaphore offsets come from the .so's
// sections, the pid filter is this process, and the semaphore the library sees is set only while attached.
constexpr const char* kLibrarySource = R"(#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
__extension__ unsigned short etlib_call_semaphore __attribute__((unused, section(".probes")));
unsigned et_usdt_lib_call(long x) {
  unsigned enabled = *(volatile unsigned short *)&etlib_call_semaphore;
  if (x > 0)  /* two sites of one probe, with different second arguments */
    DTRACE_PROBE2(etlib, call, x, x * -3);
  else
    DTRACE_PROBE2(etlib, call, x, x * 5);
  return enabled;
}
)";

TEST(Usdt, SharedLibrary) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir{"et_usdt_lib"};
  auto so = (dir.path() / "libetusdt.so").string();
  std::ofstream(dir.path() / "lib.c") << kLibrarySource;
  std::string cmd = "gcc -O2 -shared -fPIC -o " + so + " " + (dir.path() / "lib.c").string() + " > " +
                    (dir.path() / "gcc.log").string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    if (test::in_ci()) FAIL() << "cannot build " << so;
    GTEST_SKIP() << "cannot build " << so << " (gcc, systemtap-sdt-dev)";
  }
  void* handle = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  struct Closer {
    void* h;
    ~Closer() { ::dlclose(h); }
  } closer{handle};
  auto call = reinterpret_cast<unsigned (*)(long)>(::dlsym(handle, "et_usdt_lib_call"));
  ASSERT_NE(call, nullptr);

  ASSERT_OK_AND_ASSIGN(auto specs, usdt_spec_map(2, "et_usdt_specs"));
  ASSERT_OK_AND_ASSIGN(auto reader, usdt_reader(specs, 2));
  EXPECT_EQ(call(1), 0U);
  UsdtOptions options;
  options.pid = ::getpid();
  ASSERT_OK_AND_ASSIGN(auto usdt, attach_usdt(reader.program, so, "etlib", "call", specs, options));
  ASSERT_EQ(usdt.sites.size(), 2U);  // each site has its own spec (ids 0 and 1) and uprobe
  EXPECT_NE(usdt.sites[0].pc_offset, usdt.sites[1].pc_offset);
  EXPECT_NE(usdt.sites[0].semaphore_offset, 0U);
  EXPECT_EQ(usdt.sites[0].semaphore_offset, usdt.sites[1].semaphore_offset);
  for (long x : {5L, -123456789012L}) {
    EXPECT_EQ(call(x), 2U);  // the kernel counts one reference per uprobe on the semaphore: one per site
    EXPECT_EQ(static_cast<std::int64_t>(reader.slot(1)), x);
    EXPECT_EQ(static_cast<std::int64_t>(reader.slot(2)), x > 0 ? x * -3 : x * 5);
  }
  EXPECT_EQ(reader.count(), 2U);
  ASSERT_OK(usdt.detach());
  EXPECT_EQ(call(7), 0U);
  EXPECT_EQ(reader.count(), 2U);
}

TEST(Usdt, Errors) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir{"et_usdt_err"};
  auto path = test::build_usdt_target(dir);
  if (!path) {
    if (test::in_ci()) FAIL() << path.error().to_string();
    GTEST_SKIP() << path.error().to_string();
  }
  ASSERT_OK_AND_ASSIGN(auto specs, usdt_spec_map(1, "et_usdt_specs"));
  ASSERT_OK_AND_ASSIGN(auto reader, usdt_reader(specs));
  auto missing = attach_usdt(reader.program, path->string(), "etprov", "nosuch", specs);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  UsdtOptions full;
  full.first_spec_id = 1;  // the map has one slot
  auto overflow = attach_usdt(reader.program, path->string(), "etprov", "evt", specs, full);
  ASSERT_FALSE(overflow.has_value());
  EXPECT_EQ(overflow.error().code(), Errc::invalid_argument);
  MapSpec wrong{.type = MapType::array, .name = "et_usdt_bad", .key_size = 4, .value_size = 8, .max_entries = 1};
  ASSERT_OK_AND_ASSIGN(auto bad_map, Map::create(wrong));
  auto bad = attach_usdt(reader.program, path->string(), "etprov", "evt", bad_map);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("UsdtSpec"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
