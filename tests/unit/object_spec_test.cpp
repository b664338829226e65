// ObjectSpec parsing of clang-built objects: programs per section, static programs, subprograms, BTF and
// legacy maps, global data, externs, map `values` initialisation, relocations and .BTF.ext records.
#include <algorithm>
#include <cstring>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"
#include "elf_test_support.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kRich = R"(
struct inner_t { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); };
struct {
  __uint(type, 1); __type(key, __u32); __type(value, __u64); __uint(max_entries, 16);
  __uint(map_flags, 1); __uint(pinning, 1); __uint(numa_node, 0);
} hashmap SEC(".maps");
struct { __uint(type, 2); __uint(key_size, 4); __uint(value_size, 24); __uint(max_entries, 0); } sized SEC(".maps");
struct { __uint(type, 12); __uint(key_size, 4); __uint(max_entries, 2); __array(values, struct inner_t); }
  outer SEC(".maps") = { .values = { [1] = &hashmap } };
struct { __uint(type, 30); __uint(max_entries, 0); __uint(map_extra, 3); __type(value, __u32); } bloom SEC(".maps");

int tail_a(struct xdp_md *ctx);
struct { __uint(type, 3); __uint(max_entries, 4); __type(key, __u32); __array(values, int (void *)); }
  jumps SEC(".maps") = { .values = { [0] = (void *)&tail_a, [3] = (void *)&tail_a } };

volatile const __u32 cfg_port = 80;
volatile const __u32 cfg_other = 7;
__u64 packets = 0;
__u64 dropped = 5;
volatile __u32 custom_ro SEC(".rodata.custom") = 9;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern unsigned int CONFIG_HZ __kconfig __weak;

static __noinline int helper_static(int x) { return x * 3 + cfg_other; }
__noinline int helper_global(int x) { return x + 1; }
static int loop_cb(__u32 i, void *ctx) { return 0; }

SEC("xdp") int xdp_one(struct xdp_md *ctx) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&hashmap, &k);
  if (v) *v += cfg_port;
  packets++;
  return helper_static(ctx->data) + helper_global(2) + LINUX_KERNEL_VERSION + CONFIG_HZ;
}
SEC("xdp") int xdp_two(struct xdp_md *ctx) {
  bpf_loop(4, loop_cb, 0, 0);
  bpf_tail_call(ctx, &jumps, 0);
  return dropped + custom_ro;
}
SEC("xdp") int tail_a(struct xdp_md *ctx) { return 1; }
SEC("kprobe/do_unlinkat") int probe(void *ctx) { return helper_global(1); }
SEC("tracepoint/sched/sched_switch") int tp(void *ctx) { return 0; }
SEC("xdp.frags") int frags(struct xdp_md *ctx) { return 2; }
char LICENSE[] SEC("license") = "Dual BSD/GPL";
)";

const Relocation* find_reloc(const ProgramSpec& p, RelocationKind kind, std::string_view symbol) {
  for (const auto& r : p.relocations)
    if (r.kind == kind && r.symbol == symbol) return &r;
  return nullptr;
}

