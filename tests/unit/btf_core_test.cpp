// CO-RE relocation: builder-made BTF for each relocation kind and edge case, clang-compiled objects whose
// ground truth is what clang itself computed when compiling the same program against the target layout, and
// relocation against the running kernel's BTF checked with bpftool's view of it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ebpf/btf.hpp"
#include "ebpf/btf/core.hpp"
#include "ebpf/btf/ext.hpp"
#include "ebpf/elf.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;
using ebpf::Errc;
using ebpf::Insn;
namespace core = ebpf::btf::core;

// ---- builder-based cases ----

struct Pair {
  Btf local, target;
  std::uint32_t access(const char* s) { return local_strings.add_string(s); }
  Builder local_strings;
};

// Local: struct task___v1 { int a; int pid; unsigned flags:3; }  enum state { RUN = 1, SLEEP = 2 }
// Target: struct task { long x; int y; int pid; unsigned pad:5, flags:3; } enum state { SLEEP = 7, RUN = 9 }
struct Fixture {
  Builder lb, tb;
  TypeId l_int, l_task, l_enum, l_gone, t_task;
  std::uint32_t acc_root, acc_pid, acc_flags, acc_gone, acc_enum_sleep, acc_enum_1;
  Fixture() {
    l_int = lb.add_int("int", 4, kIntSigned);
    TypeId l_uint = lb.add_int("unsigned int", 4);
    l_task = lb.add_struct("task___v1", 12,
                           {{"a", l_int, 0, 0}, {"pid", l_int, 32, 0}, {"flags", l_uint, 64, 3}, {"gone", l_int, 96, 0}});
    l_enum = lb.add_enum("state", 4, {{"RUN", 1}, {"SLEEP", 2}});
    l_gone = lb.add_struct("nowhere", 4, {{"z", l_int, 0, 0}});
    acc_root = lb.add_string("0");
    acc_pid = lb.add_string("0:1");
    acc_flags = lb.add_string("0:2");
    acc_gone = lb.add_string("0:3");
    acc_enum_1 = lb.add_string("1");
    acc_enum_sleep = acc_enum_1;
    TypeId t_long = tb.add_int("long", 8, kIntSigned);
    TypeId t_int = tb.add_int("int", 4, kIntSigned);
    TypeId t_uint = tb.add_int("unsigned int", 4);
    t_task = tb.add_struct("task", 24,
                           {{"x", t_long, 0, 0}, {"y", t_int, 64, 0}, {"pid", t_int, 96, 0}, {"pad", t_uint, 128, 5},
                            {"flags", t_uint, 133, 3}});
    tb.add_enum("state", 4, {{"SLEEP", 7}, {"RUN", 9}});
  }
  core::RelocResult run(TypeId type, std::uint32_t access, RelocKind kind) {
    auto local = lb.build();
    auto target = tb.build();
    EXPECT_TRUE(local.ok() && target.ok());
    auto r = core::compute(*local, CoreRelo{0, type, access, kind}, *target);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : core::RelocResult{};
  }
};

TEST(BtfCore, FieldRelocations) {
  Fixture f;
  auto off = f.run(f.l_task, f.acc_pid, RelocKind::field_byte_offset);
  EXPECT_EQ(off.local_value, 4u);
  EXPECT_EQ(off.target_value, 12u);
  EXPECT_EQ(off.target_type, f.t_task);
  EXPECT_FALSE(off.poison);
  EXPECT_EQ(f.run(f.l_task, f.acc_pid, RelocKind::field_byte_size).target_value, 4u);
  EXPECT_EQ(f.run(f.l_task, f.acc_pid, RelocKind::field_exists).target_value, 1u);
  EXPECT_EQ(f.run(f.l_task, f.acc_pid, RelocKind::field_signed).target_value, 1u);
  // Bitfield flags: target bits 133..135 -> 4-byte load at byte 16, lshift 64-(133+3-128)=56, rshift 61.
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_byte_offset).target_value, 16u);
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_byte_size).target_value, 4u);
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_signed).target_value, 0u);
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_lshift_u64).target_value, 56u);
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_rshift_u64).target_value, 61u);
  EXPECT_EQ(f.run(f.l_task, f.acc_flags, RelocKind::field_lshift_u64).local_value, 64u - 67u + 64u);
  // Missing field: exists = 0, offset poisoned with a reason.
  EXPECT_EQ(f.run(f.l_task, f.acc_gone, RelocKind::field_exists).target_value, 0u);
  auto gone = f.run(f.l_task, f.acc_gone, RelocKind::field_byte_offset);
  EXPECT_TRUE(gone.poison);
  EXPECT_NE(gone.reason.find("candidate"), std::string::npos) << gone.reason;
  auto nowhere = f.run(f.l_gone, f.acc_root, RelocKind::field_byte_offset);
  EXPECT_TRUE(nowhere.poison);
  EXPECT_NE(nowhere.reason.find("no type named 'nowhere'"), std::string::npos) << nowhere.reason;
}

