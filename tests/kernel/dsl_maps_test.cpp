// DSL map blocks run through BPF_PROG_TEST_RUN: the operation and its operands travel in the test frame, the
// program's effect is read back from user space (and user-space writes are seen by the program): lookup /
// update / delete, lookup-or-init with a zeroed initial value (also on a full map), shared (atomic) and
// per-CPU counters over repeated runs, and tail calls into a program array (hit, empty slot, out of range).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/dsl/memory.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

// What the probe programs read from the frame.
struct Request {
  std::uint32_t op = 0;
  std::uint32_t key = 0;
  std::uint64_t value = 0;
};
static_assert(sizeof(Request) == 16);

// Per-key statistics kept by lookup-or-init.
struct Stats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

constexpr std::uint32_t kUpdate = 0, kLookup = 1, kDelete = 2;
constexpr std::uint32_t kMiss = 0xfffffff0u, kShort = 0xfffffff1u;
constexpr std::int16_t kRequestSlot = -16;  // the Request copied to fp-16

Result<Program> load(Assembler& a, std::initializer_list<std::pair<std::string_view, int>> maps,
                     ProgType type = ProgType::xdp) {
  auto code = EBPF_TRY(a.finish());
  for (const auto& [name, fd] : maps) EBPF_TRY(code.resolve(name, fd));
  ProgramLoadOptions opts;
  opts.name = "dsl_maps";
  return Program::load(type, code.span(), opts);
}

// r6 = ctx; the frame's Request copied to the stack at kRequestSlot (keys and values must not be packet data
// the program could overwrite while a helper reads them).
Result<void> read_request(Assembler& a) {
  const dsl::PacketRegs packet;
  a.mov(r6, r1);
  dsl::xdp_load_data(a, r1, packet);
  dsl::check_bounds(a, packet, sizeof(Request), "short");
  return dsl::stack_copy(a, r10, kRequestSlot, packet.data, 0, sizeof(Request), r1);
}

constexpr dsl::Address field_address(dsl::Field f) {
  return dsl::Address{r10, static_cast<std::int16_t>(kRequestSlot + f.offset)};
}

Result<std::uint32_t> run(const Program& prog, const Request& req, std::uint32_t repeat = 1) {
  std::array<std::uint8_t, sizeof(Request)> frame{};
  std::memcpy(frame.data(), &req, sizeof(req));
  auto out = EBPF_TRY(prog.test_run({.data_in = frame, .repeat = repeat}));
  return out.retval;
}

TEST(DslMaps, LookupUpdateDeleteAgreeWithUserSpace) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto table, (HashMap<std::uint32_t, std::uint64_t>::create(test::unique_name("kv"), 8)));
  const auto key = field_address(EBPF_FIELD(Request, key));
  const auto value = field_address(EBPF_FIELD(Request, value));
  Assembler a;
  ASSERT_OK(read_request(a));
  dsl::load_field(a, r7, r10, EBPF_FIELD(Request, op), kRequestSlot);
  a.jeq(r7, static_cast<std::int32_t>(kLookup), "lookup").jeq(r7, static_cast<std::int32_t>(kDelete), "delete");
  dsl::map_update(a, "table", key, value, dsl::update_flag::any).exit();  // r0 = 0 or -errno
  a.label("lookup");
  dsl::map_lookup(a, "table", key, "miss").ldx(W, r0, r0, 0).exit();  // low half of the value
  a.label("miss").mov(r0, static_cast<std::int32_t>(kMiss)).exit();
  a.label("delete");
  dsl::map_delete(a, "table", key).exit();
  a.label("short").mov(r0, static_cast<std::int32_t>(kShort)).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, {{"table", table.fd()}}));

  ASSERT_OK_AND_ASSIGN(auto r, run(prog, {kUpdate, 5, 0x1234'0000'0077ULL}));
  EXPECT_EQ(r, 0u);
  ASSERT_OK_AND_ASSIGN(auto seen, table.lookup(5));  // the program's write, read by user space
  EXPECT_EQ(seen, 0x1234'0000'0077ULL);
  ASSERT_OK(table.update(6, 4242));  // user space's write, read by the program
  ASSERT_OK_AND_ASSIGN(r, run(prog, {kLookup, 6, 0}));
  EXPECT_EQ(r, 4242u);
  ASSERT_OK_AND_ASSIGN(r, run(prog, {kLookup, 7, 0}));
  EXPECT_EQ(r, kMiss);
  ASSERT_OK_AND_ASSIGN(r, run(prog, {kDelete, 5, 0}));
  EXPECT_EQ(r, 0u);
  auto gone = table.lookup(5);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Errc::key_not_found);
  ASSERT_OK_AND_ASSIGN(r, run(prog, {kDelete, 5, 0}));
  EXPECT_EQ(static_cast<std::int32_t>(r), -ENOENT);
  ASSERT_OK_AND_ASSIGN(r, run(prog, {kLookup, 5, 0}));
  EXPECT_EQ(r, kMiss);
}

