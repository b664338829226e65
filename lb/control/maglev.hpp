// lb/control/maglev.hpp — weighted Maglev consistent-hashing lookup tables, built in user space.
//
// A table of `table_size` (prime) slots, each naming a backend id. Each backend walks its own permutation
// of the slots (offset and skip from two hashes of its stable name) and claims the next free slot on its
// turn; a backend of weight w gets w/max_weight turns per round, so its share of slots is proportional to
// its weight. The hashes are fixed functions of the name bytes (no std::hash, no seeds from the process),
// so every run on every LB node builds the identical table from the same backend set, and removing a
// backend moves few flows of the others.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/common/abi.hpp"

namespace lb {

struct MaglevBackend {
  std::string name;         // stable identity, e.g. "10.0.1.1:8080": decides the permutation
  std::uint32_t id = 0;     // written into the table slots
  std::uint32_t weight = 1; // 0 = takes no slots (drained)
};

inline constexpr std::uint32_t kDefaultMaglevTableSize = 65537;
inline constexpr std::uint32_t kMaxMaglevTableSize = 16777259;  // a prime just above 2^24

struct MaglevOptions {
  std::uint32_t table_size = kDefaultMaglevTableSize;  // must be prime
};

// Builds the table. Errors (invalid_argument): table size not prime / too small / too large, fewer slots
// than backends, duplicate names or ids, weights summing to zero.
ebpf::Result<std::vector<MaglevSlot>> build_maglev_table(std::span<const MaglevBackend> backends,
                                                         const MaglevOptions& options = {});

// Per-backend share of a built table.
struct MaglevShare {
  std::uint32_t id = 0;
  std::uint32_t weight = 0;
  std::uint64_t slots = 0;
  double expected_slots = 0;  // table_size * weight / total weight
  double deviation = 0;       // (slots - expected) / expected
};
std::vector<MaglevShare> maglev_shares(std::span<const MaglevSlot> table,
                                       std::span<const MaglevBackend> backends);

// Fraction of slots whose owner differs between two tables of the same size, counting only slots whose
// old owner is in `survivors` (the disruption a removal causes to the backends that stayed).
double maglev_moved_fraction(std::span<const MaglevSlot> before, std::span<const MaglevSlot> after,
                             std::span<const std::uint32_t> survivors);

bool is_prime(std::uint64_t n);
// The smallest prime >= n.
std::uint64_t next_prime(std::uint64_t n);

// The stable 64-bit hash used for permutations (exposed for tests and for the data path's flow hash).
std::uint64_t stable_hash(std::string_view bytes, std::uint64_t seed);

}  // namespace lb
