// Perf buffer against the real kernel: an XDP program run with BPF_PROG_TEST_RUN calls bpf_perf_event_output
// (BPF_F_CURRENT_CPU) with a sequence number; every sample's content and per-CPU order is checked, records
// that wrap the ring's end, PERF_RECORD_LOST counts matched against the program's own failure counter,
// pause/resume, overwritable snapshots, epoll over CPUs, stop from another thread, and bad input.
#include "ebpf/perf_buffer.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "ebpf/isa.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

using namespace std::chrono_literals;
namespace I = ebpf::isa;

constexpr std::uint64_t kTailMix = 0x3c3c3c3c3c3c3c3cULL;

Result<Fd> make_map(MapType type, std::uint32_t value_size, std::uint32_t entries) {
  sys::MapCreateAttr a;
  a.map_type = static_cast<std::uint32_t>(type);
  a.key_size = 4;
  a.value_size = value_size;
  a.max_entries = entries;
  std::snprintf(a.map_name, sizeof(a.map_name), "%.15s", test::unique_name("pb").c_str());
  return sys::map_create(a);
}

std::uint32_t possible_cpus() { return static_cast<std::uint32_t>(std::thread::hardware_concurrency()); }

// seq (from stats[0]), size, ... tail = seq ^ kTailMix; failures of perf_event_output counted in stats[1].
std::vector<Insn> producer_insns(int perf_fd, int stats_fd, std::int32_t size) {
  std::vector<Insn> c;
  auto emit = [&](Insn i) {
    c.push_back(i);
    return c.size() - 1;
  };
  auto wide = [&](I::Wide w) {
    c.push_back(w[0]);
    c.push_back(w[1]);
  };
  std::vector<std::size_t> to_exit;
  auto lookup = [&](std::int32_t key) {
    emit(I::st(I::W, I::fp, -4, key));
    emit(I::mov(I::r2, I::fp));
    emit(I::add(I::r2, -4));
    wide(I::ld_map_fd(I::r1, stats_fd));
    emit(I::call_helper(1));
    to_exit.push_back(emit(I::jeq(I::r0, 0, 0)));
  };
  emit(I::mov(I::r6, I::r1));
  lookup(0);
  emit(I::mov(I::r7, 1));
  emit(I::atomic_fetch_add(I::DW, I::r0, 0, I::r7));
  const std::int16_t base = static_cast<std::int16_t>(-8 - size);
  for (std::int32_t off = 0; off < size; off += 8) emit(I::st(I::DW, I::fp, static_cast<std::int16_t>(base + off), 0));
  emit(I::stx(I::DW, I::fp, base, I::r7));
  emit(I::st(I::W, I::fp, static_cast<std::int16_t>(base + 8), size));
  wide(I::ld_imm64(I::r1, kTailMix));
  emit(I::xor_(I::r7, I::r1));
  emit(I::stx(I::DW, I::fp, static_cast<std::int16_t>(base + size - 8), I::r7));
  emit(I::mov(I::r1, I::r6));
  wide(I::ld_map_fd(I::r2, perf_fd));
  emit(I::mov(I::w3, -1));  // BPF_F_CURRENT_CPU, zero-extended
  emit(I::mov(I::r4, I::fp));
  emit(I::add(I::r4, base));
  emit(I::mov(I::r5, size));
  emit(I::call_helper(25));  // perf_event_output
  to_exit.push_back(emit(I::jeq(I::r0, 0, 0)));
  lookup(1);
  emit(I::mov(I::r1, 1));
  emit(I::atomic_add(I::DW, I::r0, 0, I::r1));
  for (auto j : to_exit) c[j].off = static_cast<std::int16_t>(c.size() - j - 1);
  emit(I::mov(I::r0, 2));
  emit(I::exit());
  return c;
}

struct Fixture {
  Fd perf, stats;
  Program prog;
  std::uint32_t size = 0;
  std::vector<std::uint8_t> frame = std::vector<std::uint8_t>(64, 0xcd);

  static Result<Fixture> make(std::uint32_t record_size) {
    Fixture f;
    f.size = record_size;
    f.perf = EBPF_TRY(make_map(MapType::perf_event_array, 4, possible_cpus()));
    f.stats = EBPF_TRY(make_map(MapType::array, 8, 2));
    auto insns = producer_insns(f.perf.get(), f.stats.get(), static_cast<std::int32_t>(record_size));
    ProgramLoadOptions o;
    o.name = "pb_producer";
    f.prog = EBPF_TRY(Program::load(ProgType::xdp, insns, o));
    return f;
  }
  Result<void> produce(std::uint32_t n) const {
    TestRunOptions o;
    o.data_in = frame;
    o.data_out_size = 0;
    o.repeat = n;
    EBPF_TRY(prog.test_run(o));
    return ok();
  }
  std::uint64_t counter(std::uint32_t key) const {
    std::uint64_t v = 0;
    EXPECT_TRUE(sys::map_lookup_elem(stats.get(), &key, &v).has_value());
    return v;
  }
};

