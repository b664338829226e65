// Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums used by TCP, UDP and ICMPv6.
#include "ebpf/packet.hpp"
#include "wire.hpp"

namespace ebpf::packet {

namespace wire {

std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t acc) {
  std::uint64_t sum = acc;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (i < bytes.size()) sum += static_cast<std::uint32_t>(bytes[i] << 8);
  while (sum >> 32) sum = (sum & 0xffffffffU) + (sum >> 32);
  return static_cast<std::uint32_t>(sum);
}

std::uint32_t pseudo_sum_v4(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst,
                            std::uint8_t proto, std::uint32_t l4_len) {
  std::uint32_t sum = sum_words(src, 0);
  sum = sum_words(dst, sum);
  return sum + proto + l4_len;  // zero byte + protocol, then the 16-bit length (fits: both < 2^17)
}

std::uint32_t pseudo_sum_v6(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst,
                            std::uint8_t next_header, std::uint32_t l4_len) {
  std::uint32_t sum = sum_words(src, 0);
  sum = sum_words(dst, sum);
  return sum + (l4_len >> 16) + (l4_len & 0xffff) + next_header;  // 32-bit length, 3 zero bytes, next header
}

}  // namespace wire

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial) {
  std::uint64_t sum = wire::sum_words(bytes, 0);
  sum += initial;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

}  // namespace ebpf::packet
