// Conformance with libbpf on real-world objects: every program libbpf loads on this kernel, we load.
// Corpus: objects embedded in /usr/sbin executables (libbpf-tools, xdp-tools) and xdp-tools' .o files.
// libbpf (libbpf-dev) is the live oracle: each program is loaded alone (others set not to autoload), with the
// same run-time map sizing the tools apply (unsized maps get 10240 entries, stack maps 127-frame values).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "../unit/elf_test_support.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/object.hpp"
#include "ebpf/system.hpp"
#include "support/kernel.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/libbpf.h>
#endif

namespace ebpf {
namespace {

namespace fs = std::filesystem;

struct CorpusObject {
  std::string origin;
  std::vector<std::byte> bytes;
};

std::vector<CorpusObject> corpus() {
  std::vector<CorpusObject> out;
  std::set<std::pair<std::size_t, std::size_t>> seen;
  auto add = [&](std::string origin, std::span<const std::byte> b) {
    std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
    if (seen.insert({b.size(), std::hash<std::string_view>{}(s)}).second)
      out.push_back({std::move(origin), std::vector<std::byte>(b.begin(), b.end())});
  };
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/sbin", ec)) {
    if (!e.is_regular_file()) continue;
    auto f = elf::File::open(e.path().string());
    if (!f) continue;
    auto found = elf::find_embedded_bpf_objects(f->bytes());
    for (std::size_t i = 0; i < found.size(); ++i)
      add(e.path().filename().string() + "#" + std::to_string(i), found[i].bytes);
  }
  for (const auto& e : fs::directory_iterator("/usr/lib/x86_64-linux-gnu/bpf", ec))
    if (e.path().extension() == ".o")
      if (auto f = elf::File::open(e.path().string())) add(e.path().filename().string(), f->bytes());
  return out;
}

constexpr std::uint32_t kDefaultEntries = 10240;
constexpr std::uint32_t kStackValueSize = 127 * 8;

std::uint32_t cpus() { return possible_cpus().value_or(1); }

// Both loaders pin maps marked "pinning by name"; keep those pins in a private bpffs directory that is
// removed with everything in it, even when the test fails.
struct PrivatePinRoot {
  std::string path = std::string("/sys/fs/bpf/") + test::unique_name("_conf");
  PrivatePinRoot() { fs::create_directories(path); }
  ~PrivatePinRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void size_like_tools(ObjectSpec& spec) {
  for (auto& m : spec.maps) {
    if (m.type == MapType::stack_trace && m.value_size == 0) m.value_size = kStackValueSize;
    if (m.max_entries == 0 && m.type == MapType::cpumap) m.max_entries = cpus();
    if (m.max_entries == 0 && m.type != MapType::perf_event_array) m.max_entries = kDefaultEntries;
  }
}

#ifdef EBPF_HAVE_LIBBPF
int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

// Names of the programs libbpf loads, each loaded alone.
std::set<std::string> libbpf_loads(const std::vector<std::byte>& bytes, const std::string& pin_root) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pin_root.c_str());
  std::set<std::string> ok;
  std::vector<std::string> names;
  {
    bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), nullptr);
    if (libbpf_get_error(obj)) return ok;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) names.emplace_back(bpf_program__name(p));
    bpf_object__close(obj);
  }
  for (const auto& name : names) {
    bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), &open_opts);
    if (libbpf_get_error(obj)) continue;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, name == bpf_program__name(p));
    bpf_map* m;
    bpf_object__for_each_map(m, obj) {
      if (bpf_map__type(m) == BPF_MAP_TYPE_STACK_TRACE && bpf_map__value_size(m) == 0)
        bpf_map__set_value_size(m, kStackValueSize);
      if (bpf_map__max_entries(m) == 0 && bpf_map__type(m) == BPF_MAP_TYPE_CPUMAP) bpf_map__set_max_entries(m, cpus());
      if (bpf_map__max_entries(m) == 0 && bpf_map__type(m) != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
        bpf_map__set_max_entries(m, kDefaultEntries);
    }
    if (bpf_object__load(obj) == 0) ok.insert(name);
    bpf_object__close(obj);
  }
  return ok;
}
#endif

TEST(LibbpfConformance, EveryProgramLibbpfLoadsWeLoad) {
  EBPF_REQUIRE_KERNEL();
#ifndef EBPF_HAVE_LIBBPF
  if (test::running_in_ci()) FAIL() << "libbpf-dev is required for the conformance oracle";
  GTEST_SKIP() << "libbpf-dev not installed";
#else
  if (!fs::exists("/usr/sbin/biolatency")) {
    if (test::running_in_ci()) FAIL() << "libbpf-tools not installed";
    GTEST_SKIP() << "libbpf-tools not installed";
  }
  libbpf_set_print(quiet);
  auto objects = corpus();
  ASSERT_GE(objects.size(), 60u);
  PrivatePinRoot pins;
  std::size_t total = 0, ours_ok = 0, libbpf_ok = 0;
  for (const auto& o : objects) {
    auto obj = Object::open(o.bytes);
    ASSERT_TRUE(obj.has_value()) << o.origin << ": " << obj.error().to_string();
    size_like_tools(obj->spec());
    ObjectLoadOptions options;
    options.per_program = true;
    options.pin_root = pins.path;
    auto loaded = obj->load(options);
    ASSERT_TRUE(loaded.has_value()) << o.origin << ": " << loaded.error().to_string();
    auto reference = libbpf_loads(o.bytes, pins.path);
    total += obj->spec().programs.size();
    ours_ok += obj->loaded_programs().size();
    libbpf_ok += reference.size();
    for (const auto& name : reference) {
      const Error* err = obj->program_error(name);
      EXPECT_NE(obj->program(name), nullptr)
          << o.origin << ": libbpf loads '" << name << "' but we do not: " << (err ? err->to_string() : "not loaded");
    }
  }
  std::printf("programs: %zu, libbpf loaded %zu, we loaded %zu\n", total, libbpf_ok, ours_ok);
  EXPECT_GE(ours_ok, libbpf_ok);
#endif
}

}  // namespace
}  // namespace ebpf
