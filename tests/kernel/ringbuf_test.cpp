// Ring buffer (BPF → user) against the real kernel: records produced by an XDP program run with
// BPF_PROG_TEST_RUN, every record's content and order checked, wrap-around, discards, a full ring with drops
// counted by the program, several rings on one reader, stop under load, and bad input.
#include "ebpf/ringbuf.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

constexpr std::uint64_t kTailMix = 0x5a5a5a5a5a5a5a5aULL;

// Every produced record: seq (per producer), producer id, record size, ..., and seq ^ kTailMix at the end.
struct Rec24 {
  std::uint64_t seq;
  std::uint32_t producer;
  std::uint32_t size;
  std::uint64_t tail;
};

Result<Fd> make_array(std::string_view name, std::uint32_t entries) {
  sys::MapCreateAttr a;
  a.map_type = static_cast<std::uint32_t>(MapType::array);
  a.key_size = 4;
  a.value_size = 8;
  a.max_entries = entries;
  std::snprintf(a.map_name, sizeof(a.map_name), "%.15s", std::string(name).c_str());
  return sys::map_create(a);
}

std::uint64_t read_u64(int map_fd, std::uint32_t key) {
  std::uint64_t v = 0;
  auto r = sys::map_lookup_elem(map_fd, &key, &v);
  EXPECT_TRUE(r.has_value());
  return v;
}

struct ProducerSpec {
  int ring_fd = -1;
  int stats_fd = -1;               // array: [0] next seq, [1] drops
  std::uint32_t record_size = 24;  // >= 24, multiple of 8 for the stack variant
  std::uint32_t producer_id = 1;
  std::uint32_t discard_every = 0; // discard records whose seq % n == 0
  bool use_output = false;         // bpf_ringbuf_output from the stack instead of reserve/submit
};

// Tiny emitter with forward-jump patching.
struct Emitter {
  std::vector<Insn> code;
  std::size_t emit(Insn i) {
    code.push_back(i);
    return code.size() - 1;
  }
  void emit(I::Wide w) {
    code.push_back(w[0]);
    code.push_back(w[1]);
  }
  void land(std::size_t jump) { code[jump].off = static_cast<std::int16_t>(code.size() - jump - 1); }
};

// r0 = &stats[key] or jump to `miss` list.
void lookup_stats(Emitter& e, int stats_fd, std::int32_t key, std::vector<std::size_t>& miss) {
  e.emit(I::st(I::W, I::fp, -4, key));
  e.emit(I::mov(I::r2, I::fp));
  e.emit(I::add(I::r2, -4));
  e.emit(I::ld_map_fd(I::r1, stats_fd));
  e.emit(I::call_helper(1));  // map_lookup_elem
  miss.push_back(e.emit(I::jeq(I::r0, 0, 0)));
}

