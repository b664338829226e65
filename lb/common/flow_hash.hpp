// lb/common/flow_hash.hpp — the flow hash that picks a Maglev slot for a new flow, defined once.
//
// The XDP program (lb/dataplane/xdp_ingress.cpp) emits exactly this computation in BPF; tests and tools use
// this constexpr version as the reference, so "which backend will this flow get" is answerable in user space.
// The hash runs once per new flow, so it is kept cheap: the ConntrackKey is read as little-endian 64-bit
// words (how a BPF DW load sees the key bytes on x86), each folded in with one xor and one multiply, then a
// short xor-shift/multiply finaliser so that `hash % table_size` depends on every input bit.
//   - 5-tuple hash: the 5 words of the whole ConntrackKey (src, dst, ports, proto, family, pad = 0).
//   - source-only hash (kPersistSource): the 2 words of the source address.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lb/common/abi.hpp"

namespace lb {

inline constexpr std::uint64_t kFlowHashSeed = 0x6c62666c6f776831ULL;  // "lbflowh1"
inline constexpr std::uint64_t kFlowHashMul = 0x9e3779b97f4a7c15ULL;    // 2^64 / golden ratio (odd)
inline constexpr std::uint64_t kFlowHashFinalMul = 0xff51afd7ed558ccdULL;
inline constexpr int kFlowHashFinalShift1 = 32;
inline constexpr int kFlowHashFinalShift2 = 29;

inline constexpr std::size_t kFlowHashTupleWords = sizeof(ConntrackKey) / 8;  // 5
inline constexpr std::size_t kFlowHashSourceWords = sizeof(Addr) / 8;         // 2

// Folds one 64-bit word into the running hash.
constexpr std::uint64_t flow_hash_step(std::uint64_t hash, std::uint64_t word) { return (hash ^ word) * kFlowHashMul; }

constexpr std::uint64_t flow_hash_finish(std::uint64_t hash) {
  hash ^= hash >> kFlowHashFinalShift1;
  hash *= kFlowHashFinalMul;
  hash ^= hash >> kFlowHashFinalShift2;
  return hash;
}

namespace detail {
// Little-endian word `index` of `bytes` (the byte order of a BPF DW load on a little-endian machine).
template <class Bytes>
constexpr std::uint64_t le_word(const Bytes& bytes, std::size_t index) {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < 8; ++i) word |= static_cast<std::uint64_t>(bytes[index * 8 + i]) << (8 * i);
  return word;
}

constexpr std::uint64_t hash_words(const std::uint8_t* bytes, std::size_t words) {
  std::uint64_t hash = kFlowHashSeed;
  for (std::size_t i = 0; i < words; ++i) hash = flow_hash_step(hash, le_word(bytes, i));
  return flow_hash_finish(hash);
}
}  // namespace detail

// Hash of the whole key (the 5-tuple plus family; pad must be 0 as in every key the data path builds).
constexpr std::uint64_t flow_hash(const ConntrackKey& key) {
  std::uint8_t bytes[sizeof(ConntrackKey)]{};
  for (std::size_t i = 0; i < 16; ++i) bytes[i] = key.src.bytes[i];
  for (std::size_t i = 0; i < 16; ++i) bytes[16 + i] = key.dst.bytes[i];
  // Ports are stored in network order, i.e. as their bytes appear on the wire: keep the bytes as they are.
  bytes[32] = static_cast<std::uint8_t>(key.sport & 0xff);
  bytes[33] = static_cast<std::uint8_t>(key.sport >> 8);
  bytes[34] = static_cast<std::uint8_t>(key.dport & 0xff);
  bytes[35] = static_cast<std::uint8_t>(key.dport >> 8);
  bytes[36] = key.proto;
  bytes[37] = key.family;
  bytes[38] = static_cast<std::uint8_t>(key.pad & 0xff);
  bytes[39] = static_cast<std::uint8_t>(key.pad >> 8);
  return detail::hash_words(bytes, kFlowHashTupleWords);
}

// Hash of the source address only (source persistence: every flow of a client lands on one backend).
constexpr std::uint64_t source_hash(const Addr& src) { return detail::hash_words(src.bytes.data(), kFlowHashSourceWords); }

// The Maglev slot (index into lb_maglev) of a hash in a table of `size` slots starting at `offset`.
constexpr std::uint32_t maglev_slot(std::uint64_t hash, std::uint32_t offset, std::uint32_t size) {
  return offset + static_cast<std::uint32_t>(hash % size);
}

}  // namespace lb
