// Opening real-world BPF objects: our ELF reader + ObjectSpec parser against libbpf's bpf_object__open_mem
// (both parse ELF, BTF, .BTF.ext, maps, programs and relocations without touching the kernel).
// Corpus: xdp-tools objects (/usr/lib/x86_64-linux-gnu/bpf/*.o) + the objects embedded in /usr/sbin binaries
// (libbpf-tools, xdp-tools), deduplicated. Goal: our parse <= 0.5x libbpf's open time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/libbpf.h>
#endif

namespace {

namespace fs = std::filesystem;

const std::vector<std::vector<std::byte>>& corpus() {
  static const auto objects = [] {
    std::vector<std::vector<std::byte>> out;
    std::set<std::pair<std::size_t, std::size_t>> seen;
    auto add = [&](std::span<const std::byte> b) {
      std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
      if (seen.insert({b.size(), std::hash<std::string_view>{}(s)}).second) out.emplace_back(b.begin(), b.end());
    };
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/x86_64-linux-gnu/bpf", ec))
      if (e.path().extension() == ".o")
        if (auto f = ebpf::elf::File::open(e.path().string())) add(f->bytes());
    for (const auto& e : fs::directory_iterator("/usr/sbin", ec)) {
      if (!e.is_regular_file()) continue;
      auto f = ebpf::elf::File::open(e.path().string());
      if (!f) continue;
      for (const auto& obj : ebpf::elf::find_embedded_bpf_objects(f->bytes())) add(obj.bytes);
    }
    return out;
  }();
  return objects;
}

std::size_t corpus_bytes() {
  std::size_t n = 0;
  for (const auto& o : corpus()) n += o.size();
  return n;
}

void BM_ObjectSpecParse(benchmark::State& state) {
  const auto& objs = corpus();
  if (objs.empty()) {
    state.SkipWithError("no corpus (install xdp-tools, libbpf-tools)");
    return;
  }
  std::size_t programs = 0;
  for (auto _ : state) {
    programs = 0;
    for (const auto& o : objs) {
      auto spec = ebpf::ObjectSpec::parse(o);
      if (!spec) {
        state.SkipWithError(spec.error().to_string().c_str());
        return;
      }
      programs += spec->programs.size();
      benchmark::DoNotOptimize(spec);
    }
  }
  state.counters["objects"] = static_cast<double>(objs.size());
  state.counters["programs"] = static_cast<double>(programs);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
}
BENCHMARK(BM_ObjectSpecParse)->Unit(benchmark::kMillisecond);

void BM_ElfReaderOnly(benchmark::State& state) {
  const auto& objs = corpus();
  for (auto _ : state)
    for (const auto& o : objs) benchmark::DoNotOptimize(ebpf::elf::File::view(o));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
}
BENCHMARK(BM_ElfReaderOnly)->Unit(benchmark::kMillisecond);

#ifdef EBPF_HAVE_LIBBPF
int silent(enum libbpf_print_level, const char*, va_list) { return 0; }

void BM_LibbpfOpenMem(benchmark::State& state) {
  const auto& objs = corpus();
  if (objs.empty()) {
    state.SkipWithError("no corpus");
    return;
  }
  libbpf_set_print(silent);
  std::size_t failures = 0;
  for (auto _ : state) {
    failures = 0;
    for (const auto& o : objs) {
      bpf_object* obj = bpf_object__open_mem(o.data(), o.size(), nullptr);
      if (libbpf_get_error(obj)) {
        ++failures;
        continue;
      }
      bpf_object__close(obj);
    }
  }
  state.counters["objects"] = static_cast<double>(objs.size());
  state.counters["open_failures"] = static_cast<double>(failures);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
}
BENCHMARK(BM_LibbpfOpenMem)->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK_MAIN();
