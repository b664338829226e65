// Address parsing and formatting (see address.hpp).
#include "lb/control/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace lb {
namespace {

ebpf::Error bad(std::string_view what, std::string_view text, std::string_view why) {
  return ebpf::Error::invalid("parse " + std::string(what), "'" + std::string(text) + "': " + std::string(why));
}

}  // namespace

bool IpAddress::is_loopback() const {
  if (is_v4()) return addr.bytes[12] == 127;
  Addr loop{};
  loop.bytes[15] = 1;
  return family == kFamilyV6 && addr == loop;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    ::inet_ntop(AF_INET, addr.bytes.data() + 12, buf, sizeof buf);
  } else if (family == kFamilyV6) {
    ::inet_ntop(AF_INET6, addr.bytes.data(), buf, sizeof buf);
  } else {
    return "<unset>";
  }
  return buf;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family != address.family) return false;
  const std::uint32_t bits = mapped_prefix_len();
  for (std::uint32_t i = 0; i < 128; ++i) {
    if (i >= bits) break;
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80U >> (i % 8));
    if ((ip.addr.bytes[i / 8] & mask) != (address.addr.bytes[i / 8] & mask)) return false;
  }
  return true;
}

std::string Cidr::to_string() const { return address.to_string() + "/" + std::to_string(prefix_len); }

Endpoint Endpoint::loopback(std::uint16_t port) {
  Endpoint ep;
  ep.address.family = kFamilyV4;
  ep.address.addr.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  ep.port = port;
  return ep;
}

std::string Endpoint::to_string() const {
  if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
  return "[" + address.to_string() + "]:" + std::to_string(port);
}

ebpf::Result<IpAddress> parse_ip(std::string_view text) {
  const std::string s(text);
  IpAddress ip;
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    ip.family = kFamilyV4;
    ip.addr.bytes[10] = 0xff;
    ip.addr.bytes[11] = 0xff;
    std::memcpy(ip.addr.bytes.data() + 12, &v4, 4);
    return ip;
  }
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    ip.family = kFamilyV6;
    std::memcpy(ip.addr.bytes.data(), &v6, 16);
    return ip;
  }
  return bad("address", text, "not an IPv4 or IPv6 address");
}

ebpf::Result<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return bad("port", text, "not a decimal number");
  if (value == 0 || value > 65535) return bad("port", text, "must be 1..65535");
  return static_cast<std::uint16_t>(value);
}

ebpf::Result<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  Cidr cidr;
  cidr.address = EBPF_TRY(parse_ip(text.substr(0, slash)));
  const unsigned max_len = cidr.address.is_v4() ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
      return bad("CIDR", text, "prefix length is not a number");
    if (len > max_len) return bad("CIDR", text, "prefix length exceeds " + std::to_string(max_len));
  }
  cidr.prefix_len = static_cast<std::uint8_t>(len);
  const std::uint32_t bits = cidr.mapped_prefix_len();
  for (std::uint32_t i = bits; i < 128; ++i)
    if (cidr.address.addr.bytes[i / 8] & (0x80U >> (i % 8)))
      return bad("CIDR", text, "host bits are set (did you mean " +
                                   [&] {
                                     Cidr fixed = cidr;
                                     for (std::uint32_t j = bits; j < 128; ++j)
                                       fixed.address.addr.bytes[j / 8] &= static_cast<std::uint8_t>(~(0x80U >> (j % 8)));
                                     return fixed.to_string();
                                   }() + "?)");
  return cidr;
}

ebpf::Result<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("endpoint", text, "expected [IPv6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return bad("endpoint", text, "expected address:port (IPv6 as [address]:port)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  ep.address = EBPF_TRY(parse_ip(host));
  ep.port = EBPF_TRY(parse_port(port));
  return ep;
}

}  // namespace lb
