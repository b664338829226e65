// User ring buffer (user → BPF) against the real kernel: samples written from user space are drained by an
// XDP program (run with BPF_PROG_TEST_RUN) through bpf_user_ringbuf_drain, whose callback reads each sample
// with bpf_dynptr_read, checks the sequence order and sums the values into an array map.
#include "ebpf/user_ringbuf.hpp"

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

struct Sample {
  std::uint64_t seq;
  std::uint64_t value;
};

// stats keys: sum of values, samples seen, next expected seq, order violations, last drain return value.
enum Stat : std::uint32_t { kSum = 0, kCount = 1, kNext = 2, kDisorder = 3, kDrained = 4 };

Result<Fd> make_array(std::uint32_t entries) {
  sys::MapCreateAttr a;
  a.map_type = static_cast<std::uint32_t>(MapType::array);
  a.key_size = 4;
  a.value_size = 8;
  a.max_entries = entries;
  std::snprintf(a.map_name, sizeof(a.map_name), "%.15s", test::unique_name("us").c_str());
  return sys::map_create(a);
}

// Minimal BTF: int, one FUNC_PROTO () -> int, FUNC "main" (global) and FUNC "cb" (static). The verifier wants
// func_info for any program that passes a callback (a BPF_PSEUDO_FUNC load).
Result<Fd> load_func_btf() {
  const char strings[] = "\0int\0main\0cb";
  std::vector<std::uint32_t> types = {
      1, (1U << 24), 4, (1U << 24) | 32,  // [1] INT "int" size 4, signed, 32 bits
      0, (13U << 24), 1,                  // [2] FUNC_PROTO () -> int
      5, (12U << 24) | 1, 2,              // [3] FUNC "main" global
      10, (12U << 24) | 0, 2,             // [4] FUNC "cb" static
  };
  const std::uint32_t type_len = static_cast<std::uint32_t>(types.size() * 4);
  std::vector<std::uint8_t> blob(24 + type_len + sizeof(strings));
  const std::uint32_t header[6] = {0x0001eB9F, 24, 0, type_len, type_len, sizeof(strings)};
  std::memcpy(blob.data(), header, 24);  // magic, version 1, flags 0, hdr_len; type_off, type_len, str_off, str_len
  std::memcpy(blob.data() + 24, types.data(), type_len);
  std::memcpy(blob.data() + 24 + type_len, strings, sizeof(strings));
  sys::BtfLoadAttr attr;
  attr.btf = sys::ptr(blob.data());
  attr.btf_size = static_cast<std::uint32_t>(blob.size());
  return sys::btf_load(attr);
}

struct Drainer {
  Fd btf;
  Program prog;
};

std::vector<Insn> drainer_insns(int ring_fd, int stats_fd, std::size_t& callback_start) {
  std::vector<Insn> c;
  auto emit = [&](Insn i) {
    c.push_back(i);
    return c.size() - 1;
  };
  auto wide = [&](I::Wide w) {
    c.push_back(w[0]);
    c.push_back(w[1]);
    return c.size() - 2;
  };
  // r0 = &stats[key]; jumps to the listed exits when missing.
  auto lookup = [&](std::int32_t key, std::vector<std::size_t>& miss) {
    emit(I::st(I::W, I::fp, -4, key));
    emit(I::mov(I::r2, I::fp));
    emit(I::add(I::r2, -4));
    wide(I::ld_map_fd(I::r1, stats_fd));
    emit(I::call_helper(1));
    miss.push_back(emit(I::jeq(I::r0, 0, 0)));
  };
  auto land = [&](std::vector<std::size_t>& js) {
    for (auto j : js) c[j].off = static_cast<std::int16_t>(c.size() - j - 1);
    js.clear();
  };
  std::vector<std::size_t> out;
  // main: r0 = bpf_user_ringbuf_drain(ring, cb, NULL, 0); stats[kDrained] = r0
  wide(I::ld_map_fd(I::r1, ring_fd));
  const std::size_t func_load = wide(I::ld_func(I::r2, 0));
  emit(I::mov(I::r3, 0));
  emit(I::mov(I::r4, 0));
  emit(I::call_helper(209));
  emit(I::mov(I::r6, I::r0));
  lookup(kDrained, out);
  emit(I::stx(I::DW, I::r0, 0, I::r6));
  land(out);
  emit(I::mov(I::r0, 2));
  emit(I::exit());
  // cb(dynptr, ctx): read a Sample; check order; sum value; count.
  callback_start = c.size();
  c[func_load].imm = static_cast<std::int32_t>(callback_start - func_load - 1);
  emit(I::mov(I::r3, I::r1));
  emit(I::mov(I::r1, I::fp));
  emit(I::add(I::r1, -24));
  emit(I::mov(I::r2, 16));
  emit(I::mov(I::r4, 0));
  emit(I::mov(I::r5, 0));
  emit(I::call_helper(201));  // dynptr_read(fp-24, 16, dynptr, 0, 0)
  out.push_back(emit(I::jne(I::r0, 0, 0)));
  emit(I::ldx(I::DW, I::r6, I::fp, -24));  // seq
  emit(I::ldx(I::DW, I::r7, I::fp, -16));  // value
  lookup(kNext, out);
  emit(I::ldx(I::DW, I::r8, I::r0, 0));
  emit(I::mov(I::r1, I::r6));
  emit(I::add(I::r1, 1));
  emit(I::stx(I::DW, I::r0, 0, I::r1));  // next = seq + 1
  std::vector<std::size_t> in_order;
  in_order.push_back(emit(I::jeq(I::r8, I::r6, 0)));
  lookup(kDisorder, out);
  emit(I::mov(I::r1, 1));
  emit(I::atomic_add(I::DW, I::r0, 0, I::r1));
  land(in_order);
  lookup(kSum, out);
  emit(I::atomic_add(I::DW, I::r0, 0, I::r7));
  lookup(kCount, out);
  emit(I::mov(I::r1, 1));
  emit(I::atomic_add(I::DW, I::r0, 0, I::r1));
  land(out);
  emit(I::mov(I::r0, 0));
  emit(I::exit());
  return c;
}

