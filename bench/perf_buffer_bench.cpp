// Perf buffer consumption: ebpf::PerfBuffer against libbpf's perf_buffer__consume.
//
// The two readers cannot share a PERF_EVENT_ARRAY (each stores its own per-CPU events in it), so each gets
// its own map and its own copy of the same XDP producer: the program copies a record of the benchmark's size
// from an array map value (a sequence number in front) with bpf_perf_event_output(BPF_F_CURRENT_CPU).
// Each iteration fills ours (BPF_PROG_TEST_RUN, repeat = N; not timed) and times ours reading it, then the
// same for libbpf. Run it pinned to one CPU (taskset) so the samples go to one ring. Counters give records/s
// (medians over the iterations) and the ratio ours / libbpf.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "ebpf/isa.hpp"
#include "ebpf/perf_buffer.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/libbpf.h>
#endif

namespace {

namespace I = ebpf::isa;
using Clock = std::chrono::steady_clock;

struct Sink {
  std::uint64_t records = 0, bytes = 0, seq_sum = 0, lost = 0;
  void take(const void* data, std::size_t size) {
    std::uint64_t seq;
    std::memcpy(&seq, data, 8);
    ++records;
    bytes += size;
    seq_sum += seq;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

ebpf::Result<ebpf::Fd> make_map(ebpf::MapType type, std::uint32_t value_size, std::uint32_t entries) {
  ebpf::sys::MapCreateAttr a;
  a.map_type = static_cast<std::uint32_t>(type);
  a.key_size = 4;
  a.value_size = value_size;
  a.max_entries = entries;
  return ebpf::sys::map_create(a);
}

// One perf map and its producer.
struct Producer {
  ebpf::Fd perf, buffer;
  ebpf::Program prog;
  std::vector<std::uint8_t> frame = std::vector<std::uint8_t>(64, 0);

  bool init(std::uint32_t size) {
    auto p = make_map(ebpf::MapType::perf_event_array, 4, std::thread::hardware_concurrency());
    auto b = make_map(ebpf::MapType::array, size, 1);
    if (!p || !b) return false;
    perf = std::move(*p);
    buffer = std::move(*b);
    std::vector<ebpf::Insn> c;
    auto wide = [&](I::Wide w) { c.insert(c.end(), w.begin(), w.end()); };
    c.push_back(I::mov(I::r6, I::r1));
    c.push_back(I::st(I::W, I::fp, -4, 0));
    c.push_back(I::mov(I::r2, I::fp));
    c.push_back(I::add(I::r2, -4));
    wide(I::ld_map_fd(I::r1, buffer.get()));
    c.push_back(I::call_helper(1));
    const std::size_t miss = c.size();
    c.push_back(I::jeq(I::r0, 0, 0));
    c.push_back(I::ldx(I::DW, I::r1, I::r0, 0));
    c.push_back(I::add(I::r1, 1));
    c.push_back(I::stx(I::DW, I::r0, 0, I::r1));  // seq++ (one CPU: no atomics needed for the bench)
    c.push_back(I::mov(I::r4, I::r0));
    c.push_back(I::mov(I::r1, I::r6));
    wide(I::ld_map_fd(I::r2, perf.get()));
    c.push_back(I::mov(I::w3, -1));  // BPF_F_CURRENT_CPU
    c.push_back(I::mov(I::r5, static_cast<std::int32_t>(size)));
    c.push_back(I::call_helper(25));  // perf_event_output
    c[miss].off = static_cast<std::int16_t>(c.size() - miss - 1);
    c.push_back(I::mov(I::r0, 2));
    c.push_back(I::exit());
    ebpf::ProgramLoadOptions o;
    o.name = "bench_pb";
    auto loaded = ebpf::Program::load(ebpf::ProgType::xdp, c, o);
    if (!loaded) {
      std::fprintf(stderr, "%s\n", loaded.error().to_string().c_str());
      return false;
    }
    prog = std::move(*loaded);
    return true;
  }
  bool fill(std::uint32_t n) const {
    ebpf::TestRunOptions o;
    o.data_in = frame;
    o.data_out_size = 0;
    o.repeat = n;
    return prog.test_run(o).has_value();
  }
};

#ifdef EBPF_HAVE_LIBBPF
void libbpf_sample(void* ctx, int, void* data, __u32 size) { static_cast<Sink*>(ctx)->take(data, size); }
void libbpf_lost(void* ctx, int, __u64 n) { static_cast<Sink*>(ctx)->lost += n; }
#endif

void BM_PerfBufferConsume(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  const auto pages = static_cast<std::size_t>(state.range(1));
  const std::size_t record = 8 + ((size + 4 + 7) & ~7U);  // perf header + u32 size + padded raw data
  const auto per_fill = static_cast<std::uint32_t>(pages * 4096 / record - 1);
  Producer ours_prod, libbpf_prod;
  if (!ours_prod.init(size) || !libbpf_prod.init(size)) {
    state.SkipWithError("cannot set up the perf maps and producers (root and a BPF kernel needed)");
    return;
  }
  ebpf::PerfBufferOptions opts;
  opts.pages_per_cpu = pages;
  auto ours = ebpf::PerfBuffer::open(ours_prod.perf.get(), opts);
  if (!ours) {
    state.SkipWithError(ours.error().to_string().c_str());
    return;
  }
  Sink ours_sink, libbpf_sink;
#ifdef EBPF_HAVE_LIBBPF
  perf_buffer* lb = perf_buffer__new(libbpf_prod.perf.get(), pages, libbpf_sample, libbpf_lost, &libbpf_sink, nullptr);
  if (lb == nullptr) {
    state.SkipWithError("perf_buffer__new failed");
    return;
  }
#endif
  std::vector<double> ours_t, libbpf_t;
  for (auto _ : state) {
    ours_prod.fill(per_fill);
    auto t0 = Clock::now();
    const std::size_t n = ours->consume([&](int, std::span<const std::byte> r) { ours_sink.take(r.data(), r.size()); },
                                        [&](int, std::uint64_t lost) { ours_sink.lost += lost; });
    const double this_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    ours_t.push_back(this_ns);
    if (n != per_fill) state.SkipWithError("ebpf::PerfBuffer consumed a wrong number of records (run pinned: taskset -c 0)");
#ifdef EBPF_HAVE_LIBBPF
    libbpf_prod.fill(per_fill);
    const std::uint64_t before = libbpf_sink.records;
    t0 = Clock::now();
    perf_buffer__consume(lb);
    libbpf_t.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    if (libbpf_sink.records - before != per_fill) state.SkipWithError("libbpf consumed a wrong number of records");
#endif
    state.SetIterationTime(this_ns * 1e-9);
  }
  const double ours_ns = median(ours_t);
  state.counters["records_per_fill"] = per_fill;
  state.counters["ebpf_Mrec_s"] = per_fill / ours_ns * 1e3;
  state.counters["ebpf_ns_rec"] = ours_ns / per_fill;
  state.counters["split_records"] = static_cast<double>(ours->stats().split);
#ifdef EBPF_HAVE_LIBBPF
  const double libbpf_ns = median(libbpf_t);
  state.counters["libbpf_Mrec_s"] = per_fill / libbpf_ns * 1e3;
  state.counters["libbpf_ns_rec"] = libbpf_ns / per_fill;
  state.counters["speedup_vs_libbpf"] = libbpf_ns / ours_ns;
  perf_buffer__free(lb);
#endif
  benchmark::DoNotOptimize(ours_sink);
  benchmark::DoNotOptimize(libbpf_sink);
}
// Args: record size, data pages per CPU (64 = 256 KiB).
BENCHMARK(BM_PerfBufferConsume)
    ->ArgsProduct({{32, 256, 2048}, {64}})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(60);

}  // namespace

BENCHMARK_MAIN();
