// Real-world objects from Debian packages: cilium/ebpf's loader testdata (little- and big-endian, legacy maps,
// static programs, subprograms), libbpf-tools' skeleton-embedded objects and xdp-tools' objects.
// A missing package is a skip locally and a failure under CI=true.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"
#include "elf_test_support.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

namespace fs = std::filesystem;

const fs::path kCiliumTestdata = "/usr/share/gocode/src/github.com/cilium/ebpf/testdata";
const fs::path kXdpToolsDir = "/usr/lib/x86_64-linux-gnu/bpf";

#define REQUIRE_PATH(path, package)                                                       \
  do {                                                                                    \
    if (!fs::exists(path)) {                                                              \
      if (::ebpf::test::running_in_ci()) FAIL() << path << " missing: install " package;  \
      GTEST_SKIP() << path << " missing: apt-get install " package;                       \
    }                                                                                     \
  } while (0)

std::vector<fs::path> files_with_suffix(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().ends_with(suffix)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ObjectCorpus, CiliumLittleEndianObjectsParse) {
  REQUIRE_PATH(kCiliumTestdata, "golang-github-cilium-ebpf-dev");
  int parsed = 0;
  for (const auto& path : files_with_suffix(kCiliumTestdata, "-el.elf")) {
    std::string name = path.filename().string();
    auto spec = ObjectSpec::open(path.string());
    if (name.starts_with("invalid_map-") || name.starts_with("invalid_btf_map_init-")) {
      // Deliberately malformed map definitions: non-zero unknown fields / initialised BTF map bytes.
      ASSERT_FALSE(spec) << name;
      EXPECT_EQ(spec.error().code(), Errc::bad_format);
      continue;
    }
    ASSERT_TRUE(spec.has_value()) << name << ": " << spec.error().to_string();
    ++parsed;
  }
  EXPECT_GE(parsed, 12);
}

TEST(ObjectCorpus, CiliumBigEndianObjectsAreRefusedClearly) {
  REQUIRE_PATH(kCiliumTestdata, "golang-github-cilium-ebpf-dev");
  auto files = files_with_suffix(kCiliumTestdata, "-eb.elf");
  ASSERT_GE(files.size(), 10u);
  for (const auto& path : files) {
    auto spec = ObjectSpec::open(path.string());
    ASSERT_FALSE(spec) << path;
    EXPECT_EQ(spec.error().code(), Errc::bad_format);
    EXPECT_NE(spec.error().message().find("big-endian"), std::string::npos) << spec.error().to_string();
  }
}

TEST(ObjectCorpus, CiliumLoaderObject) {
  REQUIRE_PATH(kCiliumTestdata / "loader-el.elf", "golang-github-cilium-ebpf-dev");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::open((kCiliumTestdata / "loader-el.elf").string()));
  EXPECT_EQ(spec.license, "MIT");
  const auto* xdp = spec.program("xdp_prog");
  ASSERT_NE(xdp, nullptr);
  EXPECT_EQ(xdp->type, ProgType::xdp);
  EXPECT_EQ(spec.program("no_relocation")->type, ProgType::socket_filter);
  // static_fn lives alone in section "static" and global_fn3 in "other": programs of unknown type.
  ASSERT_NE(spec.program("static_fn"), nullptr);
  EXPECT_FALSE(spec.program("static_fn")->global);
  EXPECT_EQ(spec.program("global_fn3")->type, ProgType::unspec);
  // global_fn (.text) calls static_fn, global_fn2 and global_fn3 across three sections.
  const auto* global_fn = spec.function("global_fn");
  ASSERT_NE(global_fn, nullptr);
  EXPECT_TRUE(global_fn->subprogram);
  std::set<std::string> callees;
  for (const auto& r : global_fn->relocations)
    if (r.kind == RelocationKind::subprog_call) callees.insert(r.symbol);
  EXPECT_EQ(callees, (std::set<std::string>{"static_fn", "global_fn2", "global_fn3"}));

  EXPECT_EQ(spec.map("btf_pin")->pinning, PinType::by_name);
  EXPECT_EQ(spec.map("hash_map")->flags, 1u);
  ASSERT_EQ(spec.map("btf_outer_map")->inner.size(), 1u);
  EXPECT_EQ(spec.map("btf_outer_map")->inner[0].type, MapType::hash);
  ASSERT_EQ(spec.map("btf_outer_map_anon")->inner.size(), 1u);
  EXPECT_EQ(spec.map("btf_outer_map_anon")->inner[0].value_size, 4u);
  EXPECT_EQ(spec.map("perf_event_array")->max_entries, 4096u);
  EXPECT_EQ(spec.map("array_of_hash_map")->source, MapSource::legacy);
  ASSERT_NE(spec.map(".rodata.test"), nullptr);
  EXPECT_EQ(spec.map(".rodata.test")->variables.at(0).name, "arg2");
}

