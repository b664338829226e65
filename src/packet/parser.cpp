// packet::parse: reads a frame into a flat view and recomputes every checksum it carries.
#include <algorithm>

#include "ebpf/packet.hpp"
#include "wire.hpp"

namespace ebpf::packet {

using wire::get16;
using wire::get32;

namespace {

using Bytes = std::span<const std::uint8_t>;

Error truncated(std::string_view layer, std::size_t offset, std::size_t need, std::size_t have) {
  return Error(Errc::bad_format, "packet parse",
               std::string(layer) + " at offset " + std::to_string(offset) + " needs " + std::to_string(need) +
                   " bytes, frame has " + std::to_string(have));
}

void parse_tcp_options(Bytes opts, Parsed& p) {
  std::size_t i = 0;
  while (i < opts.size()) {
    std::uint8_t kind = opts[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) break;
    std::uint8_t len = opts[i + 1];
    if (len < 2 || i + len > opts.size()) break;  // malformed: stop, keep what was read
    Bytes data = opts.subspan(i + 2, len - 2);
    if (kind == 2 && len == 4) p.mss = get16(data, 0);
    if (kind == 3 && len == 3) p.window_scale = data[0];
    if (kind == 4 && len == 2) p.sack_permitted = true;
    if (kind == 8 && len == 10) p.timestamps = std::array<std::uint32_t, 2>{get32(data, 0), get32(data, 4)};
    i += len;
  }
}

// L4 over [off, end) of `frame`; `pseudo` is the pseudo-header partial sum (nullopt for ICMPv4).
Result<void> parse_l4(Bytes frame, std::size_t off, std::size_t end, std::optional<std::uint32_t> pseudo,
                      Parsed& p) {
  Bytes l4 = frame.subspan(off, end - off);
  auto verify = [&] { p.l4_checksum_ok = internet_checksum(l4, pseudo.value_or(0)) == 0; };
  switch (p.protocol) {
    case kProtoTcp: {
      if (l4.size() < 20) return truncated("TCP header", off, 20, l4.size());
      std::size_t hlen = (l4[12] >> 4) * 4u;
      if (hlen < 20 || hlen > l4.size()) return truncated("TCP header with options", off, hlen, l4.size());
      p.src_port = get16(l4, 0);
      p.dst_port = get16(l4, 2);
      p.seq = get32(l4, 4);
      p.ack = get32(l4, 8);
      p.tcp_flags = l4[13];
      p.window = get16(l4, 14);
      p.tcp_options = l4.subspan(20, hlen - 20);
      parse_tcp_options(p.tcp_options, p);
      p.payload = l4.subspan(hlen);
      verify();
      return ok();
    }
    case kProtoUdp: {
      if (l4.size() < 8) return truncated("UDP header", off, 8, l4.size());
      p.src_port = get16(l4, 0);
      p.dst_port = get16(l4, 2);
      std::size_t len = get16(l4, 4);
      if (len < 8 || len > l4.size()) return truncated("UDP datagram (length field)", off, len, l4.size());
      l4 = l4.first(len);
      p.payload = l4.subspan(8);
      if (get16(l4, 6) != 0 || p.ip_version == 6) verify();  // 0 = no checksum, IPv4 only
      return ok();
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (l4.size() < 8) return truncated("ICMP header", off, 8, l4.size());
      p.icmp_type = l4[0];
      p.icmp_code = l4[1];
      p.icmp_id = get16(l4, 4);
      p.icmp_seq = get16(l4, 6);
      p.payload = l4.subspan(8);
      verify();
      return ok();
    }
    default:
      p.payload = l4;
      return ok();
  }
}

Result<void> parse_ipv4(Bytes frame, std::size_t off, Parsed& p) {
  Bytes rest = frame.subspan(off);
  if (rest.size() < 20) return truncated("IPv4 header", off, 20, rest.size());
  if (rest[0] >> 4 != 4) return Error(Errc::bad_format, "packet parse", "IPv4 version field is not 4");
  std::size_t ihl = (rest[0] & 0xf) * 4u;
  std::size_t total = get16(rest, 2);
  if (ihl < 20 || ihl > rest.size()) return truncated("IPv4 header with options", off, ihl, rest.size());
  if (total < ihl || total > rest.size()) return truncated("IPv4 packet (total length)", off, total, rest.size());
  p.ip_version = 4;
  p.tos = rest[1];
  p.ip_id = get16(rest, 4);
  p.dont_fragment = (get16(rest, 6) & 0x4000) != 0;
  p.ttl = rest[8];
  p.protocol = rest[9];
  std::copy_n(rest.begin() + 12, 4, p.src_ipv4.begin());
  std::copy_n(rest.begin() + 16, 4, p.dst_ipv4.begin());
  p.ip_options = rest.subspan(20, ihl - 20);
  p.ipv4_checksum_ok = internet_checksum(rest.first(ihl)) == 0;
  if ((get16(rest, 6) & 0x1fff) != 0) {  // a non-first fragment carries no L4 header
    p.payload = rest.subspan(ihl, total - ihl);
    return ok();
  }
  std::optional<std::uint32_t> pseudo;
  if (p.protocol != kProtoIcmp)
    pseudo = wire::pseudo_sum_v4(p.src_ipv4, p.dst_ipv4, p.protocol, static_cast<std::uint32_t>(total - ihl));
  return parse_l4(frame, off + ihl, off + total, pseudo, p);
}

Result<void> parse_ipv6(Bytes frame, std::size_t off, Parsed& p) {
  Bytes rest = frame.subspan(off);
  if (rest.size() < 40) return truncated("IPv6 header", off, 40, rest.size());
  if (rest[0] >> 4 != 6) return Error(Errc::bad_format, "packet parse", "IPv6 version field is not 6");
  std::size_t len = get16(rest, 4);
  if (40 + len > rest.size()) return truncated("IPv6 packet (payload length)", off, 40 + len, rest.size());
  p.ip_version = 6;
  p.tos = static_cast<std::uint8_t>(get16(rest, 0) >> 4);
  p.protocol = rest[6];
  p.ttl = rest[7];
  std::copy_n(rest.begin() + 8, 16, p.src_ipv6.begin());
  std::copy_n(rest.begin() + 24, 16, p.dst_ipv6.begin());
  auto pseudo = wire::pseudo_sum_v6(p.src_ipv6, p.dst_ipv6, p.protocol, static_cast<std::uint32_t>(len));
  return parse_l4(frame, off + 40, off + 40 + len, pseudo, p);
}

}  // namespace

Result<Parsed> parse(std::span<const std::uint8_t> frame, const ParseOptions& opts) {
  Parsed p;
  std::size_t off = 0;
  if (opts.ethernet) {
    if (frame.size() < 14) return truncated("Ethernet header", 0, 14, frame.size());
    p.has_ethernet = true;
    std::copy_n(frame.begin(), 6, p.dst_mac.begin());
    std::copy_n(frame.begin() + 6, 6, p.src_mac.begin());
    p.ethertype = get16(frame, 12);
    off = 14;
    if (p.ethertype == kEthertypeVlan) {
      if (frame.size() < 18) return truncated("802.1Q tag", 12, 6, frame.size() - 12);
      std::uint16_t tci = get16(frame, 14);
      p.vlan_id = tci & 0xfff;
      p.vlan_priority = static_cast<std::uint8_t>(tci >> 13);
      p.ethertype = get16(frame, 16);
      off = 18;
    }
  } else if (!frame.empty()) {
    p.ethertype = (frame[0] >> 4) == 6 ? kEthertypeIpv6 : kEthertypeIpv4;
  }
  if (p.ethertype == kEthertypeIpv4) {
    EBPF_TRY(parse_ipv4(frame, off, p));
  } else if (p.ethertype == kEthertypeIpv6) {
    EBPF_TRY(parse_ipv6(frame, off, p));
  } else {
    p.payload = frame.subspan(off);
  }
  return p;
}

}  // namespace ebpf::packet
