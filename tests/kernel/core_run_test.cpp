// CO-RE against the running kernel, loaded and RUN: a clang-built raw_tp program uses every relocation kind on
// kernel types through local "___mine" flavours — field byte offset/size/exists/signed/lshift/rshift on
// task_struct (including the sched_reset_on_fork bitfield) and sk_buff bitfields, type id local/target, type
// exists/size/matches, enum value exists/value — and stores the results in .bss. It also reads the current
// task's pid, tgid, comm and bitfield through the relocated offsets with bpf_probe_read_kernel, so a wrong
// offset shows up as a wrong value, not only as a wrong constant. Expected values come from the test's own
// walk of vmlinux BTF (libbpf's documented formulas) and from the process itself (gettid, comm, scheduler
// flag). The CO-RE report must list every kind as applied and exactly the two guarded misses as poisoned.
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "../unit/elf_test_support.hpp"
#include "ebpf/object.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kCoreProgram = R"(
static __u64 (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
#define FIELD(expr, kind) __builtin_preserve_field_info(expr, kind)

struct task_struct___mine {
  int pid;
  int tgid;
  char comm[16];
  unsigned int flags;
  unsigned int sched_reset_on_fork:1;
  int et_no_such_field;
} __attribute__((preserve_access_index));
struct sk_buff___mine { __u8 cloned:1, nohdr:1, fclone:2; } __attribute__((preserve_access_index));
struct list_head___mine { struct list_head___mine *next, *prev; } __attribute__((preserve_access_index));
struct et_no_such_struct { int x; } __attribute__((preserve_access_index));
enum bpf_map_type___mine { BPF_MAP_TYPE_RINGBUF = 1000, ET_NO_SUCH_ENUMERATOR = 5 };

__u64 pid_off, pid_size, pid_exists, pid_signed, flags_signed, missing_exists;
__u64 bf_off, bf_size, bf_lshift, bf_rshift, bf_value;
__u64 fclone_off, fclone_size, fclone_lshift, fclone_rshift;
__u64 local_id, target_id, task_exists, nothing_exists, task_size, list_matches, task_matches;
__u64 ringbuf_exists, ringbuf_value, no_enum_exists;
__u64 got_pid, got_tgid, poisoned_value;
char got_comm[16];

SEC("raw_tp/sys_enter") int core_probe(void *ctx) {
  struct task_struct___mine *t = (void *)bpf_get_current_task();
  struct sk_buff___mine *skb = 0;
  pid_off = FIELD(t->pid, 0);
  pid_size = FIELD(t->pid, 1);
  pid_exists = FIELD(t->pid, 2);
  pid_signed = FIELD(t->pid, 3);
  flags_signed = FIELD(t->flags, 3);
  missing_exists = FIELD(t->et_no_such_field, 2);
  bf_off = FIELD(t->sched_reset_on_fork, 0);
  bf_size = FIELD(t->sched_reset_on_fork, 1);
  bf_lshift = FIELD(t->sched_reset_on_fork, 4);
  bf_rshift = FIELD(t->sched_reset_on_fork, 5);
  fclone_off = FIELD(skb->fclone, 0);
  fclone_size = FIELD(skb->fclone, 1);
  fclone_lshift = FIELD(skb->fclone, 4);
  fclone_rshift = FIELD(skb->fclone, 5);
  local_id = __builtin_btf_type_id(*t, 0);
  target_id = __builtin_btf_type_id(*t, 1);
  task_exists = __builtin_preserve_type_info(*t, 0);
  nothing_exists = __builtin_preserve_type_info(*(struct et_no_such_struct *)0, 0);
  task_size = __builtin_preserve_type_info(*t, 1);
  list_matches = __builtin_preserve_type_info(*(struct list_head___mine *)0, 2);
  task_matches = __builtin_preserve_type_info(*t, 2);
  ringbuf_exists = __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)BPF_MAP_TYPE_RINGBUF, 0);
  ringbuf_value = __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)BPF_MAP_TYPE_RINGBUF, 1);
  no_enum_exists = __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)ET_NO_SUCH_ENUMERATOR, 0);

  // Real reads through relocated offsets.
  bpf_probe_read_kernel(&got_pid, sizeof(int), &t->pid);
  bpf_probe_read_kernel(&got_tgid, sizeof(int), &t->tgid);
  bpf_probe_read_kernel(got_comm, sizeof(got_comm), t->comm);
  __u64 word = 0;
  switch (FIELD(t->sched_reset_on_fork, 1)) {
    case 1: bpf_probe_read_kernel(&word, 1, (char *)t + FIELD(t->sched_reset_on_fork, 0)); break;
    case 2: bpf_probe_read_kernel(&word, 2, (char *)t + FIELD(t->sched_reset_on_fork, 0)); break;
    case 4: bpf_probe_read_kernel(&word, 4, (char *)t + FIELD(t->sched_reset_on_fork, 0)); break;
    default: bpf_probe_read_kernel(&word, 8, (char *)t + FIELD(t->sched_reset_on_fork, 0)); break;
  }
  word <<= FIELD(t->sched_reset_on_fork, 4);
  word >>= FIELD(t->sched_reset_on_fork, 5);
  bf_value = word;

  // Guarded misses: poisoned, but never reached, so the program still loads.
  if (FIELD(t->et_no_such_field, 2)) {
    int x = 0;
    bpf_probe_read_kernel(&x, sizeof(x), &t->et_no_such_field);
    poisoned_value = x;
  }
  if (__builtin_preserve_enum_value(*(enum bpf_map_type___mine *)ET_NO_SUCH_ENUMERATOR, 0))
    poisoned_value = __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)ET_NO_SUCH_ENUMERATOR, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
)";

