// CO-RE on a real object: the BPF object embedded in Debian's libbpf-tools `execsnoop` (tracepoints, CO-RE
// reads of task_struct, .rodata config, a perf event array sized at load time). In one run:
//   - our CO-RE relocation of every function of the object against the running kernel's BTF (parsed once);
//   - our whole pipeline ObjectSpec::parse + Object::load (maps, BTF, CO-RE, programs) vs libbpf's
//     bpf_object__open_mem + bpf_object__load on the same bytes (both include the kernel's verification,
//     which dominates; the relocation-only number isolates what the loaders do differently).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/elf.hpp"
#include "ebpf/object.hpp"
#include "ebpf/object_spec.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/libbpf.h>
#endif

namespace {

constexpr const char* kTool = "/usr/sbin/execsnoop";

const std::vector<std::byte>& tool_object() {
  static const auto bytes = [] {
    std::vector<std::byte> out;
    auto f = ebpf::elf::File::open(kTool);
    if (!f) return out;
    auto objs = ebpf::elf::find_embedded_bpf_objects(f->bytes());
    if (!objs.empty()) out.assign(objs[0].bytes.begin(), objs[0].bytes.end());
    return out;
  }();
  return bytes;
}

const ebpf::btf::Btf* vmlinux() {
  static const auto btf = ebpf::btf::Btf::load_vmlinux();
  return btf ? &*btf : nullptr;
}

void BM_EbpfCoreRelocateObject(benchmark::State& state) {
  const auto& bytes = tool_object();
  auto spec = ebpf::ObjectSpec::parse(bytes);
  if (bytes.empty() || !spec || vmlinux() == nullptr) {
    state.SkipWithError("no libbpf-tools execsnoop object or no vmlinux BTF");
    return;
  }
  std::size_t applied = 0, poisoned = 0;
  for (auto _ : state) {
    auto reports = spec->core_report(*vmlinux());
    if (!reports) {
      state.SkipWithError(reports.error().to_string().c_str());
      return;
    }
    applied = poisoned = 0;
    for (const auto& r : *reports) applied += r.report.applied.size(), poisoned += r.report.poisoned.size();
    benchmark::DoNotOptimize(reports);
  }
  state.counters["relocations"] = static_cast<double>(spec->core_relocation_count());
  state.counters["applied"] = static_cast<double>(applied);
  state.counters["poisoned"] = static_cast<double>(poisoned);
}
BENCHMARK(BM_EbpfCoreRelocateObject)->Unit(benchmark::kMicrosecond);

// Every object embedded in /usr/sbin binaries (libbpf-tools, xdp-tools) that carries CO-RE relocations, parsed
// once; deduplicated by size and content.
const std::vector<ebpf::ObjectSpec>& core_corpus() {
  static const auto specs = [] {
    std::vector<ebpf::ObjectSpec> out;
    std::set<std::pair<std::size_t, std::size_t>> seen;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/sbin", ec)) {
      if (!e.is_regular_file()) continue;
      auto f = ebpf::elf::File::open(e.path().string());
      if (!f) continue;
      for (const auto& obj : ebpf::elf::find_embedded_bpf_objects(f->bytes())) {
        std::string_view s(reinterpret_cast<const char*>(obj.bytes.data()), obj.bytes.size());
        if (!seen.insert({s.size(), std::hash<std::string_view>{}(s)}).second) continue;
        auto spec = ebpf::ObjectSpec::parse(obj.bytes);
        if (spec && spec->core_relocation_count() > 0) out.push_back(std::move(*spec));
      }
    }
    return out;
  }();
  return specs;
}