TEST(ObjectSpec, ProgramsAndSubprograms) {
  EBPF_COMPILE_BPF(obj, kRich);
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  EXPECT_EQ(spec.license, "Dual BSD/GPL");
  std::vector<std::string> names;
  for (const auto& p : spec.programs) names.push_back(p.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"frags", "probe", "tail_a", "tp", "xdp_one", "xdp_two"}));

  const auto* one = spec.program("xdp_one");
  const auto* two = spec.program("xdp_two");
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  // Three programs share section "xdp": each has its own instructions, in order.
  EXPECT_EQ(one->section, "xdp");
  EXPECT_EQ(two->section, "xdp");
  // Their instruction ranges tile the section exactly.
  std::vector<const ProgramSpec*> in_xdp;
  for (const auto& p : spec.programs)
    if (p.section == "xdp") in_xdp.push_back(&p);
  ASSERT_EQ(in_xdp.size(), 3u);
  std::sort(in_xdp.begin(), in_xdp.end(), [](auto* a, auto* b) { return a->section_offset < b->section_offset; });
  std::uint64_t next = 0;
  for (const auto* p : in_xdp) {
    EXPECT_EQ(p->section_offset, next) << p->name;
    next += p->insns.size() * 8;
  }
  ASSERT_OK_AND_ASSIGN(auto file, elf::File::view(obj));
  EXPECT_EQ(next, file.section("xdp")->size);
  EXPECT_EQ(one->type, ProgType::xdp);
  EXPECT_EQ(one->expected_attach_type, AttachType::xdp);
  EXPECT_EQ(one->license, "Dual BSD/GPL");
  EXPECT_EQ(one->insns.back().code, 0x95);  // exit
  EXPECT_EQ(two->insns.back().code, 0x95);

  const auto* probe = spec.program("probe");
  EXPECT_EQ(probe->type, ProgType::kprobe);
  EXPECT_EQ(probe->attach_to, "do_unlinkat");
  EXPECT_EQ(spec.program("tp")->type, ProgType::tracepoint);
  EXPECT_EQ(spec.program("tp")->attach_to, "sched/sched_switch");
  EXPECT_EQ(spec.program("frags")->flags, prog_flags::xdp_has_frags);

  // .text functions are subprograms; static ones included.
  std::vector<std::string> subs;
  for (const auto& s : spec.subprograms) {
    subs.push_back(s.name);
    EXPECT_TRUE(s.subprogram);
  }
  std::sort(subs.begin(), subs.end());
  EXPECT_EQ(subs, (std::vector<std::string>{"helper_global", "helper_static", "loop_cb"}));
  EXPECT_FALSE(spec.function("helper_static")->global);
  EXPECT_TRUE(spec.function("helper_global")->global);
}

TEST(ObjectSpec, Relocations) {
  EBPF_COMPILE_BPF(obj, kRich);
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto& one = *spec.program("xdp_one");
  const auto* m = find_reloc(one, RelocationKind::map_fd, "hashmap");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(one.insns[m->insn].code, 0x18);
  const auto* port = find_reloc(one, RelocationKind::map_value, ".rodata");
  ASSERT_NE(port, nullptr);
  // cfg_port's offset in .rodata as given by the symbol table.
  const auto* rodata = spec.map(".rodata");
  ASSERT_NE(rodata, nullptr);
  auto var = std::find_if(rodata->variables.begin(), rodata->variables.end(),
                          [](const Variable& v) { return v.name == "cfg_port"; });
  ASSERT_NE(var, rodata->variables.end());
  EXPECT_EQ(port->offset, var->offset);
  EXPECT_NE(find_reloc(one, RelocationKind::map_value, ".bss"), nullptr);
  const auto* call_static = find_reloc(one, RelocationKind::subprog_call, "helper_static");
  ASSERT_NE(call_static, nullptr);
  EXPECT_EQ(call_static->offset, 0u);
  EXPECT_EQ(one.insns[call_static->insn].code, 0x85);
  EXPECT_EQ(one.insns[call_static->insn].src, 1);
  EXPECT_NE(find_reloc(one, RelocationKind::subprog_call, "helper_global"), nullptr);
  const auto* kver = find_reloc(one, RelocationKind::kconfig, "LINUX_KERNEL_VERSION");
  ASSERT_NE(kver, nullptr);
  const auto* hz = find_reloc(one, RelocationKind::kconfig, "CONFIG_HZ");
  ASSERT_NE(hz, nullptr);
  EXPECT_TRUE(hz->weak);
  EXPECT_NE(kver->offset, hz->offset);

  const auto& two = *spec.program("xdp_two");
  EXPECT_NE(find_reloc(two, RelocationKind::subprog_addr, "loop_cb"), nullptr);
  EXPECT_NE(find_reloc(two, RelocationKind::map_fd, "jumps"), nullptr);
  EXPECT_NE(find_reloc(two, RelocationKind::map_value, ".data"), nullptr);
  EXPECT_NE(find_reloc(two, RelocationKind::map_value, ".rodata.custom"), nullptr);
  // helper_static itself reads .rodata (cfg_other).
  EXPECT_NE(find_reloc(*spec.function("helper_static"), RelocationKind::map_value, ".rodata"), nullptr);
}