// A kernel struct member as libbpf's field relocations see it.
struct FieldTruth {
  std::uint64_t byte_offset = 0, byte_size = 0, lshift = 0, rshift = 0;
  bool is_signed = false;
};

// libbpf's rules: a plain member's offset and size; for a bitfield, the smallest naturally aligned load of at
// least the member type's size that covers it, and the shifts that extract it from a little-endian u64.
Result<FieldTruth> field_truth(const btf::Btf& kbtf, std::string_view strct, std::string_view member) {
  auto s = EBPF_TRY(kbtf.find(strct, btf::Kind::struct_));
  for (std::uint32_t i = 0; i < s.vlen(); ++i) {
    auto m = s.member(i);
    if (m.name != member) continue;
    auto type = EBPF_TRY(kbtf.skip_modifiers(m.type));
    std::uint64_t size = EBPF_TRY(kbtf.resolve_size(m.type));
    FieldTruth f;
    f.is_signed = type.kind() == btf::Kind::int_ && (type.int_encoding() & btf::kIntSigned);
    std::uint64_t bits = m.bitfield_size ? m.bitfield_size : size * 8;
    f.byte_offset = m.bit_offset / 8 / size * size;
    while (m.bit_offset + bits - f.byte_offset * 8 > size * 8) {
      size *= 2;
      f.byte_offset = m.bit_offset / 8 / size * size;
    }
    f.byte_size = size;
    f.lshift = 64 - (m.bit_offset + bits - f.byte_offset * 8);
    f.rshift = 64 - bits;
    return f;
  }
  return Error(Errc::not_found, "test", std::string(strct) + "." + std::string(member));
}

std::uint64_t g(const Object& obj, std::string_view name) {
  std::uint64_t v = 0;
  auto r = obj.read_global(name, std::as_writable_bytes(std::span(&v, 1)));
  EXPECT_TRUE(r.ok()) << name;
  return v;
}

Result<TestRunResult> run(const Program& prog) {
  std::array<std::uint8_t, 16> args{};
  TestRunOptions opts;
  opts.ctx_in = args;
  opts.data_out_size = 0;
  return prog.test_run(opts);
}

void set_reset_on_fork(bool on) {
  sched_param p{};
  ASSERT_EQ(::sched_setscheduler(0, SCHED_OTHER | (on ? SCHED_RESET_ON_FORK : 0), &p), 0) << std::strerror(errno);
}