// CO-RE relocation of every relocation of every corpus object against the running kernel's BTF.
void BM_EbpfCoreRelocateCorpus(benchmark::State& state) {
  const auto& specs = core_corpus();
  if (specs.empty() || vmlinux() == nullptr)
    return state.SkipWithError("no corpus objects with CO-RE relocations (libbpf-tools) or no vmlinux BTF");
  // Objects whose relocation stops with an error (e.g. an instruction that does not hold the value the
  // relocation expects — libbpf refuses those too) are left out and counted.
  std::vector<const ebpf::ObjectSpec*> usable;
  std::size_t relocations = 0, applied = 0, poisoned = 0;
  for (const auto& s : specs)
    if (s.core_report(*vmlinux())) usable.push_back(&s), relocations += s.core_relocation_count();
  if (usable.empty()) return state.SkipWithError("no corpus object relocates against this kernel");
  for (auto _ : state) {
    applied = poisoned = 0;
    for (const ebpf::ObjectSpec* spec : usable) {
      auto reports = spec->core_report(*vmlinux());
      if (!reports) return state.SkipWithError(reports.error().to_string().c_str());
      for (const auto& r : *reports) applied += r.report.applied.size(), poisoned += r.report.poisoned.size();
      benchmark::DoNotOptimize(reports);
    }
  }
  state.counters["objects"] = static_cast<double>(usable.size());
  state.counters["objects_refused"] = static_cast<double>(specs.size() - usable.size());
  state.counters["relocations"] = static_cast<double>(relocations);
  state.counters["applied"] = static_cast<double>(applied);
  state.counters["poisoned"] = static_cast<double>(poisoned);
  state.counters["ns_per_relocation"] = benchmark::Counter(
      static_cast<double>(relocations), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EbpfCoreRelocateCorpus)->Unit(benchmark::kMillisecond);

void BM_EbpfOpenAndLoad(benchmark::State& state) {
  const auto& bytes = tool_object();
  if (bytes.empty() || vmlinux() == nullptr) {
    state.SkipWithError("no libbpf-tools execsnoop object or no vmlinux BTF");
    return;
  }
  ebpf::ObjectLoadOptions options;
  options.kernel_btf = vmlinux();  // like libbpf's cached vmlinux BTF: not re-parsed per load
  for (auto _ : state) {
    auto obj = ebpf::Object::open(bytes);
    if (!obj) {
      state.SkipWithError(obj.error().to_string().c_str());
      return;
    }
    auto loaded = obj->load(options);
    if (!loaded) {
      state.SkipWithError(loaded.error().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(obj);
  }
}
BENCHMARK(BM_EbpfOpenAndLoad)->Unit(benchmark::kMillisecond);

#ifdef EBPF_HAVE_LIBBPF
int silent(enum libbpf_print_level, const char*, va_list) { return 0; }

void BM_LibbpfOpenAndLoad(benchmark::State& state) {
  const auto& bytes = tool_object();
  if (bytes.empty()) {
    state.SkipWithError("no libbpf-tools execsnoop object");
    return;
  }
  libbpf_set_print(silent);
  for (auto _ : state) {
    bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), nullptr);
    if (libbpf_get_error(obj)) {
      state.SkipWithError("bpf_object__open_mem failed");
      return;
    }
    int err = bpf_object__load(obj);
    bpf_object__close(obj);
    if (err) {
      state.SkipWithError(("bpf_object__load failed: " + std::to_string(err)).c_str());
      return;
    }
  }
}
BENCHMARK(BM_LibbpfOpenAndLoad)->Unit(benchmark::kMillisecond);

// The same open + load alternately in one loop, on equal terms: libbpf 1.1 parses the kernel's BTF on every
// bpf_object__load, so ours does too here (no kernel_btf option). Best and mean of each and the ratio.
void BM_OpenAndLoadOursVsLibbpf(benchmark::State& state) {
  using clock = std::chrono::steady_clock;
  const auto& bytes = tool_object();
  if (bytes.empty()) return state.SkipWithError("no libbpf-tools execsnoop object");
  libbpf_set_print(silent);
  double best[2] = {1e300, 1e300}, sum[2] = {0, 0};
  std::size_t n = 0;
  for (auto _ : state) {
    const auto t0 = clock::now();
    {
      auto obj = ebpf::Object::open(bytes);
      if (!obj) return state.SkipWithError(obj.error().to_string().c_str());
      if (auto loaded = obj->load(); !loaded) return state.SkipWithError(loaded.error().to_string().c_str());
    }
    const auto t1 = clock::now();
    bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), nullptr);
    if (libbpf_get_error(obj)) return state.SkipWithError("bpf_object__open_mem failed");
    const int err = bpf_object__load(obj);
    bpf_object__close(obj);
    if (err) return state.SkipWithError(("bpf_object__load failed: " + std::to_string(err)).c_str());
    const auto t2 = clock::now();
    const double ours = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double theirs = std::chrono::duration<double, std::milli>(t2 - t1).count();
    best[0] = std::min(best[0], ours), best[1] = std::min(best[1], theirs);
    sum[0] += ours, sum[1] += theirs, ++n;
  }
  state.counters["ours_best_ms"] = best[0];
  state.counters["libbpf_best_ms"] = best[1];
  state.counters["ours_mean_ms"] = sum[0] / static_cast<double>(n);
  state.counters["libbpf_mean_ms"] = sum[1] / static_cast<double>(n);
  state.counters["ratio_best"] = best[0] / best[1];
}
BENCHMARK(BM_OpenAndLoadOursVsLibbpf)->Unit(benchmark::kMillisecond)->Iterations(10);
#else
void BM_OpenAndLoadOursVsLibbpf(benchmark::State& state) {
  state.SkipWithError("libbpf comparator missing (built without libbpf-dev)");
}
BENCHMARK(BM_OpenAndLoadOursVsLibbpf);
#endif

}  // namespace

BENCHMARK_MAIN();