std::vector<Insn> producer_insns(const ProducerSpec& p) {
  Emitter e;
  std::vector<std::size_t> to_exit, to_drop;
  const std::int32_t size = static_cast<std::int32_t>(p.record_size);
  lookup_stats(e, p.stats_fd, 0, to_exit);
  e.emit(I::mov(I::r7, 1));
  e.emit(I::atomic_fetch_add(I::DW, I::r0, 0, I::r7));  // r7 = seq
  e.emit(I::mov(I::r9, I::r7));
  e.emit(I::ld_imm64(I::r1, kTailMix));
  e.emit(I::xor_(I::r9, I::r1));  // r9 = tail
  if (p.use_output) {
    const std::int16_t base = static_cast<std::int16_t>(-8 - size);  // below the lookup key slot
    for (std::int32_t off = 0; off < size; off += 8) e.emit(I::st(I::DW, I::fp, static_cast<std::int16_t>(base + off), 0));
    e.emit(I::stx(I::DW, I::fp, base, I::r7));
    e.emit(I::st(I::W, I::fp, static_cast<std::int16_t>(base + 8), static_cast<std::int32_t>(p.producer_id)));
    e.emit(I::st(I::W, I::fp, static_cast<std::int16_t>(base + 12), size));
    e.emit(I::stx(I::DW, I::fp, static_cast<std::int16_t>(base + size - 8), I::r9));
    e.emit(I::ld_map_fd(I::r1, p.ring_fd));
    e.emit(I::mov(I::r2, I::fp));
    e.emit(I::add(I::r2, base));
    e.emit(I::mov(I::r3, size));
    e.emit(I::mov(I::r4, 0));
    e.emit(I::call_helper(130));  // ringbuf_output
    to_drop.push_back(e.emit(I::jne(I::r0, 0, 0)));
    to_exit.push_back(e.emit(I::ja(0)));
  } else {
    e.emit(I::ld_map_fd(I::r1, p.ring_fd));
    e.emit(I::mov(I::r2, size));
    e.emit(I::mov(I::r3, 0));
    e.emit(I::call_helper(131));  // ringbuf_reserve
    to_drop.push_back(e.emit(I::jeq(I::r0, 0, 0)));
    e.emit(I::stx(I::DW, I::r0, 0, I::r7));
    e.emit(I::st(I::W, I::r0, 8, static_cast<std::int32_t>(p.producer_id)));
    e.emit(I::st(I::W, I::r0, 12, size));
    e.emit(I::stx(I::DW, I::r0, static_cast<std::int16_t>(size - 8), I::r9));
    e.emit(I::mov(I::r1, I::r0));
    e.emit(I::mov(I::r2, 0));
    if (p.discard_every > 0) {
      e.emit(I::mod(I::r7, static_cast<std::int32_t>(p.discard_every)));
      const std::size_t keep = e.emit(I::jne(I::r7, 0, 0));
      e.emit(I::call_helper(133));  // ringbuf_discard
      to_exit.push_back(e.emit(I::ja(0)));
      e.land(keep);
    }
    e.emit(I::call_helper(132));  // ringbuf_submit
    to_exit.push_back(e.emit(I::ja(0)));
  }
  for (auto j : to_drop) e.land(j);
  lookup_stats(e, p.stats_fd, 1, to_exit);
  e.emit(I::mov(I::r1, 1));
  e.emit(I::atomic_add(I::DW, I::r0, 0, I::r1));
  for (auto j : to_exit) e.land(j);
  e.emit(I::mov(I::r0, 2));  // XDP_PASS
  e.emit(I::exit());
  return e.code;
}

Result<Program> load_xdp(std::span<const Insn> insns, std::string name) {
  ProgramLoadOptions o;
  o.name = std::move(name);
  return Program::load(ProgType::xdp, insns, o);
}

// A ring, its stats map and a loaded producer.
struct Fixture {
  Fd ring, stats;
  Program prog;
  std::vector<std::uint8_t> frame = std::vector<std::uint8_t>(64, 0xab);

  static Result<Fixture> make(std::uint32_t ring_size, ProducerSpec spec) {
    Fixture f;
    f.ring = EBPF_TRY(RingBuffer::create_map(test::unique_name("rb"), ring_size));
    f.stats = EBPF_TRY(make_array(test::unique_name("st"), 2));
    spec.ring_fd = f.ring.get();
    spec.stats_fd = f.stats.get();
    auto insns = producer_insns(spec);
    f.prog = EBPF_TRY(load_xdp(insns, "rb_producer"));
    return f;
  }
  Result<void> produce(std::uint32_t n) const {
    TestRunOptions o;
    o.data_in = frame;
    o.data_out_size = 0;
    o.repeat = n;
    auto r = EBPF_TRY(prog.test_run(o));
    if (r.retval != 2) return Error::invalid("produce", "unexpected retval " + std::to_string(r.retval));
    return ok();
  }
  std::uint64_t drops() const { return read_u64(stats.get(), 1); }
};

