// Text forms of MAC / IPv4 / IPv6 addresses and hex byte strings.
#include <arpa/inet.h>

#include <cstdio>

#include "ebpf/packet.hpp"

namespace ebpf::packet {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<Mac> parse_mac(std::string_view text) {
  Mac mac{};
  auto bad = [&] { return Error(Errc::bad_format, "parse MAC", "'" + std::string(text) + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"); };
  if (text.size() != 17) return bad();
  for (std::size_t i = 0; i < 6; ++i) {
    int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')) return bad();
    mac[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return mac;
}

Result<Ipv4Addr> parse_ipv4(std::string_view text) {
  Ipv4Addr out{};
  std::string s(text);
  if (::inet_pton(AF_INET, s.c_str(), out.data()) != 1)
    return Error(Errc::bad_format, "parse IPv4", "'" + s + "' is not an IPv4 address");
  return out;
}

Result<Ipv6Addr> parse_ipv6(std::string_view text) {
  Ipv6Addr out{};
  std::string s(text);
  if (::inet_pton(AF_INET6, s.c_str(), out.data()) != 1)
    return Error(Errc::bad_format, "parse IPv6", "'" + s + "' is not an IPv6 address");
  return out;
}

std::string to_string(const Mac& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

std::string to_string(const Ipv4Addr& addr) {
  char buf[INET_ADDRSTRLEN];
  return ::inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
}

std::string to_string(const Ipv6Addr& addr) {
  char buf[INET6_ADDRSTRLEN];
  return ::inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
}

Result<std::vector<std::uint8_t>> from_hex(std::string_view text) {
  std::vector<std::uint8_t> out;
  int pending = -1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == ':' || c == '-' || c == '\n' || c == '\t') {
      if (pending >= 0) return Error(Errc::bad_format, "parse hex", "odd number of digits before offset " + std::to_string(i));
      continue;
    }
    int d = hex_digit(c);
    if (d < 0) return Error(Errc::bad_format, "parse hex", "'" + std::string(1, c) + "' at offset " + std::to_string(i) + " is not a hex digit");
    if (pending < 0) {
      pending = d;
    } else {
      out.push_back(static_cast<std::uint8_t>(pending << 4 | d));
      pending = -1;
    }
  }
  if (pending >= 0) return Error(Errc::bad_format, "parse hex", "odd number of hex digits");
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace ebpf::packet
