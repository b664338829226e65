// ebpf/dsl/rate_limit.hpp — token-bucket rate limiting in BPF, on a 16-byte bucket record kept in a map value
// (or on the stack / in a packet), with the constexpr C++ reference the BPF block mirrors instruction for
// instruction, so user space (and tests) can predict every verdict.
//
// Layout (shared with the load balancer, keep it): struct { u64 nano_tokens; u64 last_refill_ns; }
// 1 token = 1e9 nano-tokens. `rate` is tokens per second and `burst` the bucket size in tokens (both u32), so
// elapsed_ns * rate is exactly the refill in nano-tokens. A fresh bucket (last_refill_ns == 0) starts full.
// Elapsed time is capped at burst*1e9/rate + 1 ns before the multiplication: a full refill never needs more,
// and the product then stays below 2^64 (burst*1e9 + rate < 2^63 for u32 inputs).
//
//   dsl::TokenBucketRegs regs{.bucket = r6, .now_ns = r7, .rate = r8, .burst = r9,
//                             .scratch = {r1, r2, r3}};
//   EBPF_TRY(dsl::token_bucket_take(a, regs, "rate_limited"));   // falls through when a token was taken
//
// The update is not atomic: two CPUs taking from one bucket at the same instant may both read the old state
// (at worst one extra token passes). Use a per-CPU map (rate / CPUs each) or accept that, as most limiters do.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/error.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

inline constexpr std::uint64_t kNanoTokensPerToken = 1'000'000'000ULL;

struct TokenBucket {
  std::uint64_t nano_tokens = 0;
  std::uint64_t last_refill_ns = 0;
};
static_assert(sizeof(TokenBucket) == 16 && offsetof(TokenBucket, last_refill_ns) == 8);

// The reference algorithm: refill by the elapsed time (capped), clamp to burst, take one token if available.
// `last_refill_ns` always becomes `now_ns` (also when the clock went backwards: no refill then).
constexpr bool token_bucket_take(TokenBucket& bucket, std::uint64_t now_ns, std::uint32_t rate, std::uint32_t burst) {
  const std::uint64_t cap = std::uint64_t{burst} * kNanoTokensPerToken;
  if (bucket.last_refill_ns == 0) {
    bucket.nano_tokens = cap;
  } else if (now_ns > bucket.last_refill_ns) {
    const std::uint64_t elapsed = now_ns - bucket.last_refill_ns;
    const std::uint64_t max_elapsed = rate == 0 ? 0 : cap / rate + 1;
    const std::uint64_t refill = (elapsed > max_elapsed ? max_elapsed : elapsed) * rate;
    const std::uint64_t filled = bucket.nano_tokens + refill;
    bucket.nano_tokens = filled > cap ? cap : filled;
  }
  bucket.last_refill_ns = now_ns;
  if (bucket.nano_tokens < kNanoTokensPerToken) return false;
  bucket.nano_tokens -= kNanoTokensPerToken;
  return true;
}

// Register contract of the BPF block. Inputs are preserved; the three scratch registers are clobbered.
//   bucket  pointer to the record (map value after a NULL check, r10 for a stack record, a checked packet
//           pointer); the record is at bucket + offset
//   now_ns  current time in ns (e.g. from bpf_ktime_get_ns), u64
//   rate    tokens per second, burst bucket size in tokens: u32 values zero-extended to 64 bits (a 32-bit
//           ldx does that)
// All registers must be distinct; none but `bucket` may be r10.
struct TokenBucketRegs {
  isa::Reg bucket = isa::r6;
  isa::Reg now_ns = isa::r7;
  isa::Reg rate = isa::r8;
  isa::Reg burst = isa::r9;
  std::array<isa::Reg, 3> scratch = {isa::r1, isa::r2, isa::r3};
  std::int16_t offset = 0;
};

inline constexpr Field kTokenBucketTokens = EBPF_FIELD(TokenBucket, nano_tokens);
inline constexpr Field kTokenBucketLastRefill = EBPF_FIELD(TokenBucket, last_refill_ns);

// Emits token_bucket_take: updates the record, then falls through when a token was taken and jumps to
// `denied` when the bucket was empty. invalid_argument when the registers break the contract.
Result<void> token_bucket_take(Assembler& a, const TokenBucketRegs& regs, Assembler::Label denied);

}  // namespace ebpf::dsl