TEST(CoreRun, EveryRelocationKindAgainstTheRunningKernel) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto kbtf, btf::Btf::load_vmlinux());
  test::TempDir dir("core_run");
  ASSERT_OK_AND_ASSIGN(auto path, test::compile_bpf_c(dir, "core", std::string(test::kBpfPrelude) + kCoreProgram));
  ASSERT_OK_AND_ASSIGN(auto obj, Object::open(path.string()));
  ASSERT_OK(obj.load());
  const Program* prog = obj.program("core_probe");
  ASSERT_NE(prog, nullptr);

  ::prctl(PR_SET_NAME, "et_core_run");
  set_reset_on_fork(true);
  auto first = run(*prog);
  std::uint64_t bit_when_set = g(obj, "bf_value");
  set_reset_on_fork(false);
  ASSERT_OK(first);
  ASSERT_OK(run(*prog));
  std::uint64_t bit_when_clear = g(obj, "bf_value");

  // Values the program read from the current task through relocated offsets.
  EXPECT_EQ(g(obj, "got_pid"), static_cast<std::uint64_t>(::syscall(SYS_gettid)));
  EXPECT_EQ(g(obj, "got_tgid"), static_cast<std::uint64_t>(::getpid()));
  char comm[16] = {};
  ASSERT_OK(obj.read_global("got_comm", std::as_writable_bytes(std::span(comm))));
  EXPECT_STREQ(comm, "et_core_run");
  EXPECT_EQ(bit_when_set, 1u);
  EXPECT_EQ(bit_when_clear, 0u);

  // Field relocations against the test's own reading of vmlinux BTF.
  ASSERT_OK_AND_ASSIGN(auto pid, field_truth(kbtf, "task_struct", "pid"));
  EXPECT_EQ(g(obj, "pid_off"), pid.byte_offset);
  EXPECT_EQ(g(obj, "pid_size"), pid.byte_size);
  EXPECT_EQ(g(obj, "pid_exists"), 1u);
  EXPECT_EQ(g(obj, "pid_signed"), 1u);
  EXPECT_TRUE(pid.is_signed);
  ASSERT_OK_AND_ASSIGN(auto flags, field_truth(kbtf, "task_struct", "flags"));
  EXPECT_EQ(g(obj, "flags_signed"), flags.is_signed ? 1u : 0u);
  EXPECT_EQ(g(obj, "missing_exists"), 0u);
  ASSERT_OK_AND_ASSIGN(auto bf, field_truth(kbtf, "task_struct", "sched_reset_on_fork"));
  EXPECT_EQ(g(obj, "bf_off"), bf.byte_offset);
  EXPECT_EQ(g(obj, "bf_size"), bf.byte_size);
  EXPECT_EQ(g(obj, "bf_lshift"), bf.lshift);
  EXPECT_EQ(g(obj, "bf_rshift"), bf.rshift);
  EXPECT_EQ(bf.rshift, 63u);
  ASSERT_OK_AND_ASSIGN(auto fclone, field_truth(kbtf, "sk_buff", "fclone"));
  EXPECT_EQ(g(obj, "fclone_off"), fclone.byte_offset);
  EXPECT_EQ(g(obj, "fclone_size"), fclone.byte_size);
  EXPECT_EQ(g(obj, "fclone_lshift"), fclone.lshift);
  EXPECT_EQ(g(obj, "fclone_rshift"), fclone.rshift);
  EXPECT_EQ(fclone.rshift, 62u);

  // Type relocations.
  ASSERT_OK_AND_ASSIGN(auto task, kbtf.find("task_struct", btf::Kind::struct_));
  ASSERT_OK_AND_ASSIGN(auto local_task, obj.spec().btf->find("task_struct___mine", btf::Kind::struct_));
  EXPECT_EQ(g(obj, "local_id"), local_task.id());
  EXPECT_EQ(g(obj, "target_id"), task.id());
  EXPECT_EQ(g(obj, "task_exists"), 1u);
  EXPECT_EQ(g(obj, "nothing_exists"), 0u);
  EXPECT_EQ(g(obj, "task_size"), task.size());
  ASSERT_OK_AND_ASSIGN(auto list_head, kbtf.find("list_head", btf::Kind::struct_));
  bool list_is_two_self_pointers = list_head.vlen() == 2;
  for (std::uint32_t i = 0; i < list_head.vlen() && list_is_two_self_pointers; ++i) {
    auto m = list_head.member(i);
    auto ptr = kbtf.at(m.type);
    list_is_two_self_pointers = (m.name == "next" || m.name == "prev") && ptr.kind() == btf::Kind::ptr &&
                                ptr.ref() == list_head.id();
  }
  EXPECT_EQ(g(obj, "list_matches"), list_is_two_self_pointers ? 1u : 0u);
  EXPECT_EQ(g(obj, "task_matches"), 0u);  // et_no_such_field is not in the kernel's task_struct

  // Enum value relocations.
  ASSERT_OK_AND_ASSIGN(auto map_types, kbtf.find("bpf_map_type", btf::Kind::enum_));
  std::int64_t ringbuf = -1;
  for (std::uint32_t i = 0; i < map_types.vlen(); ++i)
    if (map_types.enum_value(i).name == "BPF_MAP_TYPE_RINGBUF") ringbuf = map_types.enum_value(i).value;
  EXPECT_EQ(g(obj, "ringbuf_exists"), 1u);
  EXPECT_EQ(static_cast<std::int64_t>(g(obj, "ringbuf_value")), ringbuf);
  EXPECT_EQ(g(obj, "no_enum_exists"), 0u);
  EXPECT_EQ(g(obj, "poisoned_value"), 0u);

  // The report: every kind applied, exactly the two guarded misses poisoned, each with its reason.
  ASSERT_OK_AND_ASSIGN(auto reports, obj.spec().core_report(kbtf));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].function, "core_probe");
  std::set<btf::RelocKind> applied;
  for (const auto& e : reports[0].report.applied) applied.insert(e.result.kind);
  EXPECT_EQ(applied.size(), 13u) << reports[0].report.to_string();
  const auto& poisoned = reports[0].report.poisoned;
  ASSERT_EQ(poisoned.size(), 2u) << reports[0].report.to_string();
  std::set<btf::RelocKind> poisoned_kinds;
  for (const auto& e : poisoned) {
    poisoned_kinds.insert(e.result.kind);
    EXPECT_FALSE(e.result.reason.empty());
  }
  EXPECT_EQ(poisoned_kinds, (std::set<btf::RelocKind>{btf::RelocKind::field_byte_offset, btf::RelocKind::enum_value}));
  std::string text = reports[0].report.to_string();
  EXPECT_NE(text.find("et_no_such_field"), std::string::npos) << text;
  EXPECT_NE(text.find("POISONED (none of 1 candidate(s) has ENUM bpf_map_type___mine"), std::string::npos) << text;
}

}  // namespace
}  // namespace ebpf
