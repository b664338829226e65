// ebpf/packet.hpp — building and parsing network frames for tests and BPF_PROG_TEST_RUN.
//
// Builder assembles Ethernet (+802.1Q) / IPv4 (+options) or IPv6 / TCP (+options), UDP or ICMP(v6) echo /
// payload with every length and checksum filled in (IPv4 header, TCP/UDP/ICMPv6 pseudo-header, ICMP).
// parse() reads a frame back into a flat view (addresses, ports, flags, payload) and recomputes each
// checksum independently, so a test can assert both what a program wrote and that it kept checksums valid.
//
//   auto frame = packet::Builder()
//       .ethernet(*packet::parse_mac("02:00:00:00:00:01"), *packet::parse_mac("02:00:00:00:00:02"))
//       .ipv4(*packet::parse_ipv4("10.0.0.1"), *packet::parse_ipv4("10.0.0.2"))
//       .udp(1234, 53)
//       .payload("hello")
//       .build();
// The *Spec overloads take every field (VLAN, TTL, TCP options ...).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"

namespace ebpf::packet {

using Mac = std::array<std::uint8_t, 6>;
using Ipv4Addr = std::array<std::uint8_t, 4>;
using Ipv6Addr = std::array<std::uint8_t, 16>;

Result<Mac> parse_mac(std::string_view text);        // "02:00:00:00:00:01"
Result<Ipv4Addr> parse_ipv4(std::string_view text);  // "10.0.0.1"
Result<Ipv6Addr> parse_ipv6(std::string_view text);  // "fd00::1"
std::string to_string(const Mac& mac);
std::string to_string(const Ipv4Addr& addr);
std::string to_string(const Ipv6Addr& addr);

// Bytes from hex text ("0a0b 0c", separators ' ' ':' '-' allowed); for CLIs and tests.
Result<std::vector<std::uint8_t>> from_hex(std::string_view text);
std::string to_hex(std::span<const std::uint8_t> bytes);

inline constexpr std::uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEthertypeIpv6 = 0x86dd;
inline constexpr std::uint16_t kEthertypeVlan = 0x8100;
inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;

namespace tcp_flags {
inline constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10, urg = 0x20,
                              ece = 0x40, cwr = 0x80;
}

struct EthernetSpec {
  Mac src{};
  Mac dst{};
  std::optional<std::uint16_t> vlan_id;  // adds an 802.1Q tag
  std::uint8_t vlan_priority = 0;
  std::uint16_t ethertype = 0;  // 0: taken from the IP layer
};

struct Ipv4Spec {
  Ipv4Addr src{};
  Ipv4Addr dst{};
  std::uint8_t ttl = 64;
  std::uint16_t id = 0;
  bool dont_fragment = true;
  std::uint8_t tos = 0;
  std::optional<std::uint8_t> protocol;  // default: from the L4 layer
  std::vector<std::uint8_t> options;     // raw option bytes, padded with EOL to a multiple of 4 (max 40)
};

struct Ipv6Spec {
  Ipv6Addr src{};
  Ipv6Addr dst{};
  std::uint8_t hop_limit = 64;
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;  // 20 bits
  std::optional<std::uint8_t> next_header;
};

// One TCP option in wire form (kind, and for kinds > 1 a length byte, then data).
struct TcpOption {
  std::uint8_t kind = 1;
  std::vector<std::uint8_t> data;  // without kind and length

