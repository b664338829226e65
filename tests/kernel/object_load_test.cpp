// Object loading against the real kernel: maps, global data (set before load, mmapped after), .text
// subprograms and callbacks linked in, prog-array `values` slots, kconfig, per-program error isolation.
#include <cstring>

#include "../unit/elf_test_support.hpp"
#include "ebpf/object.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kProgram = R"(
struct { __uint(type, 2); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } stats SEC(".maps");
int tail_target(struct xdp_md *ctx);
struct { __uint(type, 3); __uint(max_entries, 2); __type(key, __u32); __array(values, int (void *)); }
  jumps SEC(".maps") = { .values = { [1] = (void *)&tail_target } };

volatile const __u32 add_value = 1;   // set by the test before load
__u64 calls = 0;                       // .bss, read back through the mmap
__u32 seen_version = 0;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

static __noinline __u64 twice(__u64 x) { return x * 2; }
__noinline int global_plus(int x) { return x + (int)add_value; }
static int count_cb(__u32 i, void *ctx) { *(__u64 *)ctx += 1; return 0; }

SEC("xdp") int entry(struct xdp_md *ctx) {
  __u32 key = 0;
  __u64 *v = bpf_map_lookup_elem(&stats, &key);
  if (!v) return 0;
  __u64 loops = 0;
  bpf_loop(5, count_cb, &loops, 0);
  *v += twice(add_value) + loops;          // 2*add_value + 5
  calls++;
  seen_version = LINUX_KERNEL_VERSION;
  return global_plus(1);                   // 1 + add_value
}

SEC("xdp") int jumper(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &jumps, 1);
  return 1;  // XDP_DROP if the tail call did not happen
}
SEC("xdp") int tail_target(struct xdp_md *ctx) { return 3; }  // XDP_TX
char LICENSE[] SEC("license") = "GPL";
)";

std::vector<std::uint8_t> frame() { return std::vector<std::uint8_t>(64, 0xab); }

Result<TestRunResult> run_on(const Program& prog, const std::vector<std::uint8_t>& data) {
  TestRunOptions opts;
  opts.data_in = data;
  return prog.test_run(opts);
}

ObjectLoadOptions per_program() {
  ObjectLoadOptions o;
  o.per_program = true;
  return o;
}

TEST(ObjectLoad, LoadsLinksAndRunsWithGlobals) {
  EBPF_REQUIRE_KERNEL();
  EBPF_COMPILE_BPF(obj_bytes, kProgram);
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(obj_bytes));
  ASSERT_OK(obj.set_global("add_value", std::uint32_t{7}));
  auto wrong = obj.set_global("add_value", std::uint64_t{7});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  ASSERT_OK(obj.load());

  Program* entry = obj.program("entry");
  ASSERT_NE(entry, nullptr);
  auto data = frame();
  ASSERT_OK_AND_ASSIGN(auto run, run_on(*entry, data));
  EXPECT_EQ(run.retval, 8u);  // global_plus(1) = 1 + 7: .rodata constant and global subprogram
  ASSERT_OK_AND_ASSIGN(auto run2, run_on(*entry, data));
  EXPECT_EQ(run2.retval, 8u);

  // stats[0] = 2 runs * (2*7 + 5 bpf_loop callbacks)
  Map* stats = obj.map("stats");
  ASSERT_NE(stats, nullptr);
  std::uint32_t key = 0;
  std::uint64_t value = 0;
  ASSERT_OK(stats->lookup(std::as_bytes(std::span(&key, 1)), std::as_writable_bytes(std::span(&value, 1))));
  EXPECT_EQ(value, 2u * (14u + 5u));

  // .bss through the mmap and through read_global.
  ASSERT_OK_AND_ASSIGN(auto bss, obj.global_data(".bss"));
  const auto* var = [&]() -> const Variable* {
    for (const auto& v : obj.spec().map(".bss")->variables)
      if (v.name == "calls") return &v;
    return nullptr;
  }();
  ASSERT_NE(var, nullptr);
  std::uint64_t calls = 0;
  std::memcpy(&calls, bss.data() + var->offset, 8);
  EXPECT_EQ(calls, 2u);
  std::uint32_t version = 0;
  ASSERT_OK(obj.read_global("seen_version", std::as_writable_bytes(std::span(&version, 1))));
  EXPECT_NE(version, 0u);  // LINUX_KERNEL_VERSION was filled into .kconfig
  // Writing .bss from user space is seen by the program's next run.
  ASSERT_OK(obj.write_global("calls", std::as_bytes(std::span<const std::uint64_t>(std::array<std::uint64_t, 1>{100}))));
  ASSERT_OK(run_on(*entry, data));
  std::memcpy(&calls, bss.data() + var->offset, 8);
  EXPECT_EQ(calls, 101u);
  // .rodata is frozen: read-only for user space.
  auto ro = obj.write_global("add_value", std::as_bytes(std::span<const std::uint32_t>(std::array<std::uint32_t, 1>{1})));
  ASSERT_FALSE(ro);

  // jumps[1] was initialised from `values` with tail_target: the tail call returns XDP_TX (3).
  ASSERT_OK_AND_ASSIGN(auto jump, run_on(*obj.program("jumper"), data));
  EXPECT_EQ(jump.retval, 3u);
}