// Checks every record and appends its seq.
void check_record(std::span<const std::byte> rec, std::uint32_t size, std::uint32_t producer,
                  std::vector<std::uint64_t>& seqs) {
  ASSERT_EQ(rec.size(), size);
  Rec24 r;
  std::memcpy(&r, rec.data(), 16);
  std::memcpy(&r.tail, rec.data() + size - 8, 8);
  EXPECT_EQ(r.producer, producer);
  EXPECT_EQ(r.size, size);
  EXPECT_EQ(r.tail, r.seq ^ kTailMix);
  seqs.push_back(r.seq);
}

void expect_consecutive(const std::vector<std::uint64_t>& seqs, std::uint64_t first, std::uint64_t count) {
  ASSERT_EQ(seqs.size(), count);
  for (std::uint64_t i = 0; i < count; ++i) ASSERT_EQ(seqs[i], first + i) << "record " << i;
}

TEST(RingBuffer, EveryRecordInOrderWithContent) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(64 * 1024, {.record_size = 32}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  EXPECT_EQ(rb.capacity(), 64u * 1024);
  ASSERT_OK(f.produce(1000));
  EXPECT_EQ(rb.pending_bytes(), 1000u * 40);
  std::vector<std::uint64_t> seqs;
  EXPECT_EQ(rb.consume([&](std::span<const std::byte> r) { check_record(r, 32, 1, seqs); }), 1000u);
  expect_consecutive(seqs, 0, 1000);
  EXPECT_EQ(rb.pending_bytes(), 0u);
  auto s = rb.stats();
  EXPECT_EQ(s.records, 1000u);
  EXPECT_EQ(s.bytes, 32000u);
  EXPECT_EQ(rb.consume([](std::span<const std::byte>) {}), 0u);
}

TEST(RingBuffer, OutputHelperFromTheStack) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(16 * 1024, {.record_size = 48, .producer_id = 7, .use_output = true}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  ASSERT_OK(f.produce(100));
  std::vector<std::uint64_t> seqs;
  rb.consume([&](std::span<const std::byte> r) { check_record(r, 48, 7, seqs); });
  expect_consecutive(seqs, 0, 100);
}

TEST(RingBuffer, WrapAroundSmallRingManyRecords) {
  EBPF_REQUIRE_KERNEL();
  // 104-byte records take 112 bytes: they do not divide 4096, so records straddle the ring's end.
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096, {.record_size = 104}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  std::vector<std::uint64_t> seqs;
  for (int round = 0; round < 200; ++round) {
    ASSERT_OK(f.produce(30));  // 3360 bytes: fits, at a different offset every round
    ASSERT_EQ(rb.consume([&](std::span<const std::byte> r) { check_record(r, 104, 1, seqs); }), 30u);
  }
  expect_consecutive(seqs, 0, 6000);
  EXPECT_EQ(f.drops(), 0u);
}

TEST(RingBuffer, DiscardedRecordsAreSkipped) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(16 * 1024, {.record_size = 24, .discard_every = 3}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  ASSERT_OK(f.produce(90));
  std::vector<std::uint64_t> seqs;
  rb.consume([&](std::span<const std::byte> r) { check_record(r, 24, 1, seqs); });
  ASSERT_EQ(seqs.size(), 60u);
  for (auto s : seqs) EXPECT_NE(s % 3, 0u);
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(rb.stats().discarded, 30u);
  EXPECT_EQ(rb.pending_bytes(), 0u);  // discarded space was released too
}

TEST(RingBuffer, FullRingDropsAreCountedAndMatchMissingRecords) {
  EBPF_REQUIRE_KERNEL();
  // 128 bytes each; the kernel keeps one byte free (used space must stay below the ring size): 31 fit.
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096, {.record_size = 120}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get(), {.drop_counter_map_fd = f.stats.get(),
                                                                 .drop_counter_key = 1}));
  ASSERT_OK(f.produce(100));
  std::vector<std::uint64_t> seqs;
  rb.consume([&](std::span<const std::byte> r) { check_record(r, 120, 1, seqs); });
  expect_consecutive(seqs, 0, 31);
  EXPECT_EQ(f.drops(), 69u);
  EXPECT_EQ(rb.stats().drops, 69u);
}