  static TcpOption nop() { return {1, {}}; }
  static TcpOption mss(std::uint16_t mss);
  static TcpOption window_scale(std::uint8_t shift);
  static TcpOption sack_permitted() { return {4, {}}; }
  static TcpOption timestamps(std::uint32_t value, std::uint32_t echo_reply);
};

struct TcpSpec {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = tcp_flags::syn;
  std::uint16_t window = 65535;
  std::uint16_t urgent = 0;
  std::vector<TcpOption> options;  // in order; padded with EOL to a multiple of 4 (max 40 bytes)
};

struct UdpSpec {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
};

// ICMP echo over IPv4 (type 8 request / 0 reply) or ICMPv6 echo (128 / 129), chosen by the IP layer.
struct IcmpEchoSpec {
  bool reply = false;
  std::uint16_t id = 0;
  std::uint16_t seq = 0;
};

// Any ICMP or ICMPv6 message (the IP layer decides which): type, code and the four bytes after the
// checksum (e.g. the next-hop MTU of "fragmentation needed", the MTU of "packet too big"). The payload
// follows them — for an error message, the start of the packet it is about.
struct IcmpSpec {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint32_t rest = 0;
};

class Builder {
 public:
  Builder& ethernet(const EthernetSpec& spec);
  Builder& ipv4(const Ipv4Spec& spec);
  Builder& ipv6(const Ipv6Spec& spec);
  Builder& tcp(const TcpSpec& spec);
  Builder& udp(const UdpSpec& spec);
  Builder& icmp_echo(const IcmpEchoSpec& spec);
  Builder& icmp(const IcmpSpec& spec);
  // Shorthands with the defaults of the specs.
  Builder& ethernet(const Mac& src, const Mac& dst);
  Builder& ipv4(const Ipv4Addr& src, const Ipv4Addr& dst);
  Builder& ipv6(const Ipv6Addr& src, const Ipv6Addr& dst);
  Builder& tcp(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t flags = tcp_flags::syn);
  Builder& udp(std::uint16_t src_port, std::uint16_t dst_port);
  Builder& payload(std::span<const std::uint8_t> bytes);
  Builder& payload(std::string_view text);

  // The frame; invalid combinations (L4 without IP, oversized options or payload) are errors.
  Result<std::vector<std::uint8_t>> build() const;

 private:
  enum class L3 { none, v4, v6 };
  enum class L4 { none, tcp, udp, icmp };
  std::optional<EthernetSpec> eth_;
  L3 l3_ = L3::none;
  Ipv4Spec v4_;
  Ipv6Spec v6_;
  L4 l4_ = L4::none;
  TcpSpec tcp_;
  UdpSpec udp_;
  IcmpEchoSpec icmp_;
  std::optional<IcmpSpec> icmp_raw_;  // set by icmp(), cleared by icmp_echo()
  std::vector<std::uint8_t> payload_;
};

// Result of parse(). Spans point into the parsed frame. Checksum fields: nullopt when the layer is absent
// or carries no checksum (UDP over IPv4 with checksum 0).
struct Parsed {
  bool has_ethernet = false;
  Mac src_mac{};
  Mac dst_mac{};
  std::optional<std::uint16_t> vlan_id;
  std::uint8_t vlan_priority = 0;
  std::uint16_t ethertype = 0;  // after any VLAN tag

  int ip_version = 0;  // 4, 6 or 0 (not IP)
  Ipv4Addr src_ipv4{};
  Ipv4Addr dst_ipv4{};
  Ipv6Addr src_ipv6{};
  Ipv6Addr dst_ipv6{};
  std::uint8_t ttl = 0;  // hop limit for IPv6
  std::uint16_t ip_id = 0;
  bool dont_fragment = false;
  std::uint8_t tos = 0;
  std::uint8_t protocol = 0;  // IPv4 protocol / IPv6 next header
  std::span<const std::uint8_t> ip_options;
  std::optional<bool> ipv4_checksum_ok;

  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t tcp_flags = 0;
  std::uint16_t window = 0;
  std::span<const std::uint8_t> tcp_options;
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<std::array<std::uint32_t, 2>> timestamps;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint16_t icmp_id = 0;
  std::uint16_t icmp_seq = 0;
  std::optional<bool> l4_checksum_ok;

  std::span<const std::uint8_t> payload;
};

struct ParseOptions {
  bool ethernet = true;  // false: the frame starts at the IP header
};

// Errc::bad_format naming the layer and offset when a header is truncated or inconsistent.
Result<Parsed> parse(std::span<const std::uint8_t> frame, const ParseOptions& opts = {});

// RFC 1071 one's complement sum, folded and complemented; `initial` carries a partial sum (pseudo-header).
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial = 0);

}  // namespace ebpf::packet