TEST(BtfCore, TypeAndEnumRelocations) {
  Fixture f;
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_id_local).target_value, f.l_task);
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_id_target).target_value, f.t_task);
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_exists).target_value, 1u);
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_size).target_value, 24u);
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_size).local_value, 12u);
  // type_matches: local has member "a" and "gone" which the target lacks.
  EXPECT_EQ(f.run(f.l_task, f.acc_root, RelocKind::type_matches).target_value, 0u);
  EXPECT_EQ(f.run(f.l_gone, f.acc_root, RelocKind::type_exists).target_value, 0u);
  EXPECT_EQ(f.run(f.l_gone, f.acc_root, RelocKind::type_size).target_value, 0u);
  EXPECT_EQ(f.run(f.l_enum, f.acc_enum_sleep, RelocKind::enum_value_exists).target_value, 1u);
  auto v = f.run(f.l_enum, f.acc_enum_sleep, RelocKind::enum_value);
  EXPECT_EQ(v.local_value, 2u);
  EXPECT_EQ(v.target_value, 7u);
  EXPECT_EQ(f.run(f.l_enum, f.acc_root, RelocKind::enum_value).target_value, 9u);  // RUN
}

TEST(BtfCore, AmbiguousCandidatesMustAgree) {
  Builder lb, tb;
  TypeId li = lb.add_int("int", 4, kIntSigned);
  TypeId ls = lb.add_struct("s", 4, {{"f", li, 0, 0}});
  std::uint32_t acc = lb.add_string("0:0");
  TypeId ti = tb.add_int("int", 4, kIntSigned);
  tb.add_struct("s", 8, {{"f", ti, 0, 0}});
  tb.add_struct("s___b", 8, {{"f", ti, 32, 0}});
  ASSERT_OK_AND_ASSIGN(Btf local, lb.build());
  ASSERT_OK_AND_ASSIGN(Btf target, tb.build());
  auto r = core::compute(local, CoreRelo{0, ls, acc, RelocKind::field_byte_offset}, target);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("ambiguous"), std::string::npos) << r.error().message();
  // Agreeing candidates are fine: same size for both.
  auto size = core::compute(local, CoreRelo{0, ls, acc, RelocKind::field_byte_size}, target);
  ASSERT_OK(size);
  EXPECT_EQ(size->target_value, 4u);
}

TEST(BtfCore, MalformedRelocationsAreErrors) {
  Fixture f;
  ASSERT_OK_AND_ASSIGN(Btf local, f.lb.build());
  ASSERT_OK_AND_ASSIGN(Btf target, f.tb.build());
  std::uint32_t bad_str = f.lb.add_string("0:x");
  std::uint32_t deep = f.lb.add_string("0:9");
  ASSERT_OK_AND_ASSIGN(Btf local2, f.lb.build());
  auto e1 = core::compute(local2, CoreRelo{0, f.l_task, bad_str, RelocKind::field_byte_offset}, target);
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.error().code(), Errc::bad_format);
  EXPECT_NE(e1.error().message().find("malformed access string '0:x'"), std::string::npos);
  auto e2 = core::compute(local2, CoreRelo{0, f.l_task, deep, RelocKind::field_byte_offset}, target);
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message().find("member 9 out of range"), std::string::npos) << e2.error().message();
  auto e3 = core::compute(local, CoreRelo{0, 999, f.acc_root, RelocKind::type_size}, target);
  ASSERT_FALSE(e3.ok());
  auto e4 = core::compute(local, CoreRelo{0, f.l_task, 1u << 30, RelocKind::type_size}, target);
  ASSERT_FALSE(e4.ok());
  auto e5 = core::compute(local, CoreRelo{0, f.l_task, f.acc_pid, RelocKind::type_size}, target);
  ASSERT_FALSE(e5.ok());  // type relocations need "0"
}