TEST(DslMaps, LookupOrInitInsertsZeroThenCounts) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto stats, (HashMap<std::uint32_t, Stats>::create(test::unique_name("st"), 2)));
  constexpr std::int16_t kInitSlot = -32;  // a zeroed Stats
  Assembler a;
  ASSERT_OK(read_request(a));
  ASSERT_OK(dsl::stack_zero(a, r10, kInitSlot, sizeof(Stats)));
  dsl::map_lookup_or_init(a, "stats", field_address(EBPF_FIELD(Request, key)), dsl::Address{r10, kInitSlot}, "full");
  // packets += 1 atomically; bytes += the frame's length (data_end - data), also atomic: the map is shared.
  a.mov(r7, r0);
  dsl::counter_add(a, r7, EBPF_FIELD(Stats, packets).offset, DW, 1, r1, dsl::Sharing::shared);
  a.ldx(W, r2, r6, dsl::xdp_md::data_end).ldx(W, r1, r6, dsl::xdp_md::data).sub(r2, r1);
  dsl::counter_add(a, r7, EBPF_FIELD(Stats, bytes).offset, DW, r2, r1, dsl::Sharing::shared);
  a.mov(r0, 1).exit();
  a.label("full").mov(r0, static_cast<std::int32_t>(kMiss)).exit();
  a.label("short").mov(r0, static_cast<std::int32_t>(kShort)).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, {{"stats", stats.fd()}}));

  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto r, run(prog, {0, 7, 0}));
    EXPECT_EQ(r, 1u);
  }
  ASSERT_OK_AND_ASSIGN(auto r, run(prog, {0, 9, 0}, 5));  // repeat: five runs in one syscall
  EXPECT_EQ(r, 1u);
  ASSERT_OK_AND_ASSIGN(auto s7, stats.lookup(7));
  EXPECT_EQ(s7.packets, 3u);
  EXPECT_EQ(s7.bytes, 3 * sizeof(Request));
  ASSERT_OK_AND_ASSIGN(auto s9, stats.lookup(9));
  EXPECT_EQ(s9.packets, 5u);
  EXPECT_EQ(s9.bytes, 5 * sizeof(Request));
  // A third key does not fit a 2-entry map: the insert fails and the block takes the `failed` exit.
  ASSERT_OK_AND_ASSIGN(r, run(prog, {0, 11, 0}));
  EXPECT_EQ(r, kMiss);
  EXPECT_FALSE(stats.lookup(11));
  // An existing value is not reset by the init path (BPF_NOEXIST): user space's value keeps counting.
  ASSERT_OK(stats.update(7, Stats{100, 1000}));
  ASSERT_OK_AND_ASSIGN(r, run(prog, {0, 7, 0}));
  ASSERT_OK_AND_ASSIGN(s7, stats.lookup(7));
  EXPECT_EQ(s7.packets, 101u);
  EXPECT_EQ(s7.bytes, 1000 + sizeof(Request));
}

