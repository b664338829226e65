// Random number blocks (see ebpf/dsl/random.hpp).
#include "ebpf/dsl/random.hpp"

#include <cstdint>
#include <string>

#include "ebpf/helpers.hpp"
#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;
}

Assembler& random_u32(Assembler& a) { return a.call(helper::get_prandom_u32); }

// (r * n) >> 32 with r < 2^32 and n < 2^32: the product fits 64 bits and the result is below n.
Assembler& random_below(Assembler& a, Reg n) { return random_u32(a).mul(r0, n).rsh(r0, 32); }

Assembler& random_below(Assembler& a, std::int32_t n) {
  if (n <= 0) return a.mov(r0, 0);
  return random_u32(a).mul(r0, n).rsh(r0, 32);
}

Result<void> weighted_choice(Assembler& a, std::span<const std::uint32_t> weights) {
  if (weights.empty()) return Error::invalid("weighted_choice", "the weight table is empty");
  std::uint64_t sum = 0;
  for (std::uint32_t w : weights) sum += w;
  if (sum == 0) return Error::invalid("weighted_choice", "the weights sum to 0");
  if (sum > 0x7fffffffu)
    return Error::invalid("weighted_choice", "the weights sum to " + std::to_string(sum) + ", above 2^31 - 1");
  // r1 = a point in [0, sum); the chosen index is the first whose cumulative weight exceeds it. A chain of
  // "r0 = i; if r1 < cumulative[i] goto done" needs no table in memory and no indexing the verifier must bound.
  const std::string done = detail::local_label(a, "weighted_done");
  random_below(a, static_cast<std::int32_t>(sum)).mov(r1, r0);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i + 1 < weights.size(); ++i) {
    cumulative += weights[i];
    if (weights[i] == 0) continue;  // never chosen: r1 >= cumulative of the previous entries here
    a.mov(r0, static_cast<std::int32_t>(i)).jlt(r1, static_cast<std::int32_t>(cumulative), done);
  }
  a.mov(r0, static_cast<std::int32_t>(weights.size() - 1));
  // The last entry may have weight 0: then r1 < cumulative always held before; never reached.
  return (a.label(done), ok());
}

}  // namespace ebpf::dsl