TEST(BtfCore, PatchInstructions) {
  core::RelocResult res;
  res.kind = RelocKind::field_byte_offset;
  res.local_value = 4;
  res.target_value = 12;
  res.local_size = 4;
  res.target_size = 8;
  // r0 = *(u32 *)(r1 + 4): offset and width rewritten to *(u64 *)(r1 + 12).
  std::vector<Insn> insns = {Insn{0x61, 0, 1, 4, 0}, Insn{0x95, 0, 0, 0, 0}};
  ASSERT_OK(core::patch_insn(insns, 0, res));
  EXPECT_EQ(insns[0].off, 12);
  EXPECT_EQ(insns[0].code, 0x79);
  // Mismatching expectation is refused.
  std::vector<Insn> wrong = {Insn{0x61, 0, 1, 8, 0}};
  auto e = core::patch_insn(wrong, 0, res);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("holds 8 but the byte_off relocation expected 4"), std::string::npos);
  // ALU immediate and LD_IMM64.
  res.local_size = res.target_size = 0;
  std::vector<Insn> alu = {Insn{0xb7, 1, 0, 0, 4}};
  ASSERT_OK(core::patch_insn(alu, 0, res));
  EXPECT_EQ(alu[0].imm, 12);
  res.target_value = 0x123456789ull;
  std::vector<Insn> wide = {Insn{0x18, 1, 0, 0, 4}, Insn{0, 0, 0, 0, 0}};
  ASSERT_OK(core::patch_insn(wide, 0, res));
  EXPECT_EQ(static_cast<std::uint32_t>(wide[0].imm), 0x23456789u);
  EXPECT_EQ(wide[1].imm, 1);
  // Poison: an invalid helper call the verifier rejects only if reached.
  res.poison = true;
  std::vector<Insn> p = {Insn{0x61, 0, 1, 4, 0}};
  ASSERT_OK(core::patch_insn(p, 0, res));
  EXPECT_EQ(p[0].code, 0x85);
  EXPECT_EQ(p[0].imm, 195896080);
  EXPECT_FALSE(core::patch_insn(p, 5, res).ok());
}

// ---- clang-compiled objects ----

using ebpf::test::TempDir;

const std::string& clang() { return ebpf::test::bpf_clang(); }

const char* kProgram = R"(
#define SEC(n) __attribute__((section(n), used))
#ifdef TARGET
#define OBJ obj
struct inner { unsigned short pad; int x; unsigned int bf2:7, bf1:3; long y; } __attribute__((preserve_access_index));
struct OBJ { char extra[12]; struct inner in; long a; int arr[6]; } __attribute__((preserve_access_index));
enum color { BLUE = 0, GREEN = 20, RED = 10 };
typedef long long wide_t;
#else
#define OBJ obj___local
struct inner { int x; unsigned int bf1:3, bf2:5; } __attribute__((preserve_access_index));
struct OBJ { long a; struct inner in; int arr[4]; int only_local; } __attribute__((preserve_access_index));
enum color { RED = 1, GREEN = 2 };
typedef int wide_t;
#endif
volatile unsigned long out[32];
SEC("xdp") int prog(struct OBJ *p) {
  out[0] = __builtin_preserve_field_info(p->in.x, 0);
  out[1] = __builtin_preserve_field_info(p->in.x, 1);
  out[2] = __builtin_preserve_field_info(p->a, 2);
  out[3] = __builtin_preserve_field_info(p->in.bf1, 3);
  out[4] = __builtin_preserve_field_info(p->in.bf1, 4);
  out[5] = __builtin_preserve_field_info(p->in.bf1, 5);
  out[6] = __builtin_preserve_field_info(p->arr[2], 0);
  out[7] = __builtin_btf_type_id(*p, 0);
  out[8] = __builtin_btf_type_id(*p, 1);
  out[9] = __builtin_preserve_type_info(*p, 0);
  out[10] = __builtin_preserve_type_info(*p, 1);
  out[11] = __builtin_preserve_enum_value(*(enum color *)GREEN, 0);
  out[12] = __builtin_preserve_enum_value(*(enum color *)GREEN, 1);
  out[13] = __builtin_preserve_type_info(*(wide_t *)0, 1);
#if __clang_major__ >= 17
  out[14] = __builtin_preserve_type_info(*(wide_t *)0, 2);
#endif
  out[15] = __builtin_preserve_field_info(p->in.bf2, 1);
  return p->in.x + p->arr[1];
}
#ifndef TARGET
SEC("xdp/gone") int gone(struct OBJ *p) {
  out[20] = __builtin_preserve_field_info(p->only_local, 2);
  return p->only_local;
}
#endif
)";