TEST(ObjectLoad, AdjustSpecBeforeLoad) {
  EBPF_REQUIRE_KERNEL();
  EBPF_COMPILE_BPF(obj_bytes, kProgram);
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(obj_bytes));
  obj.spec().map("stats")->max_entries = 9;
  obj.spec().program("jumper")->autoload = false;
  ASSERT_OK(obj.load());
  EXPECT_EQ(obj.map("stats")->max_entries(), 9u);
  EXPECT_EQ(obj.program("jumper"), nullptr);
  ASSERT_NE(obj.program("tail_target"), nullptr);
  auto data = frame();
  // jumper not loaded; slot still filled with tail_target.
  std::uint32_t slot = 1;
  ASSERT_OK_AND_ASSIGN(auto id, obj.map("jumps")->stored_id(std::as_bytes(std::span(&slot, 1))));
  ASSERT_OK_AND_ASSIGN(auto info, obj.program("tail_target")->info());
  EXPECT_EQ(id, info.id);
}

TEST(ObjectLoad, PerProgramErrorsDoNotHideOthers) {
  EBPF_REQUIRE_KERNEL();
  EBPF_COMPILE_BPF(obj_bytes, R"(
SEC("xdp") int good(struct xdp_md *ctx) { return 2; }
SEC("xdp") int bad(struct xdp_md *ctx) { return *(volatile int *)(long)ctx->data; }  // unchecked packet read
SEC("xdp") int good2(struct xdp_md *ctx) { return 1; }
char LICENSE[] SEC("license") = "GPL";
)");
  {
    ASSERT_OK_AND_ASSIGN(auto obj, Object::open(obj_bytes));
    auto all = obj.load();
    ASSERT_FALSE(all);
    EXPECT_EQ(all.error().code(), Errc::verifier);
    EXPECT_NE(all.error().message().find("'bad'"), std::string::npos) << all.error().to_string();
  }
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(obj_bytes));
  ASSERT_OK(obj.load(per_program()));
  EXPECT_EQ(obj.loaded_programs(), (std::vector<std::string>{"good", "good2"}));
  EXPECT_EQ(obj.failed_programs(), (std::vector<std::string>{"bad"}));
  const Error* err = obj.program_error("bad");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->code(), Errc::verifier);
  EXPECT_FALSE(err->verifier_log().empty());
  auto data = frame();
  ASSERT_OK_AND_ASSIGN(auto run, run_on(*obj.program("good"), data));
  EXPECT_EQ(run.retval, 2u);
}

TEST(ObjectLoad, UnknownTypeAndUnsizedMapsAreClearErrors) {
  EBPF_REQUIRE_KERNEL();
  EBPF_COMPILE_BPF(obj_bytes, R"(
struct { __uint(type, 2); __uint(max_entries, 0); __type(key, __u32); __type(value, __u64); } sized_later SEC(".maps");
SEC("mystery") int odd(void *ctx) { __u32 k = 0; return bpf_map_lookup_elem(&sized_later, &k) != 0; }
char LICENSE[] SEC("license") = "GPL";
)");
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(obj_bytes));
  auto r = obj.load();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("sized_later"), std::string::npos) << r.error().to_string();

  ASSERT_OK_AND_ASSIGN(auto obj2, Object::open(obj_bytes));
  obj2.spec().map("sized_later")->max_entries = 4;
  auto r2 = obj2.load();
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message().find("no known program type"), std::string::npos) << r2.error().to_string();

  ASSERT_OK_AND_ASSIGN(auto obj3, Object::open(obj_bytes));
  obj3.spec().map("sized_later")->max_entries = 4;
  obj3.spec().program("odd")->type = ProgType::socket_filter;
  ASSERT_OK(obj3.load());
  EXPECT_NE(obj3.program("odd"), nullptr);
}

}  // namespace
}  // namespace ebpf