TEST(ObjectSpec, BtfMaps) {
  EBPF_COMPILE_BPF(obj, kRich);
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto* h = spec.map("hashmap");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->source, MapSource::btf);
  EXPECT_EQ(h->type, MapType::hash);
  EXPECT_EQ(h->key_size, 4u);
  EXPECT_EQ(h->value_size, 8u);
  EXPECT_EQ(h->max_entries, 16u);
  EXPECT_EQ(h->flags, 1u);
  EXPECT_EQ(h->pinning, PinType::by_name);
  ASSERT_TRUE(spec.btf.has_value());
  EXPECT_EQ(spec.btf->resolve_size(h->btf_key_type).value_or(0), 4u);
  EXPECT_EQ(spec.btf->resolve_size(h->btf_value_type).value_or(0), 8u);
  EXPECT_EQ(spec.btf->at(h->btf_key_type).name(), "__u32");

  const auto* sized = spec.map("sized");
  EXPECT_EQ(sized->value_size, 24u);
  EXPECT_EQ(sized->max_entries, 0u);  // sized at run time
  EXPECT_EQ(sized->btf_key_type, 0u);

  const auto* outer = spec.map("outer");
  EXPECT_EQ(outer->type, MapType::array_of_maps);
  EXPECT_EQ(outer->value_size, 4u);
  ASSERT_EQ(outer->inner.size(), 1u);
  EXPECT_EQ(outer->inner[0].type, MapType::array);
  EXPECT_EQ(outer->inner[0].key_size, 4u);
  EXPECT_EQ(outer->inner[0].value_size, 4u);
  ASSERT_EQ(outer->initial_slots.size(), 1u);
  EXPECT_EQ(outer->initial_slots[0], (std::pair<std::uint32_t, std::string>{1, "hashmap"}));

  const auto* jumps = spec.map("jumps");
  EXPECT_EQ(jumps->type, MapType::prog_array);
  EXPECT_EQ(jumps->value_size, 4u);
  EXPECT_EQ(jumps->initial_slots,
            (std::vector<std::pair<std::uint32_t, std::string>>{{0, "tail_a"}, {3, "tail_a"}}));

  const auto* bloom = spec.map("bloom");
  EXPECT_EQ(bloom->type, MapType::bloom_filter);
  EXPECT_EQ(bloom->map_extra, 3u);
}

TEST(ObjectSpec, GlobalDataAndKconfig) {
  EBPF_COMPILE_BPF(obj, kRich);
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto* ro = spec.map(".rodata");
  ASSERT_NE(ro, nullptr);
  EXPECT_EQ(ro->source, MapSource::data_section);
  EXPECT_EQ(ro->type, MapType::array);
  EXPECT_EQ(ro->max_entries, 1u);
  EXPECT_TRUE(ro->readonly);
  EXPECT_EQ(ro->flags & map_flags::rdonly_prog, map_flags::rdonly_prog);
  EXPECT_EQ(ro->value_size, ro->contents.size());
  for (const auto& v : ro->variables) {
    std::uint32_t value = 0;
    ASSERT_LE(v.offset + 4, ro->contents.size());
    std::memcpy(&value, ro->contents.data() + v.offset, 4);
    if (v.name == "cfg_port") {
      EXPECT_EQ(value, 80u);
    } else if (v.name == "cfg_other") {
      EXPECT_EQ(value, 7u);
    }
    EXPECT_NE(v.btf_type, 0u) << v.name;
  }
  EXPECT_EQ(ro->variables.size(), 2u);

  const auto* data = spec.map(".data");
  ASSERT_NE(data, nullptr);
  EXPECT_FALSE(data->readonly);
  ASSERT_EQ(data->variables.size(), 1u);
  EXPECT_EQ(data->variables[0].name, "dropped");
  std::uint64_t dropped = 0;
  std::memcpy(&dropped, data->contents.data() + data->variables[0].offset, 8);
  EXPECT_EQ(dropped, 5u);

  const auto* bss = spec.map(".bss");
  ASSERT_NE(bss, nullptr);
  EXPECT_TRUE(std::all_of(bss->contents.begin(), bss->contents.end(), [](std::byte b) { return b == std::byte{0}; }));
  EXPECT_EQ(bss->variables.at(0).name, "packets");

  const auto* custom = spec.map(".rodata.custom");
  ASSERT_NE(custom, nullptr);
  EXPECT_TRUE(custom->readonly);

  const auto* kconfig = spec.map(".kconfig");
  ASSERT_NE(kconfig, nullptr);
  EXPECT_EQ(kconfig->source, MapSource::kconfig);
  ASSERT_EQ(kconfig->variables.size(), 2u);
  EXPECT_EQ(kconfig->value_size % 8, 0u);
  for (const auto& v : kconfig->variables) EXPECT_EQ(v.size, 4u);
}

