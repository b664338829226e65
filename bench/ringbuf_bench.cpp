// Ring buffer consumption: ebpf::RingBuffer (inlined callback), ebpf::RingBufferReader (std::function per
// record) and libbpf's ring_buffer__consume, reading the same records from the same map.
//
// Each iteration fills the ring with BPF_PROG_TEST_RUN (repeat = N) of one XDP program that reserves a record
// of the benchmark's size, writes a sequence number in it and submits it — that part is not timed — then
// times only the consumption. The readers alternate within the iteration (fill, ours; fill, libbpf; ...),
// so both see the same cache state. The callback reads each record's sequence number and sums the sizes.
// Counters: records/s of each reader and the ratio ours / libbpf.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "ebpf/isa.hpp"
#include "ebpf/program.hpp"
#include "ebpf/ringbuf.hpp"
#include "ebpf/syscall.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/libbpf.h>
#endif

namespace {

namespace I = ebpf::isa;
using Clock = std::chrono::steady_clock;


struct Sink {
  std::uint64_t records = 0, bytes = 0, seq_sum = 0;
  void take(const void* data, std::size_t size) {
    std::uint64_t seq;
    std::memcpy(&seq, data, 8);
    ++records;
    bytes += size;
    seq_sum += seq;
  }
};

struct Setup {
  ebpf::Fd ring, counter;
  ebpf::Program prog;
  std::uint32_t per_fill = 0;
  std::vector<std::uint8_t> frame = std::vector<std::uint8_t>(64, 0);