struct Object {
  ebpf::elf::File file;
  Btf btf;
  BtfExt ext;
  std::vector<Insn> insns(std::string_view section) const {
    auto data = file.data(*file.section(section));
    std::vector<Insn> out(data.size() / 8);
    std::memcpy(out.data(), data.data(), out.size() * 8);
    return out;
  }
};

ebpf::Result<Object> compile(const TempDir& dir, const std::string& name, const std::string& defs) {
  auto obj = EBPF_TRY(ebpf::test::compile_bpf_c(dir, name, kProgram, defs));
  auto file = EBPF_TRY(ebpf::elf::File::open(obj.string()));
  auto btf_sec = file.section(".BTF");
  auto ext_sec = file.section(".BTF.ext");
  if (!btf_sec || !ext_sec) return ebpf::Error::invalid("elf", "no .BTF/.BTF.ext");
  auto btf = EBPF_TRY(Btf::parse(file.data(*btf_sec)));
  auto ext = EBPF_TRY(BtfExt::parse(file.data(*ext_sec), btf));
  return Object{file, btf, ext};
}

std::uint64_t insn_value(std::span<const Insn> insns, std::size_t idx) {
  const Insn& i = insns[idx];
  switch (i.code & 7) {
    case 1: case 2: case 3: return static_cast<std::uint16_t>(i.off);
    case 0: return static_cast<std::uint32_t>(i.imm) | (std::uint64_t{static_cast<std::uint32_t>(insns[idx + 1].imm)} << 32);
    default: return static_cast<std::uint32_t>(i.imm);
  }
}