struct Fixture {
  Fd ring, stats, btf;
  Program prog;
  std::vector<std::uint8_t> frame = std::vector<std::uint8_t>(64, 0x11);

  static Result<Fixture> make(std::uint32_t ring_size) {
    Fixture f;
    f.ring = EBPF_TRY(UserRingBuffer::create_map(test::unique_name("ur"), ring_size));
    f.stats = EBPF_TRY(make_array(5));
    f.btf = EBPF_TRY(load_func_btf());
    std::size_t cb = 0;
    auto insns = drainer_insns(f.ring.get(), f.stats.get(), cb);
    const std::uint32_t func_info[4] = {0, 3, static_cast<std::uint32_t>(cb), 4};
    ProgramLoadOptions o;
    o.name = "ur_drain";
    o.btf_fd = f.btf.get();
    o.func_info = std::as_bytes(std::span(func_info));
    o.func_info_rec_size = 8;
    f.prog = EBPF_TRY(Program::load(ProgType::xdp, insns, o));
    return f;
  }
  // Runs the drainer once; returns what bpf_user_ringbuf_drain returned.
  Result<std::int64_t> drain() const {
    TestRunOptions o;
    o.data_in = frame;
    o.data_out_size = 0;
    EBPF_TRY(prog.test_run(o));
    return static_cast<std::int64_t>(stat(kDrained));
  }
  std::uint64_t stat(std::uint32_t key) const {
    std::uint64_t v = 0;
    EXPECT_TRUE(sys::map_lookup_elem(stats.get(), &key, &v).has_value());
    return v;
  }
};

TEST(UserRingBuffer, SamplesReachTheProgramInOrderWithContent) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(64 * 1024));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(f.ring.get()));
  EXPECT_EQ(rb.capacity(), 64u * 1024);
  std::uint64_t want_sum = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    ASSERT_OK(rb.write(Sample{i, i * 7 + 3}));
    want_sum += i * 7 + 3;
  }
  EXPECT_EQ(rb.pending_bytes(), 1000u * 24);
  ASSERT_OK_AND_ASSIGN(auto drained, f.drain());
  EXPECT_EQ(drained, 1000);
  EXPECT_EQ(f.stat(kCount), 1000u);
  EXPECT_EQ(f.stat(kSum), want_sum);
  EXPECT_EQ(f.stat(kDisorder), 0u);
  EXPECT_EQ(f.stat(kNext), 1000u);
  EXPECT_EQ(rb.pending_bytes(), 0u);
}

TEST(UserRingBuffer, DiscardedSamplesAreSkippedAndBusyOnesStopTheDrain) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(f.ring.get()));
  ASSERT_OK(rb.write(Sample{0, 10}));
  ASSERT_OK_AND_ASSIGN(auto gone, rb.reserve(sizeof(Sample)));
  Sample junk{99, 1000};
  std::memcpy(gone.data(), &junk, sizeof(junk));
  rb.discard(gone);
  ASSERT_OK(rb.write(Sample{1, 20}));
  ASSERT_OK_AND_ASSIGN(auto held, rb.reserve(sizeof(Sample)));  // reserved, not yet submitted
  ASSERT_OK(rb.write(Sample{3, 40}));
  ASSERT_OK(f.drain());
  EXPECT_EQ(f.stat(kCount), 2u);  // 0 and 1; the BUSY sample stops the drain before 3
  EXPECT_EQ(f.stat(kSum), 30u);
  Sample two{2, 30};
  std::memcpy(held.data(), &two, sizeof(two));
  rb.submit(held);
  ASSERT_OK(f.drain());
  EXPECT_EQ(f.stat(kCount), 4u);
  EXPECT_EQ(f.stat(kSum), 100u);
  EXPECT_EQ(f.stat(kDisorder), 0u);
}