TEST(RingBuffer, ConsumerFallingBehindLosesOnlyWhatWasCountedAsDropped) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(8192, {.record_size = 56}));  // 64 bytes: 128 fit
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  std::vector<std::uint64_t> seqs;
  std::uint64_t produced = 0;
  for (int round = 0; round < 20; ++round) {
    const std::uint32_t n = round % 2 ? 300 : 50;  // every other round overruns the ring
    ASSERT_OK(f.produce(n));
    produced += n;
    // Half the time the consumer reads only part of the backlog (it "falls behind").
    std::size_t budget = round % 3 ? SIZE_MAX : 40;
    rb.consume([&](std::span<const std::byte> r) {
      check_record(r, 56, 1, seqs);
      return --budget > 0;
    });
  }
  rb.consume([&](std::span<const std::byte> r) { check_record(r, 56, 1, seqs); });
  EXPECT_EQ(seqs.size() + f.drops(), produced);
  EXPECT_GT(f.drops(), 0u);
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end());
}

TEST(RingBuffer, BatchRecordsStayReservedUntilCommit) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096, {.record_size = 120}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  ASSERT_OK(f.produce(31));  // ring full (31 records of 128 bytes)
  std::vector<std::span<const std::byte>> held;
  auto batch = rb.batch();
  for (auto rec : batch) held.push_back(rec);
  ASSERT_EQ(held.size(), 31u);
  ASSERT_OK(f.produce(5));  // nothing was committed: the producer finds no space
  EXPECT_EQ(f.drops(), 5u);
  std::vector<std::uint64_t> seqs;
  for (auto rec : held) check_record(rec, 120, 1, seqs);  // still intact
  expect_consecutive(seqs, 0, 31);
  batch.commit();
  EXPECT_EQ(rb.pending_bytes(), 0u);
  ASSERT_OK(f.produce(5));
  EXPECT_EQ(f.drops(), 5u);
  std::size_t n = 0;
  for (auto rec : rb.batch()) {
    std::memcpy(&seqs.emplace_back(), rec.data(), 8);
    ++n;
  }
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(seqs.back(), 40u);  // seqs 31..35 were dropped
}

TEST(RingBuffer, TypedRecordsAndSizeErrors) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(16 * 1024, {.record_size = 32}));
  ASSERT_OK_AND_ASSIGN(auto rb, RingBuffer::open(f.ring.get()));
  ASSERT_OK(f.produce(10));
  std::vector<std::uint64_t> seqs;
  struct Head {
    std::uint64_t seq;
    std::uint32_t producer, size;
  };
  auto n = rb.consume<Head>([&](const Head& h) {
    EXPECT_EQ(h.size, 32u);
    seqs.push_back(h.seq);
  });
  ASSERT_OK(n);
  EXPECT_EQ(*n, 10u);
  expect_consecutive(seqs, 0, 10);

  // Strict checking: a record bigger than the struct is an error naming both sizes.
  ASSERT_OK(f.produce(3));
  auto strict = rb.consume<Head>([](const Head&) {}, SizeCheck::exact);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), Errc::bad_format);
  EXPECT_NE(strict.error().message().find("32 bytes is bigger than the 16-byte type"), std::string::npos)
      << strict.error().to_string();

  // A struct larger than the record: error, the record is skipped, the next call goes on.
  struct Big {
    std::uint64_t words[8];
  };
  auto small = rb.consume<Big>([](const Big&) { ADD_FAILURE() << "a short record was decoded"; });
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message().find("32 bytes is smaller than the 64-byte type"), std::string::npos)
      << small.error().to_string();
  EXPECT_EQ(rb.pending_bytes(), 40u);  // one of the three left
  std::uint64_t last = 0;
  ASSERT_OK(rb.consume<Head>([&](const Head& h) { last = h.seq; }));
  EXPECT_EQ(last, 12u);
}