  bool init(std::uint32_t size, std::uint32_t ring_size) {
    auto ring_fd = ebpf::RingBuffer::create_map("bench_rb", ring_size);
    ebpf::sys::MapCreateAttr a;
    a.map_type = static_cast<std::uint32_t>(ebpf::MapType::array);
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = 1;
    auto counter_fd = ebpf::sys::map_create(a);
    if (!ring_fd || !counter_fd) return false;
    ring = std::move(*ring_fd);
    counter = std::move(*counter_fd);
    std::vector<ebpf::Insn> c;
    auto wide = [&](I::Wide w) { c.insert(c.end(), w.begin(), w.end()); };
    c.push_back(I::st(I::W, I::fp, -4, 0));
    c.push_back(I::mov(I::r2, I::fp));
    c.push_back(I::add(I::r2, -4));
    wide(I::ld_map_fd(I::r1, counter.get()));
    c.push_back(I::call_helper(1));
    c.push_back(I::jeq(I::r0, 0, 9));
    c.push_back(I::mov(I::r7, 1));
    c.push_back(I::atomic_fetch_add(I::DW, I::r0, 0, I::r7));
    wide(I::ld_map_fd(I::r1, ring.get()));
    c.push_back(I::mov(I::r2, static_cast<std::int32_t>(size)));
    c.push_back(I::mov(I::r3, 0));
    c.push_back(I::call_helper(131));  // ringbuf_reserve
    c.push_back(I::jeq(I::r0, 0, 3));
    c.push_back(I::stx(I::DW, I::r0, 0, I::r7));
    c.push_back(I::mov(I::r1, I::r0));
    c.push_back(I::mov(I::r2, ebpf::ringbuf_abi::kNoWakeup));
    c.push_back(I::call_helper(132));  // ringbuf_submit
    c.push_back(I::mov(I::r0, 2));
    c.push_back(I::exit());
    // Fix the two forward jumps: to "r0 = 2".
    const std::size_t exit_at = c.size() - 2;
    for (std::size_t i = 0; i < exit_at; ++i) {
      if (c[i].code == (I::JMP | I::K | static_cast<std::uint8_t>(I::JmpOp::jeq)))
        c[i].off = static_cast<std::int16_t>(exit_at - i - 1);
    }
    ebpf::ProgramLoadOptions o;
    o.name = "bench_rb";
    auto p = ebpf::Program::load(ebpf::ProgType::xdp, c, o);
    if (!p) {
      std::fprintf(stderr, "%s\n", p.error().to_string().c_str());
      return false;
    }
    prog = std::move(*p);
    per_fill = static_cast<std::uint32_t>((ring_size - 1) / ebpf::ringbuf_abi::record_span(size));
    return true;
  }
  bool fill() const {
    ebpf::TestRunOptions o;
    o.data_in = frame;
    o.data_out_size = 0;
    o.repeat = per_fill;
    return prog.test_run(o).has_value();
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

#ifdef EBPF_HAVE_LIBBPF
int libbpf_sample(void* ctx, void* data, size_t size) {
  static_cast<Sink*>(ctx)->take(data, size);
  return 0;
}
#endif

void BM_RingbufConsume(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  const auto ring_size = static_cast<std::uint32_t>(state.range(1));
  Setup s;
  if (!s.init(size, ring_size)) {
    state.SkipWithError("cannot set up the ring buffer and producer (root and a BPF kernel needed)");
    return;
  }
  auto ours = ebpf::RingBuffer::open(s.ring.get());
  auto reader = ebpf::RingBufferReader::create();
  Sink ours_sink, reader_sink, libbpf_sink;
  if (!ours || !reader || !reader->add(s.ring.get(), [&](std::span<const std::byte> r) {
        reader_sink.take(r.data(), r.size());
      })) {
    state.SkipWithError("open failed");
    return;
  }
#ifdef EBPF_HAVE_LIBBPF
  ring_buffer* lb = ring_buffer__new(s.ring.get(), libbpf_sample, &libbpf_sink, nullptr);
  if (lb == nullptr) {
    state.SkipWithError("ring_buffer__new failed");
    return;
  }
#endif
  std::vector<double> ours_t, reader_t, libbpf_t;  // ns per iteration; medians resist preemption noise
  for (auto _ : state) {
    s.fill();
    auto t0 = Clock::now();
    const std::size_t n = ours->consume([&](std::span<const std::byte> r) { ours_sink.take(r.data(), r.size()); });
    const double this_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    ours_t.push_back(this_ns);
    if (n != s.per_fill) state.SkipWithError("ebpf::RingBuffer consumed a wrong number of records");

    s.fill();
    t0 = Clock::now();
    const std::size_t m = reader->consume();
    reader_t.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    if (m != s.per_fill) state.SkipWithError("ebpf::RingBufferReader consumed a wrong number of records");
#ifdef EBPF_HAVE_LIBBPF
    s.fill();
    t0 = Clock::now();
    const int k = ring_buffer__consume(lb);
    libbpf_t.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    if (k != static_cast<int>(s.per_fill)) state.SkipWithError("libbpf consumed a wrong number of records");
#endif
    state.SetIterationTime(this_ns * 1e-9);  // the benchmark's own time: ebpf::RingBuffer's consumption
  }
  const double recs = s.per_fill;  // per iteration; times below are medians of the iterations
  const double ours_ns = median(ours_t), reader_ns = median(reader_t);
#ifdef EBPF_HAVE_LIBBPF
  const double libbpf_ns = median(libbpf_t);
#endif
  state.counters["records_per_fill"] = s.per_fill;
  state.counters["ebpf_Mrec_s"] = recs / ours_ns * 1e3;
  state.counters["ebpf_reader_Mrec_s"] = recs / reader_ns * 1e3;
  state.counters["ebpf_ns_rec"] = ours_ns / recs;
#ifdef EBPF_HAVE_LIBBPF
  state.counters["libbpf_Mrec_s"] = recs / libbpf_ns * 1e3;
  state.counters["libbpf_ns_rec"] = libbpf_ns / recs;
  state.counters["speedup_vs_libbpf"] = libbpf_ns / ours_ns;
  state.counters["reader_speedup_vs_libbpf"] = libbpf_ns / reader_ns;
  ring_buffer__free(lb);
  if (libbpf_sink.seq_sum == 0) state.SkipWithError("libbpf saw no data");
#endif
  benchmark::DoNotOptimize(ours_sink);
  benchmark::DoNotOptimize(reader_sink);
}
// Args: record size, ring size (256 KiB stays in cache; 8 MiB does not).
BENCHMARK(BM_RingbufConsume)->ArgsProduct({{32, 256, 2048}, {256 << 10, 8 << 20}})->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(60);

}  // namespace

BENCHMARK_MAIN();
