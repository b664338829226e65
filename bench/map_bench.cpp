// Map access cost: the typed API against the raw bpf() syscall, measured in the same run.
//
// - Lookup/Update: one element of a hash map (u32 → u64), typed view vs syscall(SYS_bpf, ...) on a
//   hand-filled attr. Goal: typed overhead ≤ 3%.
// - Iterate: a full pass over a 1M-entry hash map, typed `entries()` vs a raw LOOKUP_BATCH loop with the
//   same batch size. Goal: typed ≥ 90% of the raw rate, with zero allocations per entry (counted by the
//   replaced global operator new below and reported as the `allocs/entry` counter).
#include <benchmark/benchmark.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <numeric>
#include <vector>

#include "ebpf/map.hpp"

namespace {

std::atomic<std::uint64_t> g_allocations{0};

}  // namespace

// Counting allocator: every global new goes through here (new[] forwards to it).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using Hash = ebpf::HashMap<std::uint32_t, std::uint64_t>;
constexpr std::uint32_t kBigEntries = 1'000'000;
constexpr std::uint32_t kBatch = 4096;

Hash& small_map() {
  static Hash map = [] {
    auto m = Hash::create("bench_small", 1024).value();
    for (std::uint32_t k = 0; k < 1024; ++k) (void)m.update(k, k);
    return m;
  }();
  return map;
}

Hash& big_map() {
  static Hash map = [] {
    auto m = Hash::create("bench_big", kBigEntries).value();
    std::vector<std::uint32_t> keys(kBigEntries);
    std::iota(keys.begin(), keys.end(), 0U);
    std::vector<std::uint64_t> values(keys.begin(), keys.end());
    if (m.update_batch(keys, values).value() != kBigEntries) std::abort();
    return m;
  }();
  return map;
}

long raw_bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

void BM_LookupRaw(benchmark::State& state) {
  int fd = small_map().fd();
  std::uint32_t key = 17;
  std::uint64_t value = 0;
  for (auto _ : state) {
    bpf_attr attr{};
    attr.map_fd = static_cast<std::uint32_t>(fd);
    attr.key = reinterpret_cast<std::uintptr_t>(&key);
    attr.value = reinterpret_cast<std::uintptr_t>(&value);
    if (raw_bpf(BPF_MAP_LOOKUP_ELEM, attr) != 0) state.SkipWithError("lookup failed");
    benchmark::DoNotOptimize(value);
  }
}

void BM_LookupTyped(benchmark::State& state) {
  const Hash& map = small_map();
  for (auto _ : state) {
    auto value = map.lookup(17);
    if (!value) state.SkipWithError("lookup failed");
    benchmark::DoNotOptimize(*value);
  }
}

void BM_UpdateRaw(benchmark::State& state) {
  int fd = small_map().fd();
  std::uint32_t key = 17;
  std::uint64_t value = 0;
  for (auto _ : state) {
    ++value;
    bpf_attr attr{};
    attr.map_fd = static_cast<std::uint32_t>(fd);
    attr.key = reinterpret_cast<std::uintptr_t>(&key);
    attr.value = reinterpret_cast<std::uintptr_t>(&value);
    if (raw_bpf(BPF_MAP_UPDATE_ELEM, attr) != 0) state.SkipWithError("update failed");
  }
}

void BM_UpdateTyped(benchmark::State& state) {
  Hash& map = small_map();
  std::uint64_t value = 0;
  for (auto _ : state) {
    if (!map.update(17, ++value)) state.SkipWithError("update failed");
  }
}

void BM_IterateRawBatch(benchmark::State& state) {
  int fd = big_map().fd();
  std::vector<std::uint32_t> keys(kBatch);
  std::vector<std::uint64_t> values(kBatch);
  std::uint64_t entries = 0, sum = 0;
  for (auto _ : state) {
    std::uint32_t token = 0;
    bool first = true;
    while (true) {
      bpf_attr attr{};
      attr.batch.in_batch = first ? 0 : reinterpret_cast<std::uintptr_t>(&token);
      attr.batch.out_batch = reinterpret_cast<std::uintptr_t>(&token);
      attr.batch.keys = reinterpret_cast<std::uintptr_t>(keys.data());
      attr.batch.values = reinterpret_cast<std::uintptr_t>(values.data());
      attr.batch.count = kBatch;
      attr.batch.map_fd = static_cast<std::uint32_t>(fd);
      long r = raw_bpf(BPF_MAP_LOOKUP_BATCH, attr);
      first = false;
      for (std::uint32_t i = 0; i < attr.batch.count; ++i) sum += values[i];
      entries += attr.batch.count;
      if (r != 0) break;  // ENOENT: the end
    }
  }
  benchmark::DoNotOptimize(sum);
  state.counters["entries/s"] = benchmark::Counter(static_cast<double>(entries), benchmark::Counter::kIsRate);
  state.counters["entries/pass"] = static_cast<double>(entries) / static_cast<double>(state.iterations());
}

void BM_IterateTyped(benchmark::State& state) {
  const Hash& map = big_map();
  std::uint64_t entries = 0, sum = 0, allocations = 0;
  for (auto _ : state) {
    auto before = g_allocations.load(std::memory_order_relaxed);
    auto range = map.entries(kBatch);
    for (auto [key, value] : range) {
      sum += value;
      ++entries;
    }
    if (range.error()) state.SkipWithError(range.error()->to_string().c_str());
    allocations += g_allocations.load(std::memory_order_relaxed) - before;
  }
  benchmark::DoNotOptimize(sum);
  state.counters["entries/s"] = benchmark::Counter(static_cast<double>(entries), benchmark::Counter::kIsRate);
  state.counters["entries/pass"] = static_cast<double>(entries) / static_cast<double>(state.iterations());
  state.counters["allocs/entry"] = static_cast<double>(allocations) / static_cast<double>(entries);
  state.counters["allocs/pass"] = static_cast<double>(allocations) / static_cast<double>(state.iterations());
}

// Raw and typed alternate so that drift in the machine affects both alike.
BENCHMARK(BM_LookupRaw);
BENCHMARK(BM_LookupTyped);
BENCHMARK(BM_UpdateRaw);
BENCHMARK(BM_UpdateTyped);
BENCHMARK(BM_IterateRawBatch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IterateTyped)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