TEST(UserRingBuffer, WrapAroundSmallRingManyRounds) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(f.ring.get()));
  // 100-byte samples (112 bytes in the ring) straddle the ring's end as the positions advance.
  std::uint64_t seq = 0, want_sum = 0;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 30; ++i, ++seq) {
      ASSERT_OK_AND_ASSIGN(auto s, rb.reserve(100));
      Sample v{seq, seq * seq};
      std::memcpy(s.data(), &v, sizeof(v));
      std::memset(s.data() + sizeof(v), 0xee, 100 - sizeof(v));
      rb.submit(s);
      want_sum += seq * seq;
    }
    ASSERT_OK(f.drain());
  }
  EXPECT_EQ(f.stat(kCount), 3000u);
  EXPECT_EQ(f.stat(kSum), want_sum);
  EXPECT_EQ(f.stat(kDisorder), 0u);
}

TEST(UserRingBuffer, FullRingReportsNoSpaceAndBlockingReserveWaitsForTheDrain) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(4096));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(f.ring.get()));
  std::uint64_t n = 0;
  while (rb.write(Sample{n, 1})) ++n;
  EXPECT_EQ(n, 4096u / 24);  // 24 bytes per sample in the ring, exactly full
  auto full = rb.reserve(sizeof(Sample));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::no_space);

  auto t0 = std::chrono::steady_clock::now();
  auto timed_out = rb.reserve_blocking(sizeof(Sample), 50ms);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code(), Errc::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);

  std::thread drainer([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(f.drain().has_value());
  });
  t0 = std::chrono::steady_clock::now();
  auto got = rb.reserve_blocking(sizeof(Sample), 5000ms);
  const auto waited = std::chrono::steady_clock::now() - t0;
  drainer.join();
  ASSERT_OK(got);
  EXPECT_GE(waited, 80ms);
  EXPECT_LT(waited, 2000ms);
  Sample last{n, 5};
  std::memcpy(got->data(), &last, sizeof(last));
  rb.submit(*got);
  ASSERT_OK(f.drain());
  EXPECT_EQ(f.stat(kCount), n + 1);
  EXPECT_EQ(f.stat(kSum), n + 5);
  EXPECT_EQ(f.stat(kDisorder), 0u);
}

TEST(UserRingBuffer, ProducerThreadAgainstADrainingThread) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto f, Fixture::make(8192));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(f.ring.get()));
  constexpr std::uint64_t kTotal = 20000;
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done.load()) EXPECT_TRUE(f.drain().has_value());
  });
  std::uint64_t want_sum = 0;
  for (std::uint64_t i = 0; i < kTotal; ++i) {
    auto s = rb.reserve_blocking(sizeof(Sample), 5000ms);
    ASSERT_OK(s);
    Sample v{i, i ^ 0xabc};
    std::memcpy(s->data(), &v, sizeof(v));
    rb.submit(*s);
    want_sum += i ^ 0xabc;
  }
  while (rb.pending_bytes() > 0) std::this_thread::sleep_for(1ms);
  done = true;
  drainer.join();
  EXPECT_EQ(f.stat(kCount), kTotal);
  EXPECT_EQ(f.stat(kSum), want_sum);
  EXPECT_EQ(f.stat(kDisorder), 0u);
}

TEST(UserRingBufferBadInput, WrongMapTypeSizesAndSampleSizes) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto array, make_array(1));
  auto wrong = UserRingBuffer::open(array.get());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong.error().message().find("not a user_ringbuf map"), std::string::npos) << wrong.error().to_string();
  ASSERT_OK_AND_ASSIGN(auto kernel_ring, RingBuffer::create_map("et_krb", 4096));
  auto other_kind = UserRingBuffer::open(kernel_ring.get());
  ASSERT_FALSE(other_kind);
  EXPECT_NE(other_kind.error().message().find("is a ringbuf map"), std::string::npos);

  auto odd = UserRingBuffer::create_map("et_odd", 3 * 4096);
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message().find("power of two"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto fd, UserRingBuffer::create_map("et_ur", 4096));
  ASSERT_OK_AND_ASSIGN(auto rb, UserRingBuffer::open(fd.get()));
  for (std::uint32_t size : {0u, 4089u, 1u << 30}) {
    auto bad = rb.reserve(size);
    ASSERT_FALSE(bad) << size;
    EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
    EXPECT_NE(bad.error().message().find("must be between 1 and 4088 bytes"), std::string::npos)
        << bad.error().to_string();
  }
  ASSERT_OK(rb.reserve(4088));  // the largest sample fits exactly
  UserRingBuffer unopened;
  EXPECT_FALSE(unopened.reserve(8));
}

}  // namespace
}  // namespace ebpf
