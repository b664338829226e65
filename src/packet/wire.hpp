// Private helpers of the packet builder and parser: big-endian field access and checksum partial sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ebpf::packet::wire {

inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
inline void store16(std::span<std::uint8_t> at, std::size_t off, std::uint16_t v) {
  at[off] = static_cast<std::uint8_t>(v >> 8);
  at[off + 1] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get16(std::span<const std::uint8_t> b, std::size_t off) {
  return static_cast<std::uint16_t>(b[off] << 8 | b[off + 1]);
}
inline std::uint32_t get32(std::span<const std::uint8_t> b, std::size_t off) {
  return std::uint32_t(get16(b, off)) << 16 | get16(b, off + 2);
}

// Unfolded one's complement sum of big-endian 16-bit words (odd last byte padded with zero).
std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t acc = 0);

// Pseudo-header partial sums (RFC 793/768 for IPv4, RFC 8200 section 8.1 for IPv6).
std::uint32_t pseudo_sum_v4(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst,
                            std::uint8_t proto, std::uint32_t l4_len);
std::uint32_t pseudo_sum_v6(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst,
                            std::uint8_t next_header, std::uint32_t l4_len);

}  // namespace ebpf::packet::wire
