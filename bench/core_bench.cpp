// CO-RE on a real object: the BPF object embedded in Debian's libbpf-tools `execsnoop` (tracepoints, CO-RE
// reads of task_struct, .rodata config, a perf event array sized at load time). In one run:
//   - our CO-RE relocation of every function of the object against the running kernel's BTF (parsed once);
//   - our whole pipeline ObjectSpec::parse + Object::load (maps, BTF, CO-RE, programs) vs libbpf's
//     bpf_object__open_mem + bpf_object__load on the same bytes (both include the kernel's verification,
//     which dominates; the relocation-only number isolates what the loaders do differently).
#include <benchmark/benchmark.h>

#include <string>

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
#endif

}  // namespace

BENCHMARK_MAIN();