TEST(RingBufferReader, SeveralRingsOnOneReaderWithWakeups) {
  EBPF_REQUIRE_KERNEL();
  std::vector<Fixture> fx;
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(16 * 1024, {.record_size = 24 + 8 * i, .producer_id = 10 + i}));
    fx.push_back(std::move(f));
  }
  ASSERT_OK_AND_ASSIGN(auto reader, RingBufferReader::create());
  std::vector<std::vector<std::uint64_t>> seqs(3);
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto idx, reader.add(fx[i].ring.get(), [&, i](std::span<const std::byte> r) {
      check_record(r, 24 + 8 * i, 10 + i, seqs[i]);
    }));
    EXPECT_EQ(idx, i);
  }
  // Nothing yet: poll times out.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(auto none, reader.poll(50ms));
  EXPECT_EQ(none, 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);

  ASSERT_OK(fx[1].produce(20));
  ASSERT_OK(fx[2].produce(30));
  // The epoll fd is readable for the caller's own loop.
  pollfd pfd{reader.epoll_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 1000), 1);
  std::size_t got = 0;
  while (got < 50) {
    ASSERT_OK_AND_ASSIGN(auto n, reader.poll(1000ms));
    ASSERT_GT(n, 0u);
    got += n;
  }
  ASSERT_OK(fx[0].produce(10));
  ASSERT_OK_AND_ASSIGN(auto n0, reader.poll(1000ms));
  EXPECT_EQ(n0, 10u);
  expect_consecutive(seqs[0], 0, 10);
  expect_consecutive(seqs[1], 0, 20);
  expect_consecutive(seqs[2], 0, 30);
  EXPECT_EQ(reader.ring(0).stats().wakeups, 1u);
  EXPECT_GE(reader.ring(1).stats().wakeups, 1u);
  EXPECT_EQ(reader.ring(2).stats().records, 30u);
}

TEST(RingBufferReader, PerProducerOrderWithConcurrentProducers) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto a, Fixture::make(256 * 1024, {.record_size = 32, .producer_id = 1}));
  // A second producer program writing into the same ring, with its own sequence counter.
  ASSERT_OK_AND_ASSIGN(auto stats_b, make_array(test::unique_name("sb"), 2));
  // Its records are longer, so the consumer sees sizes interleaved unpredictably.
  auto insns_b = producer_insns({.ring_fd = a.ring.get(), .stats_fd = stats_b.get(), .record_size = 56, .producer_id = 2});
  ASSERT_OK_AND_ASSIGN(auto prog_b, load_xdp(insns_b, "rb_producer_b"));
  std::vector<std::uint64_t> per[3];
  ASSERT_OK_AND_ASSIGN(auto reader, RingBufferReader::create());
  ASSERT_OK(reader.add(a.ring.get(), [&](std::span<const std::byte> r) {
    Rec24 h;
    ASSERT_GE(r.size(), 24u);
    std::memcpy(&h, r.data(), 16);
    ASSERT_TRUE(h.producer == 1 || h.producer == 2);
    check_record(r, h.producer == 1 ? 32 : 56, h.producer, per[h.producer]);
  }));
  constexpr std::uint32_t kEach = 20000;
  std::thread tb([&] {
    TestRunOptions o;
    o.data_in = a.frame;
    o.data_out_size = 0;
    for (std::uint32_t done = 0; done < kEach; done += 500) {
      o.repeat = 500;
      EXPECT_TRUE(prog_b.test_run(o).has_value());
    }
  });
  for (std::uint32_t done = 0; done < kEach; done += 500) {
    ASSERT_OK(a.produce(500));
    reader.consume();
  }
  tb.join();
  while (reader.consume() > 0) {
  }
  const std::uint64_t drops = a.drops() + read_u64(stats_b.get(), 1);
  EXPECT_EQ(per[1].size() + per[2].size() + drops, 2u * kEach);
  for (int p = 1; p <= 2; ++p) {
    EXPECT_TRUE(std::is_sorted(per[p].begin(), per[p].end())) << "producer " << p;
    EXPECT_EQ(std::adjacent_find(per[p].begin(), per[p].end()), per[p].end());
  }
}

