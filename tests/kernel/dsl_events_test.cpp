// DSL event blocks: records laid out from one C++ struct, written by XDP programs run with BPF_PROG_TEST_RUN
// and read back with the library's RingBuffer and PerfBuffer readers — reserve + field stores + submit,
// reserve + discard (never delivered), ringbuf_output of a stack record, a full ring taking the `full` exit,
// and perf_event_output with BPF_F_CURRENT_CPU into a PERF_EVENT_ARRAY.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ebpf/dsl/clock.hpp"
#include "ebpf/dsl/events.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/map.hpp"
#include "ebpf/perf_buffer.hpp"
#include "ebpf/program.hpp"
#include "ebpf/ringbuf.hpp"
#include "ebpf/system.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// The record user space and the program share.
struct Event {
  std::uint32_t seq = 0;
  std::uint32_t len = 0;   // frame length
  std::uint64_t ts = 0;    // bpf_ktime_get_ns
  std::uint16_t kind = 0;  // which path wrote it
  std::uint8_t pad[6] = {};
};
static_assert(sizeof(Event) == 24);

// The test frame: what to do and the sequence number to record.
struct Request {
  std::uint32_t op = 0;
  std::uint32_t seq = 0;
};

constexpr std::uint32_t kSubmit = 0, kDiscard = 1, kOutput = 2;
constexpr std::uint32_t kDone = 1, kFull = 3, kShort = 4;
constexpr std::int16_t kEventSlot = -24;  // an Event on the stack for the copying outputs

// r6 = ctx, r7 = seq, r8 = op, r9 = frame length.
void read_request(Assembler& a) {
  const dsl::PacketRegs p;
  a.mov(r6, r1);
  dsl::xdp_load_data(a, r1, p);
  dsl::check_bounds(a, p, sizeof(Request), "short");
  dsl::load_field(a, r7, p.data, EBPF_FIELD(Request, seq));
  dsl::load_field(a, r8, p.data, EBPF_FIELD(Request, op));
  a.mov(r9, p.data_end).sub(r9, p.data);
}

// Fills the Event at base+extra from r7/r9, the clock and `kind`; clobbers r0..r5 (the clock call).
void fill_event(Assembler& a, Reg base, std::int16_t extra, std::int32_t kind) {
  dsl::store_field(a, base, EBPF_FIELD(Event, seq), r7, extra);
  dsl::store_field(a, base, EBPF_FIELD(Event, len), r9, extra);
  dsl::store_field_imm(a, base, EBPF_FIELD(Event, kind), kind, extra);
  a.st(H, base, static_cast<std::int16_t>(extra + offsetof(Event, pad)), 0);
  a.st(W, base, static_cast<std::int16_t>(extra + offsetof(Event, pad) + 2), 0);
  dsl::now_ns(a);
  dsl::store_field(a, base, EBPF_FIELD(Event, ts), r0, extra);
}

Result<Program> load(Assembler& a, std::string_view map, int fd) {
  auto code = EBPF_TRY(a.finish());
  EBPF_TRY(code.resolve(map, fd));
  ProgramLoadOptions opts;
  opts.name = "dsl_events";
  return Program::load(ProgType::xdp, code.span(), opts);
}

Result<Program> ring_program(int ring_fd) {
  Assembler a;
  read_request(a);
  a.jeq(r8, static_cast<std::int32_t>(kOutput), "output");
  dsl::ringbuf_reserve<Event>(a, "events", "full");
  a.mov(r6, r0);  // the record; ctx is not needed any more
  fill_event(a, r6, 0, 1);
  a.jeq(r8, static_cast<std::int32_t>(kDiscard), "discard");
  dsl::ringbuf_submit(a, r6);
  a.mov(r0, kDone).exit();
  a.label("discard");
  dsl::ringbuf_discard(a, r6);
  a.mov(r0, kDone).exit();
  a.label("output");
  fill_event(a, r10, kEventSlot, 2);
  dsl::ringbuf_output(a, "events", dsl::Address{r10, kEventSlot}, static_cast<std::int32_t>(sizeof(Event)));
  a.jne(r0, 0, "full").mov(r0, kDone).exit();
  a.label("full").mov(r0, kFull).exit();
  a.label("short").mov(r0, kShort).exit();
  return load(a, "events", ring_fd);
}

