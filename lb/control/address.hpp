// lb/control/address.hpp — IP addresses, CIDRs and host:port endpoints as the configuration spells them,
// converted to the data path's 16-byte form (lb::Addr, IPv4 v4-mapped).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ebpf/error.hpp"
#include "lb/common/abi.hpp"

namespace lb {

struct IpAddress {
  std::uint8_t family = 0;  // kFamilyV4 / kFamilyV6; 0 = unset
  Addr addr;                // v4-mapped for IPv4

  bool is_v4() const { return family == kFamilyV4; }
  bool is_loopback() const;
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress address;           // host bits cleared
  std::uint8_t prefix_len = 0; // in the address's own family (0..32 or 0..128)
  // The prefix length over the 128-bit mapped form (v4 adds 96), as the LPM trie wants it.
  std::uint32_t mapped_prefix_len() const { return address.is_v4() ? prefix_len + 96U : prefix_len; }
  bool contains(const IpAddress& ip) const;
  std::string to_string() const;
};

struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;  // host order
  // 127.0.0.1:port (port 0 = "any free port" for listeners).
  static Endpoint loopback(std::uint16_t port);
  std::string to_string() const;  // "10.0.0.1:80", "[2001:db8::1]:80"
};

// "10.0.0.1", "2001:db8::1". Errors are invalid_argument naming the text.
ebpf::Result<IpAddress> parse_ip(std::string_view text);
// "10.0.0.0/8", "2001:db8::/32"; a bare address is a host route. Host bits set are an error (a typo guard).
ebpf::Result<Cidr> parse_cidr(std::string_view text);
// "10.0.0.1:80", "[2001:db8::1]:80", "localhost" is not accepted (no DNS in the control plane).
ebpf::Result<Endpoint> parse_endpoint(std::string_view text);
// A decimal port 1..65535.
ebpf::Result<std::uint16_t> parse_port(std::string_view text);

}  // namespace lb