TEST(ObjectCorpus, CiliumIproute2MapCompat) {
  REQUIRE_PATH(kCiliumTestdata / "iproute2_map_compat-el.elf", "golang-github-cilium-ebpf-dev");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::open((kCiliumTestdata / "iproute2_map_compat-el.elf").string()));
  const auto* m = spec.map("hash_map");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->type, MapType::hash);
  EXPECT_EQ(m->key_size, 4u);
  EXPECT_EQ(m->value_size, 8u);
  EXPECT_EQ(m->max_entries, 2u);
  EXPECT_EQ(m->pinning, PinType::global_ns);
}

TEST(ObjectCorpus, CiliumBtfMapInit) {
  REQUIRE_PATH(kCiliumTestdata / "btf_map_init-el.elf", "golang-github-cilium-ebpf-dev");
  ASSERT_OK_AND_ASSIGN(auto spec, ObjectSpec::open((kCiliumTestdata / "btf_map_init-el.elf").string()));
  std::size_t slots = 0;
  for (const auto& m : spec.maps) {
    for (const auto& [slot, target] : m.initial_slots) {
      ++slots;
      if (m.type == MapType::prog_array)
        EXPECT_NE(spec.function(target), nullptr) << m.name << "[" << slot << "] = " << target;
      else
        EXPECT_NE(spec.map(target), nullptr) << m.name << "[" << slot << "] = " << target;
    }
  }
  EXPECT_GE(slots, 2u);
}

// Every BPF object embedded in the libbpf-tools executables is found and parses, with CO-RE records.
TEST(ObjectCorpus, LibbpfToolsEmbeddedObjects) {
  REQUIRE_PATH("/usr/sbin/biolatency", "libbpf-tools");
  std::set<std::pair<std::uint64_t, std::size_t>> unique;  // (size, content hash)
  std::size_t programs = 0, core = 0, with_btf_ext = 0;
  for (const auto& e : fs::directory_iterator("/usr/sbin")) {
    if (!e.is_regular_file()) continue;
    auto file = elf::File::open(e.path().string());
    if (!file) continue;  // scripts, non-ELF files
    for (const auto& obj : elf::find_embedded_bpf_objects(file->bytes())) {
      std::string_view text(reinterpret_cast<const char*>(obj.bytes.data()), obj.bytes.size());
      if (!unique.insert({obj.size, std::hash<std::string_view>{}(text)}).second) continue;
      auto spec = ObjectSpec::parse(obj.bytes);
      ASSERT_TRUE(spec.has_value()) << e.path() << " at " << obj.offset << ": " << spec.error().to_string();
      programs += spec->programs.size();
      core += spec->core_relocation_count();
      if (spec->btf_ext) ++with_btf_ext;
      for (const auto& p : spec->programs) {
        EXPECT_NE(p.type, ProgType::unspec) << e.path() << ": " << p.section;
        EXPECT_FALSE(p.func_info.empty()) << e.path() << ": " << p.name;
      }
    }
  }
  EXPECT_GE(unique.size(), 40u);
  EXPECT_GE(programs, 200u);
  EXPECT_GE(with_btf_ext, 40u);
  EXPECT_GE(core, 300u);
}

TEST(ObjectCorpus, XdpToolsObjects) {
  REQUIRE_PATH(kXdpToolsDir / "xdp-dispatcher.o", "xdp-tools libxdp1");
  std::size_t xdp_programs = 0;
  auto files = files_with_suffix(kXdpToolsDir, ".o");
  ASSERT_GE(files.size(), 10u);
  for (const auto& path : files) {
    auto spec = ObjectSpec::open(path.string());
    ASSERT_TRUE(spec.has_value()) << path << ": " << spec.error().to_string();
    for (const auto& p : spec->programs) xdp_programs += p.type == ProgType::xdp;
  }
  EXPECT_GE(xdp_programs, files.size());
  // The dispatcher calls its prog0..prog9 slots as global functions (freplace targets).
  ASSERT_OK_AND_ASSIGN(auto dispatcher, ObjectSpec::open((kXdpToolsDir / "xdp-dispatcher.o").string()));
  EXPECT_NE(dispatcher.function("prog0"), nullptr);
  EXPECT_TRUE(dispatcher.map(".rodata") != nullptr);
}

}  // namespace
}  // namespace ebpf