// A kconfig extern's size comes from BTF; an absurd one (here a 1 MiB char array, in the fuzzer's case a
// corrupt size) must be refused by name instead of sizing the .kconfig map from it.
TEST(ObjectSpec, OversizedKconfigExternIsAClearError) {
  EBPF_COMPILE_BPF(obj, R"(
extern char CONFIG_HUGE_STRING[1 << 20] __kconfig __weak;
SEC("xdp") int read_it(struct xdp_md *ctx) { return CONFIG_HUGE_STRING[0]; }
char LICENSE[] SEC("license") = "GPL";
)");
  auto spec = ObjectSpec::parse(obj);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("CONFIG_HUGE_STRING"), std::string::npos) << spec.error().message();
  EXPECT_NE(spec.error().message().find("1048576"), std::string::npos) << spec.error().message();
}

TEST(ObjectSpec, BtfExtRecordsAreRebasedPerFunction) {
  EBPF_COMPILE_BPF(obj, kRich);
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  ASSERT_TRUE(spec.btf_ext.has_value());
  for (const auto* p : {spec.program("xdp_one"), spec.program("xdp_two"), spec.program("tail_a")}) {
    ASSERT_FALSE(p->func_info.empty()) << p->name;
    EXPECT_EQ(p->func_info[0].insn_off, 0u) << p->name;  // the function's own FUNC record at its first insn
    EXPECT_EQ(spec.btf->at(p->func_info[0].type_id).name(), p->name);
    ASSERT_FALSE(p->line_info.empty());
    for (const auto& l : p->line_info) EXPECT_LT(l.insn_off / 8, p->insns.size());
  }
}

TEST(ObjectSpec, LegacyMapsSection) {
  EBPF_COMPILE_BPF(obj, R"(
struct bpf_map_def { __u32 type, key_size, value_size, max_entries, map_flags; };
struct bpf_elf_map { __u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx; };
struct bpf_map_def SEC("maps") first = { .type = 1, .key_size = 4, .value_size = 8, .max_entries = 10, .map_flags = 1 };
struct bpf_map_def SEC("maps") second = { .type = 2, .key_size = 4, .value_size = 16, .max_entries = 3 };
struct bpf_elf_map SEC("maps/iproute") pinned = { .type = 1, .size_key = 4, .size_value = 4, .max_elem = 2, .pinning = 2 };
SEC("classifier") int cls(struct __sk_buff *skb) {
  __u32 k = 0;
  return bpf_map_lookup_elem(&first, &k) != 0 && bpf_map_lookup_elem(&second, &k) != 0 &&
         bpf_map_lookup_elem(&pinned, &k) != 0;
}
)");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto* first = spec.map("first");
  const auto* second = spec.map("second");
  const auto* pinned = spec.map("pinned");
  ASSERT_TRUE(first && second && pinned);
  EXPECT_EQ(first->source, MapSource::legacy);
  EXPECT_EQ(first->type, MapType::hash);
  EXPECT_EQ(first->max_entries, 10u);
  EXPECT_EQ(first->flags, 1u);
  EXPECT_EQ(second->type, MapType::array);
  EXPECT_EQ(second->value_size, 16u);
  EXPECT_EQ(pinned->pinning, PinType::global_ns);
  const auto& cls = *spec.program("cls");
  EXPECT_EQ(cls.type, ProgType::sched_cls);
  for (const char* n : {"first", "second", "pinned"})
    EXPECT_NE(find_reloc(cls, RelocationKind::map_fd, n), nullptr) << n;
  EXPECT_FALSE(spec.btf_ext.has_value() && spec.program("cls")->func_info.empty());
}