TEST(BtfCore, ClangObjectsAgreeWithClangsOwnLayout) {
  if (clang().empty()) GTEST_SKIP() << "clang not installed";
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(Object local, compile(dir, "local", ""));
  ASSERT_OK_AND_ASSIGN(Object target, compile(dir, "target", "-DTARGET"));
  auto lrelos = local.ext.core_relos("xdp");
  auto trelos = target.ext.core_relos("xdp");
  ASSERT_EQ(lrelos.size(), trelos.size());
  ASSERT_GE(lrelos.size(), 15u);
  std::set<RelocKind> kinds;
  auto tinsns = target.insns("xdp");
  for (std::size_t i = 0; i < lrelos.size(); ++i) {
    ASSERT_EQ(lrelos[i].kind, trelos[i].kind) << i;
    ASSERT_OK_AND_ASSIGN(auto res, core::compute(local.btf, lrelos[i], target.btf));
    kinds.insert(lrelos[i].kind);
    EXPECT_FALSE(res.poison) << res.reason;
    std::uint64_t truth = insn_value(tinsns, trelos[i].insn_off / 8);
    if (lrelos[i].kind == RelocKind::type_id_local) truth = lrelos[i].type_id;
    // Where clang and libbpf legitimately differ, expect libbpf's documented answers:
    // type_matches of `typedef int` against `typedef long long` is 0; a bitfield's byte size is its member
    // type's size widened only as needed (clang uses the record's alignment).
    if (lrelos[i].kind == RelocKind::type_matches) truth = 0;
    if (lrelos[i].kind == RelocKind::field_byte_size && res.local_spec.find("bf2") != std::string::npos) truth = 4;
    EXPECT_EQ(res.target_value, truth) << "relocation " << i << " " << reloc_kind_name(lrelos[i].kind) << " "
                                       << res.local_spec << " -> " << res.target_spec;
  }
  EXPECT_GE(kinds.size(), 12u);  // every kind (13 with clang >= 17)
  // Applying them patches the instructions to clang's target values.
  auto insns = local.insns("xdp");
  ASSERT_OK_AND_ASSIGN(auto report, core::relocate(local.btf, lrelos, target.btf, insns));
  EXPECT_EQ(report.applied.size(), lrelos.size());
  EXPECT_TRUE(report.poisoned.empty()) << report.to_string();
  for (const auto& e : report.applied)
    if (e.result.kind != RelocKind::type_id_local) {
      EXPECT_EQ(insn_value(insns, e.insn_idx), e.result.target_value);
    }
  // The field only the local layout has: exists = 0 and its load is poisoned.
  auto gone_insns = local.insns("xdp/gone");
  ASSERT_OK_AND_ASSIGN(auto gone, core::relocate(local.btf, local.ext.core_relos("xdp/gone"), target.btf, gone_insns));
  ASSERT_EQ(gone.poisoned.size(), 1u) << gone.to_string();
  EXPECT_EQ(gone_insns[gone.poisoned[0].insn_idx].imm, core::kPoisonHelperId);
  ASSERT_EQ(gone.applied.size(), 1u);
  EXPECT_EQ(gone.applied[0].result.kind, RelocKind::field_exists);
  EXPECT_EQ(gone.applied[0].result.target_value, 0u);
}

TEST(BtfCore, VmlinuxTaskStructPidMatchesBpftool) {
  if (clang().empty()) GTEST_SKIP() << "clang not installed";
  auto vmlinux = Btf::load_vmlinux();
  if (!vmlinux.ok()) GTEST_SKIP() << "no vmlinux BTF";
  TempDir dir;
  auto obj = ebpf::test::compile_bpf_c(dir, "t", R"(
struct task_struct___mine { int pid; int tgid; } __attribute__((preserve_access_index));
__attribute__((section("tp_btf/x"), used)) int t(struct task_struct___mine *t) { return t->pid + t->tgid; }
)");
  ASSERT_OK(obj);
  ASSERT_OK_AND_ASSIGN(auto file, ebpf::elf::File::open(obj->string()));
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(file.data(*file.section(".BTF"))));
  ASSERT_OK_AND_ASSIGN(BtfExt ext, BtfExt::parse(file.data(*file.section(".BTF.ext")), btf));
  auto data = file.data(*file.section("tp_btf/x"));
  std::vector<Insn> insns(data.size() / 8);
  std::memcpy(insns.data(), data.data(), data.size());
  ASSERT_OK_AND_ASSIGN(auto report, core::relocate(btf, ext.core_relos("tp_btf/x"), *vmlinux, insns));
  ASSERT_EQ(report.applied.size(), 2u) << report.to_string();
  // bpftool's raw listing of task_struct gives the bit offsets.
  FILE* p = ::popen("bpftool btf dump file /sys/kernel/btf/vmlinux | grep -A4000 \"STRUCT 'task_struct' size\" | "
                    "grep -m2 -E \"'(pid|tgid)' \" | sed 's/.*bits_offset=//'", "r");
  ASSERT_NE(p, nullptr);
  unsigned long pid_bits = 0, tgid_bits = 0;
  ASSERT_EQ(std::fscanf(p, "%lu %lu", &pid_bits, &tgid_bits), 2);
  ::pclose(p);
  std::set<std::uint64_t> got, want = {pid_bits / 8, tgid_bits / 8};
  for (const auto& e : report.applied) {
    got.insert(e.result.target_value);
    EXPECT_EQ(insns[e.insn_idx].off, static_cast<std::int16_t>(e.result.target_value));
  }
  EXPECT_EQ(got, want) << report.to_string();
}

}  // namespace