TEST(DslMaps, CountersPerCpuAndShared) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto percpu, PerCpuArrayMap<std::uint64_t>::create(test::unique_name("pc"), 4));
  ASSERT_OK_AND_ASSIGN(auto shared, ArrayMap<std::uint64_t>::create(test::unique_name("sh"), 4));
  ASSERT_OK_AND_ASSIGN(auto narrow, ArrayMap<std::uint32_t>::create(test::unique_name("nw"), 4));
  const auto key = field_address(EBPF_FIELD(Request, key));
  Assembler a;
  ASSERT_OK(read_request(a));
  dsl::map_counter_add(a, "percpu", key, 0, DW, 3, dsl::Sharing::per_cpu);
  dsl::map_counter_add(a, "shared", key, 0, DW, 2, dsl::Sharing::shared);
  dsl::map_counter_add(a, "narrow", key, 0, W, -1, dsl::Sharing::shared);  // 32-bit atomic, wraps
  a.mov(r0, 0).exit();
  a.label("short").mov(r0, static_cast<std::int32_t>(kShort)).exit();
  ASSERT_OK_AND_ASSIGN(auto prog, load(a, {{"percpu", percpu.fd()}, {"shared", shared.fd()}, {"narrow", narrow.fd()}}));

  ASSERT_OK_AND_ASSIGN(auto r, run(prog, {0, 2, 0}, 1000));
  EXPECT_EQ(r, 0u);
  ASSERT_OK_AND_ASSIGN(r, run(prog, {0, 9, 0}, 10));  // out of range: lookups miss, nothing counted
  EXPECT_EQ(r, 0u);
  ASSERT_OK_AND_ASSIGN(auto sum, percpu.sum(2));
  EXPECT_EQ(sum, 3000u);
  ASSERT_OK_AND_ASSIGN(auto total, shared.lookup(2));
  EXPECT_EQ(total, 2000u);
  ASSERT_OK_AND_ASSIGN(auto wrapped, narrow.lookup(2));
  EXPECT_EQ(wrapped, 0xffffffffu - 999u);
  ASSERT_OK_AND_ASSIGN(auto untouched, shared.lookup(1));
  EXPECT_EQ(untouched, 0u);
}

TEST(DslMaps, TailCallJumpsOrFallsThrough) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto progs, ProgArray::create(test::unique_name("pa"), 4));
  Assembler t;
  t.mov(r0, 42).exit();
  ASSERT_OK_AND_ASSIGN(auto target, load(t, {}));
  ASSERT_OK(progs.set(0, target.fd()));
  Assembler a;
  ASSERT_OK(read_request(a));
  dsl::load_field(a, r3, r10, EBPF_FIELD(Request, key), kRequestSlot);
  dsl::tail_call(a, r6, "progs", r3);
  a.mov(r0, 7).exit();  // only reached when the tail call failed
  a.label("short").mov(r0, static_cast<std::int32_t>(kShort)).exit();
  ASSERT_OK_AND_ASSIGN(auto entry, load(a, {{"progs", progs.map().fd()}}));

  ASSERT_OK_AND_ASSIGN(auto r, run(entry, {0, 0, 0}));
  EXPECT_EQ(r, 42u);
  ASSERT_OK_AND_ASSIGN(r, run(entry, {0, 1, 0}));  // empty slot
  EXPECT_EQ(r, 7u);
  ASSERT_OK_AND_ASSIGN(r, run(entry, {0, 100, 0}));  // past max_entries
  EXPECT_EQ(r, 7u);
  ASSERT_OK(progs.remove(0));
  ASSERT_OK_AND_ASSIGN(r, run(entry, {0, 0, 0}));
  EXPECT_EQ(r, 7u);
}

}  // namespace