TEST(ObjectSpec, KsymAndKfuncExterns) {
  EBPF_COMPILE_BPF(obj, R"(
extern const int bpf_prog_active __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("tp_btf/sched_switch") int on_switch(void *ctx) {
  bpf_rcu_read_lock();
  bpf_rcu_read_unlock();
  return (long)&bpf_prog_active & 0xff;
}
char LICENSE[] SEC("license") = "GPL";
)");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto& p = *spec.program("on_switch");
  EXPECT_EQ(p.type, ProgType::tracing);
  EXPECT_EQ(p.expected_attach_type, AttachType::trace_raw_tp);
  EXPECT_NE(find_reloc(p, RelocationKind::ksym, "bpf_prog_active"), nullptr);
  EXPECT_NE(find_reloc(p, RelocationKind::kfunc_call, "bpf_rcu_read_lock"), nullptr);
  EXPECT_NE(find_reloc(p, RelocationKind::kfunc_call, "bpf_rcu_read_unlock"), nullptr);
  EXPECT_EQ(spec.map(".kconfig"), nullptr);
}

TEST(ObjectSpec, StaticProgramsAndUnknownSections) {
  EBPF_COMPILE_BPF(obj, R"(
static __noinline int in_custom(int x) SEC("custom_code");
static __noinline int in_custom(int x) { return x + 1; }
SEC("socket") static int static_filter(struct __sk_buff *skb) { return in_custom(skb->len); }
)");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto* f = spec.program("static_filter");
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->global);
  EXPECT_EQ(f->type, ProgType::socket_filter);
  const auto* custom = spec.program("in_custom");
  ASSERT_NE(custom, nullptr);
  EXPECT_EQ(custom->type, ProgType::unspec);  // the section name follows no convention
  EXPECT_FALSE(custom->section_info.has_value());
  EXPECT_NE(find_reloc(*f, RelocationKind::subprog_call, "in_custom"), nullptr);
}

// Function symbols whose ranges overlap (hand-written assembly; compilers do not emit this): a location inside
// both belongs to the first function, as it always has. The parser bisects only sections whose functions are
// disjoint, so this pins the fallback.
TEST(ObjectSpec, OverlappingFunctionSymbolsResolveToTheFirst) {
  EBPF_COMPILE_BPF(obj, R"(
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } m SEC(".maps");
asm(".pushsection xdp,\"ax\",@progbits\n"
    ".globl outer\n.type outer,@function\nouter:\n  r0 = 0\n"
    ".globl inner\n.type inner,@function\ninner:\n  r1 = m ll\n  r0 = 2\n  exit\n"
    ".size outer, 40\n.size inner, 32\n.popsection\n");
char LICENSE[] SEC("license") = "GPL";
)");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::parse(obj));
  const auto* outer = spec.program("outer");
  const auto* inner = spec.program("inner");
  ASSERT_NE(outer, nullptr);
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(outer->insns.size(), 5u);
  EXPECT_EQ(inner->insns.size(), 4u);
  ASSERT_EQ(outer->relocations.size(), 1u);
  EXPECT_EQ(outer->relocations[0].insn, 1u);
  EXPECT_EQ(outer->relocations[0].kind, RelocationKind::map_fd);
  EXPECT_EQ(outer->relocations[0].symbol, "m");
  EXPECT_TRUE(inner->relocations.empty());
}

TEST(ObjectSpec, MissingBtfForDotMapsIsAnError) {
  EBPF_COMPILE_BPF(obj, R"(
struct { __uint(type, 1); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx) { __u32 k = 0; return bpf_map_lookup_elem(&m, &k) != 0; }
)", "bpfel", "-g0");
  auto spec = ObjectSpec::parse(obj);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), Errc::bad_format);
  EXPECT_NE(spec.error().message().find("needs BTF"), std::string::npos) << spec.error().to_string();
}

}  // namespace
}  // namespace ebpf