// XDP test runs need at least an Ethernet header's worth of bytes.
Result<std::uint32_t> run(const Program& prog, Request req, std::size_t frame_len = 32) {
  std::vector<std::uint8_t> frame(frame_len, 0xab);
  std::memcpy(frame.data(), &req, sizeof(req));
  auto out = EBPF_TRY(prog.test_run({.data_in = frame}));
  return out.retval;
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

TEST(DslEvents, RingBufferSubmitDiscardOutput) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto map, RingBuffer::create_map(test::unique_name("rb"), 64 * 1024));
  ASSERT_OK_AND_ASSIGN(auto prog, ring_program(map.get()));
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(map.get()));
  const std::uint64_t before = monotonic_ns();
  for (std::uint32_t seq = 1; seq <= 6; ++seq) {
    const std::uint32_t op = seq % 3 == 0 ? kDiscard : seq % 3 == 1 ? kSubmit : kOutput;
    ASSERT_OK_AND_ASSIGN(auto r, run(prog, {op, seq}, 40 + seq));
    EXPECT_EQ(r, kDone) << seq;
  }
  const std::uint64_t after = monotonic_ns();
  std::vector<Event> got;
  ASSERT_OK_AND_ASSIGN(auto n, ring.consume<Event>([&](const Event& e) { got.push_back(e); }, SizeCheck::exact));
  ASSERT_EQ(n, 4u);  // seq 3 and 6 were discarded
  const std::uint32_t seqs[] = {1, 2, 4, 5};
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, seqs[i]);
    EXPECT_EQ(got[i].len, 40 + seqs[i]);
    EXPECT_EQ(got[i].kind, seqs[i] % 3 == 1 ? 1 : 2);  // reserve path or output path
    EXPECT_GE(got[i].ts, before);
    EXPECT_LE(got[i].ts, after);
    if (i > 0) {
      EXPECT_GE(got[i].ts, got[i - 1].ts);
    }
  }
}

TEST(DslEvents, FullRingTakesTheFullExit) {
  EBPF_REQUIRE_KERNEL();
  const auto ring_size = static_cast<std::uint32_t>(page_size());
  ASSERT_OK_AND_ASSIGN(auto map, RingBuffer::create_map(test::unique_name("rbf"), ring_size));
  ASSERT_OK_AND_ASSIGN(auto prog, ring_program(map.get()));
  ASSERT_OK_AND_ASSIGN(auto ring, RingBuffer::open(map.get()));
  // The kernel refuses a reservation that would make the unconsumed bytes reach the ring size (it compares
  // against size - 1), so one record's worth less than size / span fits when the span divides the size.
  const auto fit = (ring_size - 1) / ringbuf_abi::record_span(sizeof(Event));
  std::uint32_t done = 0, full = 0;
  for (std::uint32_t seq = 0; seq < fit + 5; ++seq) {
    ASSERT_OK_AND_ASSIGN(auto r, run(prog, {seq % 2 == 0 ? kSubmit : kOutput, seq}));
    (r == kDone ? done : full) += 1;
  }
  EXPECT_EQ(done, fit);
  EXPECT_EQ(full, 5u);
  std::size_t read = ring.consume([](std::span<const std::byte>) {});
  EXPECT_EQ(read, fit);
  ASSERT_OK_AND_ASSIGN(auto r, run(prog, {kSubmit, 999}));  // room again after consuming
  EXPECT_EQ(r, kDone);
}

TEST(DslEvents, PerfEventOutputOnTheCurrentCpu) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto cpus, possible_cpus());
  ASSERT_OK_AND_ASSIGN(auto perf, Map::create({.type = MapType::perf_event_array, .name = test::unique_name("pf"),
                                               .key_size = 4, .value_size = 4, .max_entries = cpus}));
  Assembler a;
  read_request(a);
  fill_event(a, r10, kEventSlot, 3);
  dsl::perf_event_output(a, r6, "perf", dsl::Address{r10, kEventSlot}, static_cast<std::int32_t>(sizeof(Event)));
  a.jne(r0, 0, "full").mov(r0, kDone).exit();
  a.label("full").mov(r0, kFull).exit();
  a.label("short").mov(r0, kShort).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, "perf", perf.fd()));
  ASSERT_OK_AND_ASSIGN(auto reader, PerfBuffer::open(perf.fd()));
  for (std::uint32_t seq = 10; seq < 13; ++seq) {
    ASSERT_OK_AND_ASSIGN(auto r, run(prog, {kSubmit, seq}, 60));
    EXPECT_EQ(r, kDone);
  }
  std::vector<Event> got;
  std::vector<std::size_t> sizes;
  ASSERT_OK_AND_ASSIGN(auto n, reader.poll(std::chrono::milliseconds(1000),
                                           [&](int, std::span<const std::byte> rec) {
                                             sizes.push_back(rec.size());
                                             Event e;
                                             std::memcpy(&e, rec.data(), std::min(rec.size(), sizeof e));
                                             got.push_back(e);
                                           },
                                           [](int, std::uint64_t) {}));
  EXPECT_EQ(n, 3u);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_GE(sizes[i], sizeof(Event));  // perf pads raw samples to 8 bytes (with the u32 size: 4 more)
    EXPECT_EQ(got[i].seq, 10 + i);
    EXPECT_EQ(got[i].len, 60u);
    EXPECT_EQ(got[i].kind, 3u);
    EXPECT_GT(got[i].ts, 0u);
  }
}

}  // namespace