TEST(RingBufferReader, StopFromAnotherThreadUnderLoadReturnsPromptly) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(64 * 1024, {.record_size = 24}));
  ASSERT_OK_AND_ASSIGN(auto reader, RingBufferReader::create());
  std::vector<std::uint64_t> seqs;
  ASSERT_OK(reader.add(f.ring.get(), [&](std::span<const std::byte> r) { check_record(r, 24, 1, seqs); }));
  std::atomic<bool> producing{true};
  std::thread producer([&] {
    while (producing.load()) EXPECT_TRUE(f.produce(200).has_value());
  });
  Result<std::uint64_t> total = 0;
  std::chrono::steady_clock::time_point returned;
  std::thread consumer([&] {
    total = reader.run();
    returned = std::chrono::steady_clock::now();
  });
  std::this_thread::sleep_for(300ms);
  const auto asked = std::chrono::steady_clock::now();
  reader.stop();
  consumer.join();
  producing = false;
  producer.join();
  ASSERT_OK(total);
  EXPECT_LT(returned - asked, 100ms);
  EXPECT_GT(*total, 0u);
  EXPECT_EQ(*total, seqs.size());
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  // A stopped reader does not wait; after reset_stop it delivers the rest.
  ASSERT_OK_AND_ASSIGN(auto after, reader.poll(1000ms));
  EXPECT_EQ(after, 0u);
  reader.reset_stop();
  while (reader.consume() > 0) {
  }
  EXPECT_EQ(seqs.size() + f.drops(), read_u64(f.stats.get(), 0));
}

TEST(RingBufferReader, BusyPollDeliversWithoutSleeping) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(16 * 1024, {.record_size = 24}));
  ASSERT_OK_AND_ASSIGN(auto reader, RingBufferReader::create({.busy_poll = true}));
  std::vector<std::uint64_t> seqs;
  ASSERT_OK(reader.add(f.ring.get(), [&](std::span<const std::byte> r) { check_record(r, 24, 1, seqs); }));
  ASSERT_OK_AND_ASSIGN(auto none, reader.poll(20ms));
  EXPECT_EQ(none, 0u);
  ASSERT_OK(f.produce(7));
  ASSERT_OK_AND_ASSIGN(auto n, reader.poll(1000ms));
  EXPECT_EQ(n, 7u);
  expect_consecutive(seqs, 0, 7);
}

TEST(RingBufferBadInput, WrongMapTypeAndBadSizes) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto array, make_array("et_not_a_ring", 1));
  auto wrong = RingBuffer::open(array.get());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("is a array map, not a ringbuf map"), std::string::npos)
      << wrong.error().to_string();

  for (std::uint32_t size : {0u, 2048u, 5000u, 12288u}) {
    auto bad = RingBuffer::create_map("et_bad", size);
    ASSERT_FALSE(bad) << size;
    EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
    EXPECT_EQ(bad.error().sys_errno(), EINVAL);
    EXPECT_NE(bad.error().message().find("must be a power of two and at least the page size"), std::string::npos);
  }
  auto closed = RingBuffer::open(-1);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code(), Errc::invalid_argument);

  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::create_map("et_ok", 4096));
  auto bad_counter = RingBuffer::open(ring.get(), {.drop_counter_map_fd = ring.get()});
  ASSERT_FALSE(bad_counter);
  EXPECT_NE(bad_counter.error().message().find("drop counter"), std::string::npos);

  RingBufferReader unset;
  auto not_created = unset.add(ring.get(), [](std::span<const std::byte>) {});
  ASSERT_FALSE(not_created);
  ASSERT_OK_AND_ASSIGN(auto reader, RingBufferReader::create());
  auto no_handler = reader.add(ring.get(), nullptr);
  ASSERT_FALSE(no_handler);
  EXPECT_NE(no_handler.error().message().find("handler is empty"), std::string::npos);
}

}  // namespace
}  // namespace ebpf
