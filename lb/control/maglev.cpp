// Weighted Maglev table construction (see maglev.hpp).
#include "lb/control/maglev.hpp"

#include <algorithm>
#include <unordered_set>

namespace lb {
namespace {

constexpr std::uint64_t kOffsetSeed = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t kSkipSeed = 0xc2b2ae3d27d4eb4fULL;

// Mixes 64 bits so nearby inputs land far apart (the splitmix64 finaliser).
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

ebpf::Result<void> validate(std::span<const MaglevBackend> backends, const MaglevOptions& options) {
  const auto m = options.table_size;
  if (m < 3 || m > kMaxMaglevTableSize)
    return ebpf::Error::invalid("maglev", "table size " + std::to_string(m) + " is outside 3.." +
                                              std::to_string(kMaxMaglevTableSize));
  if (!is_prime(m))
    return ebpf::Error::invalid("maglev", "table size " + std::to_string(m) + " is not prime (next prime: " +
                                              std::to_string(next_prime(m)) + ")");
  if (backends.size() > m)
    return ebpf::Error::invalid("maglev", std::to_string(backends.size()) + " backends do not fit in " +
                                              std::to_string(m) + " slots");
  std::unordered_set<std::string_view> names;
  std::unordered_set<std::uint32_t> ids;
  std::uint64_t total_weight = 0;
  for (const auto& backend : backends) {
    if (!names.insert(backend.name).second)
      return ebpf::Error::invalid("maglev", "duplicate backend name '" + backend.name + "'");
    if (!ids.insert(backend.id).second)
      return ebpf::Error::invalid("maglev", "duplicate backend id " + std::to_string(backend.id));
    if (backend.id == kNoBackend)
      return ebpf::Error::invalid("maglev", "backend id 0xffffffff is reserved for empty slots");
    total_weight += backend.weight;
  }
  if (total_weight == 0) return ebpf::Error::invalid("maglev", "no backend with a weight above zero");
  return ebpf::ok();
}

struct Walker {
  std::uint64_t offset;
  std::uint64_t skip;
  std::uint64_t next = 0;    // index into this backend's permutation
  std::uint64_t filled = 0;  // slots claimed so far
};

}  // namespace

std::uint64_t stable_hash(std::string_view bytes, std::uint64_t seed) {
  // FNV-1a over the bytes, started from the seed, then a strong finaliser.
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

std::uint64_t next_prime(std::uint64_t n) {
  while (!is_prime(n)) ++n;
  return n;
}

ebpf::Result<std::vector<MaglevSlot>> build_maglev_table(std::span<const MaglevBackend> backends,
                                                         const MaglevOptions& options) {
  EBPF_TRY(validate(backends, options));
  const std::uint64_t m = options.table_size;
  // Walk backends in name order so the table does not depend on the order the caller listed them.
  std::vector<const MaglevBackend*> order;
  for (const auto& backend : backends)
    if (backend.weight > 0) order.push_back(&backend);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::uint64_t max_weight = 0;
  std::vector<Walker> walkers;
  for (const auto* backend : order) {
    max_weight = std::max<std::uint64_t>(max_weight, backend->weight);
    walkers.push_back({stable_hash(backend->name, kOffsetSeed) % m, stable_hash(backend->name, kSkipSeed) % (m - 1) + 1});
  }
  std::vector<MaglevSlot> table(m, kNoBackend);
  std::uint64_t filled = 0;
  // Round r entitles a backend to floor(r * weight / max_weight) slots in total: the heaviest takes one
  // slot per round, the others proportionally fewer, spread evenly over the rounds.
  for (std::uint64_t round = 1; filled < m; ++round) {
    for (std::size_t i = 0; i < order.size() && filled < m; ++i) {
      auto& w = walkers[i];
      if (w.filled >= round * order[i]->weight / max_weight) continue;
      std::uint64_t slot = (w.offset + w.next * w.skip) % m;
      while (table[slot] != kNoBackend) slot = (w.offset + ++w.next * w.skip) % m;
      table[slot] = order[i]->id;
      ++w.next;
      ++w.filled;
      ++filled;
    }
  }
  return table;
}

std::vector<MaglevShare> maglev_shares(std::span<const MaglevSlot> table,
                                       std::span<const MaglevBackend> backends) {
  std::uint64_t total_weight = 0;
  for (const auto& backend : backends) total_weight += backend.weight;
  std::vector<MaglevShare> shares;
  for (const auto& backend : backends) {
    MaglevShare share{backend.id, backend.weight, 0, 0, 0};
    share.slots = static_cast<std::uint64_t>(std::count(table.begin(), table.end(), backend.id));
    if (total_weight > 0)
      share.expected_slots = static_cast<double>(table.size()) * backend.weight / static_cast<double>(total_weight);
    if (share.expected_slots > 0)
      share.deviation = (static_cast<double>(share.slots) - share.expected_slots) / share.expected_slots;
    shares.push_back(share);
  }
  return shares;
}

double maglev_moved_fraction(std::span<const MaglevSlot> before, std::span<const MaglevSlot> after,
                             std::span<const std::uint32_t> survivors) {
  if (before.size() != after.size() || before.empty()) return 1.0;
  std::unordered_set<std::uint32_t> alive(survivors.begin(), survivors.end());
  std::uint64_t moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i)
    if (alive.contains(before[i]) && after[i] != before[i]) ++moved;
  return static_cast<double>(moved) / static_cast<double>(before.size());
}

}  // namespace lb
