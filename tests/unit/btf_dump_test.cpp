// BTF dumps: the raw listing must equal bpftool's byte for byte; the C dump must compile with clang and
// reproduce every struct's size and member offsets (checked by _Static_asserts generated from the BTF).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "ebpf/btf.hpp"
#include "ebpf/btf/dump.hpp"
#include "ebpf/elf.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;

using ebpf::test::TempDir;

const std::string& clang() { return ebpf::test::bpf_clang(); }
bool have_bpftool() { return std::system("bpftool version >/dev/null 2>&1") == 0; }

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

// _Static_asserts for the size and the byte offset of every non-bitfield named member of every uniquely
// named struct/union (names that occur more than once get renamed by the dumper, so they are skipped).
std::string layout_asserts(const Btf& btf) {
  std::map<std::string, int> count;
  for (Type t : btf)
    if ((t.is_struct_or_union() || t.is_enum()) && !t.name().empty()) ++count[std::string(t.name())];
  std::ostringstream out;
  for (Type t : btf) {
    if (!t.is_struct_or_union() || t.name().empty() || count[std::string(t.name())] != 1) continue;
    std::string tag = (t.kind() == Kind::union_ ? "union " : "struct ") + std::string(t.name());
    out << "_Static_assert(sizeof(" << tag << ") == " << t.size() << ", \"size of " << tag << "\");\n";
    for (std::uint32_t i = 0; i < t.vlen(); ++i) {
      Member m = t.member(i);
      if (m.name.empty() || m.bitfield_size || m.bit_offset % 8) continue;
      out << "_Static_assert(__builtin_offsetof(" << tag << ", " << m.name << ") == " << m.bit_offset / 8
          << ", \"" << tag << "." << m.name << "\");\n";
    }
  }
  return out.str();
}

const char* kSource = R"(
typedef unsigned long long u64;
typedef int (*handler_t)(void *ctx, const char *name, ...);
struct list { struct list *next, *prev; };
enum mode { MODE_A = 1, MODE_B = -2 };
enum big { BIG = 0x100000000ULL };
struct node;
union value { u64 u; double d; char bytes[8]; struct { short lo, hi; } parts; };
struct packed_thing { char c; int i; } __attribute__((packed));
struct flags { unsigned int a:3, b:7; int :0; unsigned char c:2; long tail; };
struct aligned { char c; long long x __attribute__((aligned(16))); };
struct holder {
  struct list link;
  union value v;
  enum mode m;
  enum big b;
  struct flags f;
  struct packed_thing p[3];
  struct aligned al;
  handler_t cb;
  void (*(*table)[4])(int);
  const volatile int *const cv;
  struct node *opaque;
  char name[16][2];
  struct { int x, y; } point;
  int tail[];
};
struct holder h;
int use(struct holder *x) { return x->m; }
)";

TEST(BtfDump, RawMatchesBpftoolAndCCompilesWithTheSameLayout) {
  if (clang().empty()) GTEST_SKIP() << "clang not installed";
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto obj_path, ebpf::test::compile_bpf_c(dir, "src", kSource));
  std::string obj = obj_path.string();
  ASSERT_OK_AND_ASSIGN(auto file, ebpf::elf::File::open(obj));
  ASSERT_NE(file.section(".BTF"), nullptr);
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(file.data(*file.section(".BTF"))));
  if (have_bpftool()) {
    EXPECT_EQ(dump_raw(btf), run("bpftool btf dump file " + obj));
  }
  ASSERT_OK_AND_ASSIGN(std::string header, dump_c(btf));
  EXPECT_NE(header.find("struct holder {"), std::string::npos);
  EXPECT_NE(header.find("__attribute__((packed))"), std::string::npos);
  EXPECT_NE(header.find("void (*(*table)[4])(int);"), std::string::npos) << header;
  EXPECT_NE(header.find("const volatile int *const cv;"), std::string::npos) << header;
  EXPECT_NE(header.find("typedef int (*handler_t)(void *, const char *, ...);"), std::string::npos) << header;
  std::ofstream(dir.path() / "dump.h") << header;
  std::ofstream(dir.path() / "check.c") << "#include \"dump.h\"\n" << layout_asserts(btf);
  std::string cmd = clang() + " -target bpf -fsyntax-only -Werror " + (dir.path() / "check.c").string() + " 2>&1";
  std::string errors = run(cmd + "; echo rc=$?");
  EXPECT_NE(errors.find("rc=0"), std::string::npos) << errors << "\n" << header;
}

TEST(BtfDump, VmlinuxHeaderCompilesWithKernelLayout) {
  if (clang().empty()) GTEST_SKIP() << "clang not installed";
  auto vmlinux = Btf::load_vmlinux();
  if (!vmlinux.ok()) GTEST_SKIP() << "no vmlinux BTF";
  TempDir dir;
  if (have_bpftool()) {
    EXPECT_TRUE(dump_raw(*vmlinux) == run("bpftool btf dump file /sys/kernel/btf/vmlinux"));
  }
  ASSERT_OK_AND_ASSIGN(std::string header, dump_c(*vmlinux));
  std::ofstream(dir.path() / "vmlinux.h") << header;
  std::ofstream(dir.path() / "use.c") << "#include \"vmlinux.h\"\n";
  std::ofstream(dir.path() / "check.c") << "#include \"vmlinux.h\"\n" << layout_asserts(*vmlinux);
  // As BPF code includes it: must compile warning-free.
  std::string bpf = run(clang() + " -target bpf -fsyntax-only -Werror " + (dir.path() / "use.c").string() +
                        " 2>&1 | head -20; echo rc=$?");
  EXPECT_EQ(bpf, "rc=0\n") << bpf;
  // Layout against the kernel's own ABI (x86-64: there __builtin_va_list has the kernel's size).
  std::string layout = run(clang() + " --target=x86_64-linux-gnu -DBPF_NO_PRESERVE_ACCESS_INDEX -fsyntax-only " + (dir.path() / "check.c").string() +
                           " 2>&1 | head -20");
  EXPECT_EQ(layout, "") << layout;
}

TEST(BtfDump, RawFormatsEveryKind) {
  Builder b;
  TypeId i = b.add_int("int", 4, kIntSigned);
  TypeId v = b.add_var("x", i, kVarStatic);
  b.add_datasec(".bss", 4, {{v, 0, 4}});
  b.add_enum64("e", 8, {{"NEG", -5}}, true);
  b.add_type_tag("user", i);
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  EXPECT_EQ(dump_raw(btf),
            "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n"
            "[2] VAR 'x' type_id=1, linkage=static\n"
            "[3] DATASEC '.bss' size=4 vlen=1\n\ttype_id=2 offset=0 size=4 (VAR 'x')\n"
            "[4] ENUM64 'e' encoding=SIGNED size=8 vlen=1\n\t'NEG' val=-5LL\n"
            "[5] TYPE_TAG 'user' type_id=1\n");
}

TEST(BtfDump, CyclesInMalformedBtfAreErrors) {
  Builder b;
  b.add_typedef("a", 2);
  b.add_typedef("b", 1);
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  auto r = dump_c(btf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ebpf::Errc::bad_format);
}

}  // namespace