// Collects samples per CPU after checking each one's content.
struct Collector {
  std::uint32_t size;
  std::map<int, std::vector<std::uint64_t>> per_cpu = {};
  std::vector<std::uint64_t> all = {};
  void operator()(int cpu, std::span<const std::byte> rec) {
    // The kernel pads the raw sample so that its u32 size field plus data end on 8 bytes.
    ASSERT_EQ(rec.size(), ((size + 4 + 7) & ~7U) - 4);
    std::uint64_t seq, tail;
    std::uint32_t sz;
    std::memcpy(&seq, rec.data(), 8);
    std::memcpy(&sz, rec.data() + 8, 4);
    std::memcpy(&tail, rec.data() + size - 8, 8);
    EXPECT_EQ(sz, size);
    EXPECT_EQ(tail, seq ^ kTailMix);
    per_cpu[cpu].push_back(seq);
    all.push_back(seq);
  }
  void expect_all_in_per_cpu_order(std::uint64_t first, std::uint64_t count) {
    for (auto& [cpu, seqs] : per_cpu) EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end())) << "cpu " << cpu;
    std::vector<std::uint64_t> sorted = all;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted.size(), count);
    for (std::uint64_t i = 0; i < count; ++i) ASSERT_EQ(sorted[i], first + i);
  }
};

// Runs the calling thread on one CPU for the guard's lifetime.
struct PinToCpu {
  cpu_set_t old;
  explicit PinToCpu(int cpu) {
    sched_getaffinity(0, sizeof(old), &old);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof(one), &one);
  }
  ~PinToCpu() { sched_setaffinity(0, sizeof(old), &old); }
};

TEST(PerfBuffer, EverySampleWithContentInPerCpuOrder) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(32));
  PerfBufferOptions opts;
  opts.pages_per_cpu = 16;
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get(), opts));
  EXPECT_EQ(pb.cpu_count(), possible_cpus());
  ASSERT_OK(f.produce(1000));
  Collector col{32};
  EXPECT_EQ(pb.consume(std::ref(col)), 1000u);
  col.expect_all_in_per_cpu_order(0, 1000);
  EXPECT_EQ(pb.stats().records, 1000u);
  EXPECT_EQ(pb.stats().lost, 0u);
  EXPECT_EQ(f.counter(1), 0u);
  EXPECT_EQ(pb.consume(std::ref(col)), 0u);
}

TEST(PerfBuffer, RecordsWrappingTheRingEndArriveWhole) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(104));  // 120-byte perf records: they straddle the 4 KiB end
  PerfBufferOptions opts;
  opts.pages_per_cpu = 1;
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get(), opts));
  PinToCpu pin(0);
  Collector col{104};
  for (int round = 0; round < 100; ++round) {
    ASSERT_OK(f.produce(30));
    ASSERT_EQ(pb.consume(std::ref(col)), 30u);
  }
  col.expect_all_in_per_cpu_order(0, 3000);
  EXPECT_GT(pb.stats().split, 0u);
  EXPECT_EQ(f.counter(1), 0u);
}

TEST(PerfBuffer, LostSamplesAreReportedWithCounts) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(56));
  PerfBufferOptions opts;
  opts.pages_per_cpu = 1;
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get(), opts));
  PinToCpu pin(1 % possible_cpus());
  ASSERT_OK(f.produce(200));  // 72-byte records: the 4 KiB ring overflows
  const std::uint64_t failed = f.counter(1);
  ASSERT_GT(failed, 0u);
  Collector col{56};
  std::uint64_t lost = 0;
  const std::size_t first = pb.consume(std::ref(col), [&](int, std::uint64_t n) { lost += n; });
  EXPECT_EQ(first + failed, 200u);
  // The kernel reports the loss with the next sample that fits.
  ASSERT_OK(f.produce(5));
  pb.consume(std::ref(col), [&](int, std::uint64_t n) { lost += n; });
  EXPECT_EQ(lost, failed);
  EXPECT_EQ(pb.stats().lost, failed);
  EXPECT_EQ(col.all.size(), first + 5);
  EXPECT_TRUE(std::is_sorted(col.all.begin(), col.all.end()));
  EXPECT_EQ(col.all.back(), 204u);
}

TEST(PerfBuffer, PauseDropsOutputUntilResume) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(24));
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get()));
  // One CPU throughout: the kernel reports a ring's losses with that ring's next sample, so outputs that
  // failed on one CPU and succeeded on another would report no loss (seen in CI when the thread migrated).
  PinToCpu pin(0);
  ASSERT_OK(pb.pause());
  ASSERT_OK(f.produce(10));
  EXPECT_EQ(f.counter(1), 10u);  // every output failed
  ASSERT_OK(pb.resume());
  ASSERT_OK(f.produce(3));
  Collector col{24};
  std::uint64_t lost = 0;
  EXPECT_EQ(pb.consume(std::ref(col), [&](int, std::uint64_t n) { lost += n; }), 3u);
  EXPECT_EQ(lost, 10u);
  col.expect_all_in_per_cpu_order(10, 3);
  // Destroying the buffer takes its events out of the map: the program's output fails from then on.
  pb = PerfBuffer();
  ASSERT_OK(f.produce(2));
  EXPECT_EQ(f.counter(1), 12u);
}

