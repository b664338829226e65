// Seed programs built from the DSL blocks (see ebpf/dsl/seeds.hpp).
#include "ebpf/dsl/seeds.hpp"

#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/dsl/memory.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/dsl/rate_limit.hpp"
#include "ebpf/helpers.hpp"
#include "seed_load.hpp"

namespace ebpf::dsl::rate_limiter {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kSourceSlot = -4;   // u32 key: IPv4 source
constexpr std::int16_t kZeroSlot = -8;     // u32 key 0 of the config array
constexpr std::int16_t kVerdictSlot = -12; // u32 counter index, also the verdict
constexpr std::int16_t kBucketSlot = -32;  // zeroed TokenBucket for first inserts (8-byte aligned)
constexpr std::int16_t kIpv4SourceOffset = 12;

// Leaves the IPv4 source in kSourceSlot, or jumps to "count" (verdict slot already says passed).
void parse_source(Assembler& a) {
  const PacketRegs regs;
  a.st(W, r10, kVerdictSlot, static_cast<std::int32_t>(kPassed));
  xdp_load_data(a, r1, regs);
  parse_ethernet(a, regs, r0, "count");
  a.jne(r0, 0x0800, "count");
  parse_ipv4(a, regs, r1, r0, "count");
  a.ldx(W, r5, r1, kIpv4SourceOffset).stx(W, r10, kSourceSlot, r5);
}

// r7 = now, r8 = rate, r9 = burst; "count" when the config is missing.
void load_time_and_config(Assembler& a) {
  a.call(helper::ktime_get_ns).mov(r7, r0);
  a.st(W, r10, kZeroSlot, 0);
  map_lookup(a, kConfigMap, Address{r10, kZeroSlot}, "count");
  load_field(a, r8, r0, EBPF_FIELD(RateLimitConfig, rate));
  load_field(a, r9, r0, EBPF_FIELD(RateLimitConfig, burst));
}

// r6 = this source's bucket: lookup, else insert a zeroed one (BPF_NOEXIST) and look up again.
Result<void> lookup_or_init_bucket(Assembler& a) {
  EBPF_TRY(stack_zero(a, r10, kBucketSlot, sizeof(TokenBucket)));
  map_lookup_or_init(a, kBucketsMap, Address{r10, kSourceSlot}, Address{r10, kBucketSlot}, "count");
  a.mov(r6, r0);
  return ok();
}

// counters[verdict] += 1 on this CPU, then DROP or PASS.
void count_and_return(Assembler& a) {
  a.ja("count");
  a.label("denied").st(W, r10, kVerdictSlot, static_cast<std::int32_t>(kDropped));
  a.label("count");
  map_lookup(a, kCountersMap, Address{r10, kVerdictSlot}, "verdict");
  counter_add(a, r0, 0, DW, 1, r1, Sharing::per_cpu);
  a.label("verdict").ldx(W, r1, r10, kVerdictSlot).mov(r0, xdp_action::pass);
  a.jne(r1, static_cast<std::int32_t>(kDropped), "out").mov(r0, xdp_action::drop);
  a.label("out").exit();
}
}  // namespace

Result<Bytecode> build() {
  Assembler a;
  parse_source(a);
  load_time_and_config(a);
  EBPF_TRY(lookup_or_init_bucket(a));
  EBPF_TRY(token_bucket_take(a, {.bucket = r6, .now_ns = r7, .rate = r8, .burst = r9, .scratch = {r1, r2, r3}},
                             "denied"));
  count_and_return(a);
  return a.finish();
}

Result<Program> load(const RateLimiterMaps& maps, const ProgramLoadOptions& opts) {
  auto code = EBPF_TRY(build());
  EBPF_TRY(code.resolve(kBucketsMap, maps.buckets_fd));
  EBPF_TRY(code.resolve(kConfigMap, maps.config_fd));
  EBPF_TRY(code.resolve(kCountersMap, maps.counters_fd));
  return detail::load_seed(ProgType::xdp, code, "dsl_ratelimit", opts);
}

}  // namespace ebpf::dsl::rate_limiter
