// CIDR parsing for LPM trie keys.
#include "ebpf/maps/lpm.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace ebpf {

namespace {

// Splits "addr/len" and parses both parts into `addr` (network order) and the prefix length.
template <std::size_t N>
Result<std::uint32_t> parse_cidr(std::string_view cidr, int family, std::array<std::uint8_t, N>& addr) {
  constexpr std::uint32_t kMaxBits = N * 8;
  auto bad = [&](std::string_view why) {
    return Error(Errc::bad_format, "parse CIDR", "'" + std::string(cidr) + "': " + std::string(why));
  };
  auto slash = cidr.find('/');
  std::string address(cidr.substr(0, slash));
  std::uint32_t bits = kMaxBits;
  if (slash != std::string_view::npos) {
    auto len = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (len.empty() || ec != std::errc() || end != len.data() + len.size()) return bad("bad prefix length");
    if (bits > kMaxBits) return bad("prefix length above " + std::to_string(kMaxBits));
  }
  if (::inet_pton(family, address.c_str(), addr.data()) != 1)
    return bad(family == AF_INET ? "not an IPv4 address" : "not an IPv6 address");
  // Clear host bits so that equal prefixes always make equal keys.
  for (std::uint32_t i = 0; i < N; ++i) {
    std::uint32_t first_bit = i * 8;
    if (first_bit >= bits) addr[i] = 0;
    else if (bits - first_bit < 8) addr[i] &= static_cast<std::uint8_t>(0xFF00 >> (bits - first_bit));
  }
  return bits;
}

template <std::size_t N>
std::string format(int family, const std::array<std::uint8_t, N>& addr, std::uint32_t bits) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, addr.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(bits);
}

}  // namespace

Result<LpmKey4> LpmKey4::parse(std::string_view cidr) {
  LpmKey4 key;
  key.prefixlen = EBPF_TRY(parse_cidr(cidr, AF_INET, key.addr));
  return key;
}

Result<LpmKey6> LpmKey6::parse(std::string_view cidr) {
  LpmKey6 key;
  key.prefixlen = EBPF_TRY(parse_cidr(cidr, AF_INET6, key.addr));
  return key;
}

std::string LpmKey4::to_string() const { return format(AF_INET, addr, prefixlen); }
std::string LpmKey6::to_string() const { return format(AF_INET6, addr, prefixlen); }

}  // namespace ebpf