TEST(PerfBuffer, PollWakesForEachCpu) {
  EBPF_REQUIRE_KERNEL();
  if (possible_cpus() < 2) GTEST_SKIP() << "needs two CPUs";
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(24));
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get()));
  Collector col{24};
  auto none = pb.poll(30ms, std::ref(col), [](int, std::uint64_t) {});
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
  for (int cpu = 0; cpu < 2; ++cpu) {
    PinToCpu pin(cpu);
    ASSERT_OK(f.produce(4));
  }
  std::size_t got = 0;
  while (got < 8) {
    ASSERT_OK_AND_ASSIGN(auto n, pb.poll(1000ms, std::ref(col), [](int, std::uint64_t) {}));
    ASSERT_GT(n, 0u);
    got += n;
  }
  ASSERT_EQ(col.per_cpu.size(), 2u);
  EXPECT_EQ(col.per_cpu[0], (std::vector<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(col.per_cpu[1], (std::vector<std::uint64_t>{4, 5, 6, 7}));
  EXPECT_GE(pb.stats().wakeups, 2u);
}

TEST(PerfBuffer, OverwritableKeepsTheNewestRecords) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(56));
  PerfBufferOptions opts;
  opts.pages_per_cpu = 1;
  opts.overwritable = true;
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get(), opts));
  PinToCpu pin(0);
  ASSERT_OK(f.produce(200));
  EXPECT_EQ(f.counter(1), 0u);  // nothing is refused in overwrite mode
  Collector col{56};
  ASSERT_OK_AND_ASSIGN(auto n, pb.snapshot(std::ref(col)));
  // 72-byte records in 4096 bytes: the 56 newest fit whole, delivered newest first.
  ASSERT_EQ(n, 4096u / 72);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(col.all[i], 199 - i);
  ASSERT_OK(f.produce(5));
  col.all.clear();
  ASSERT_OK_AND_ASSIGN(auto n2, pb.snapshot(std::ref(col)));
  EXPECT_EQ(n2, 5u);
  EXPECT_EQ(col.all, (std::vector<std::uint64_t>{204, 203, 202, 201, 200}));
  EXPECT_EQ(pb.consume(std::ref(col)), 0u);  // read-only rings: consume() does not apply
  auto polled = pb.poll(0ms, std::ref(col), [](int, std::uint64_t) {});
  ASSERT_FALSE(polled);
  EXPECT_NE(polled.error().message().find("read it with snapshot()"), std::string::npos);
}

TEST(PerfBuffer, StopFromAnotherThreadWakesPoll) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(24));
  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(f.perf.get()));
  std::chrono::steady_clock::time_point asked;
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    asked = std::chrono::steady_clock::now();
    pb.stop();
  });
  auto r = pb.poll(-1ms, [](int, std::span<const std::byte>) {}, [](int, std::uint64_t) {});
  const auto returned = std::chrono::steady_clock::now();
  stopper.join();
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0u);
  EXPECT_LT(returned - asked, 50ms);
  pb.reset_stop();
  ASSERT_OK(f.produce(2));
  ASSERT_OK_AND_ASSIGN(auto n, pb.poll(1000ms, [](int, std::span<const std::byte>) {}, [](int, std::uint64_t) {}));
  EXPECT_EQ(n, 2u);
}

TEST(PerfBufferBadInput, WrongMapPagesAndCpus) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto array, make_map(MapType::array, 8, 1));
  auto wrong = PerfBuffer::open(array.get());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("not a perf_event_array map"), std::string::npos) << wrong.error().to_string();

  ASSERT_OK_AND_ASSIGN(auto perf, make_map(MapType::perf_event_array, 4, 2));
  PerfBufferOptions three;
  three.pages_per_cpu = 3;
  auto pages = PerfBuffer::open(perf.get(), three);
  ASSERT_FALSE(pages);
  EXPECT_NE(pages.error().message().find("pages_per_cpu 3 must be a power of two"), std::string::npos);

  PerfBufferOptions far;
  far.cpus = {5};
  auto cpus = PerfBuffer::open(perf.get(), far);
  ASSERT_FALSE(cpus);
  EXPECT_NE(cpus.error().message().find("CPU 5 is outside the map's 2 entries"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto pb, PerfBuffer::open(perf.get()));
  auto snap = pb.snapshot([](int, std::span<const std::byte>) {});
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().message().find("not overwritable"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
