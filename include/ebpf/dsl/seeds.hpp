// ebpf/dsl/seeds.hpp — seed programs built with the DSL blocks: an XDP token-bucket rate limiter per IPv4
// source address.
//
// Rate limiter maps (names below, resolved by load()):
//   buckets:  HASH or LRU_HASH, key u32 = IPv4 source (network byte order), value dsl::TokenBucket; a new
//             source gets a zeroed bucket (inserted with BPF_NOEXIST, so a racing insert is not overwritten),
//             which starts full
//   config:   ARRAY with one RateLimitConfig {rate tokens/s, burst tokens}
//   counters: PERCPU_ARRAY of u64, 2 entries: [kPassed], [kDropped]
// Non-IPv4, short or malformed frames pass uncounted by the limiter but counted as passed; frames are also
// passed when the config or a bucket cannot be read (fail open).
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl::rate_limiter {

inline constexpr std::string_view kBucketsMap = "buckets";
inline constexpr std::string_view kConfigMap = "config";
inline constexpr std::string_view kCountersMap = "counters";
inline constexpr std::uint32_t kPassed = 0;
inline constexpr std::uint32_t kDropped = 1;

struct RateLimitConfig {
  std::uint32_t rate = 0;   // tokens per second
  std::uint32_t burst = 0;  // bucket size in tokens
};

// The program with unresolved references to the three maps.
Result<Bytecode> build();

struct RateLimiterMaps {
  int buckets_fd = -1;
  int config_fd = -1;
  int counters_fd = -1;
};

// build(), maps resolved, loaded as XDP.
Result<Program> load(const RateLimiterMaps& maps, const ProgramLoadOptions& opts = {});

}  // namespace ebpf::dsl::rate_limiter
