// packet::Builder: assembles a frame layer by layer, then fills lengths and checksums.
#include "ebpf/packet.hpp"
#include "wire.hpp"

namespace ebpf::packet {

using wire::put16;
using wire::put32;

namespace {

constexpr const char* kOp = "packet build";
constexpr std::size_t kMaxOptions = 40;

std::vector<std::uint8_t> padded_options(std::vector<std::uint8_t> bytes) {
  while (bytes.size() % 4 != 0) bytes.push_back(0);  // EOL
  return bytes;
}

std::vector<std::uint8_t> tcp_option_bytes(const std::vector<TcpOption>& options) {
  std::vector<std::uint8_t> out;
  for (const auto& o : options) {
    out.push_back(o.kind);
    if (o.kind <= 1) continue;  // EOL and NOP are single bytes
    out.push_back(static_cast<std::uint8_t>(2 + o.data.size()));
    out.insert(out.end(), o.data.begin(), o.data.end());
  }
  return padded_options(std::move(out));
}

}  // namespace

TcpOption TcpOption::mss(std::uint16_t mss) {
  return {2, {static_cast<std::uint8_t>(mss >> 8), static_cast<std::uint8_t>(mss)}};
}
TcpOption TcpOption::window_scale(std::uint8_t shift) { return {3, {shift}}; }
TcpOption TcpOption::timestamps(std::uint32_t value, std::uint32_t echo_reply) {
  std::vector<std::uint8_t> data;
  put32(data, value);
  put32(data, echo_reply);
  return {8, std::move(data)};
}

Builder& Builder::ethernet(const EthernetSpec& spec) {
  eth_ = spec;
  return *this;
}
Builder& Builder::ipv4(const Ipv4Spec& spec) {
  l3_ = L3::v4;
  v4_ = spec;
  return *this;
}
Builder& Builder::ipv6(const Ipv6Spec& spec) {
  l3_ = L3::v6;
  v6_ = spec;
  return *this;
}
Builder& Builder::tcp(const TcpSpec& spec) {
  l4_ = L4::tcp;
  tcp_ = spec;
  return *this;
}
Builder& Builder::udp(const UdpSpec& spec) {
  l4_ = L4::udp;
  udp_ = spec;
  return *this;
}
Builder& Builder::icmp_echo(const IcmpEchoSpec& spec) {
  l4_ = L4::icmp;
  icmp_ = spec;
  icmp_raw_.reset();
  return *this;
}
Builder& Builder::icmp(const IcmpSpec& spec) {
  l4_ = L4::icmp;
  icmp_raw_ = spec;
  return *this;
}
Builder& Builder::ethernet(const Mac& src, const Mac& dst) {
  EthernetSpec spec;
  spec.src = src;
  spec.dst = dst;
  return ethernet(spec);
}
Builder& Builder::ipv4(const Ipv4Addr& src, const Ipv4Addr& dst) {
  Ipv4Spec spec;
  spec.src = src;
  spec.dst = dst;
  return ipv4(spec);
}
Builder& Builder::ipv6(const Ipv6Addr& src, const Ipv6Addr& dst) {
  Ipv6Spec spec;
  spec.src = src;
  spec.dst = dst;
  return ipv6(spec);
}
Builder& Builder::tcp(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t flags) {
  TcpSpec spec;
  spec.src_port = src_port;
  spec.dst_port = dst_port;
  spec.flags = flags;
  return tcp(spec);
}
Builder& Builder::udp(std::uint16_t src_port, std::uint16_t dst_port) {
  UdpSpec spec;
  spec.src_port = src_port;
  spec.dst_port = dst_port;
  return udp(spec);
}
Builder& Builder::payload(std::span<const std::uint8_t> bytes) {
  payload_.assign(bytes.begin(), bytes.end());
  return *this;
}
Builder& Builder::payload(std::string_view text) {
  payload_.assign(text.begin(), text.end());
  return *this;
}

namespace {

struct L4Result {
  std::vector<std::uint8_t> bytes;
  std::size_t checksum_offset = 0;
  bool has_checksum = false;
  bool pseudo_header = true;
  std::uint8_t proto = 0;
};

}  // namespace

Result<std::vector<std::uint8_t>> Builder::build() const {
  if (l4_ != L4::none && l3_ == L3::none) return Error::invalid(kOp, "a TCP/UDP/ICMP layer needs an IPv4 or IPv6 layer");

  // ---- L4 header + payload, checksum filled once the addresses are known ----
  L4Result l4;
  switch (l4_) {
    case L4::none:
      break;
    case L4::tcp: {
      auto opts = tcp_option_bytes(tcp_.options);
      if (opts.size() > kMaxOptions) return Error::invalid(kOp, "TCP options exceed 40 bytes");
      put16(l4.bytes, tcp_.src_port);
      put16(l4.bytes, tcp_.dst_port);
      put32(l4.bytes, tcp_.seq);
      put32(l4.bytes, tcp_.ack);
      l4.bytes.push_back(static_cast<std::uint8_t>((20 + opts.size()) / 4 << 4));
      l4.bytes.push_back(tcp_.flags);
      put16(l4.bytes, tcp_.window);
      put16(l4.bytes, 0);
      put16(l4.bytes, tcp_.urgent);
      l4.bytes.insert(l4.bytes.end(), opts.begin(), opts.end());
      l4 = {std::move(l4.bytes), 16, true, true, kProtoTcp};
      break;
    }
    case L4::udp: {
      std::size_t len = 8 + payload_.size();
      if (len > 0xffff) return Error::invalid(kOp, "UDP datagram exceeds 65535 bytes");
      put16(l4.bytes, udp_.src_port);
      put16(l4.bytes, udp_.dst_port);
      put16(l4.bytes, static_cast<std::uint16_t>(len));
      put16(l4.bytes, 0);
      l4 = {std::move(l4.bytes), 6, true, true, kProtoUdp};
      break;
    }
    case L4::icmp: {
      bool v6 = l3_ == L3::v6;
      if (icmp_raw_) {
        l4.bytes = {icmp_raw_->type, icmp_raw_->code, 0, 0};
        put32(l4.bytes, icmp_raw_->rest);
      } else {
        std::uint8_t type = v6 ? (icmp_.reply ? 129 : 128) : (icmp_.reply ? 0 : 8);
        l4.bytes = {type, 0, 0, 0};
        put16(l4.bytes, icmp_.id);
        put16(l4.bytes, icmp_.seq);
      }
      l4 = {std::move(l4.bytes), 2, true, v6, v6 ? kProtoIcmpv6 : kProtoIcmp};
      break;
    }
  }
  l4.bytes.insert(l4.bytes.end(), payload_.begin(), payload_.end());

  // ---- L3 header ----
  std::vector<std::uint8_t> l3;
  std::uint16_t ethertype = 0;
  if (l3_ == L3::v4) {
    auto opts = padded_options(v4_.options);
    if (opts.size() > kMaxOptions) return Error::invalid(kOp, "IPv4 options exceed 40 bytes");
    std::size_t header = 20 + opts.size();
    std::size_t total = header + l4.bytes.size();
    if (total > 0xffff) return Error::invalid(kOp, "IPv4 packet exceeds 65535 bytes");
    l3.push_back(static_cast<std::uint8_t>(0x40 | header / 4));
    l3.push_back(v4_.tos);
    put16(l3, static_cast<std::uint16_t>(total));
    put16(l3, v4_.id);
    put16(l3, v4_.dont_fragment ? 0x4000 : 0);
    l3.push_back(v4_.ttl);
    l3.push_back(v4_.protocol.value_or(l4.proto));
    put16(l3, 0);
    l3.insert(l3.end(), v4_.src.begin(), v4_.src.end());
    l3.insert(l3.end(), v4_.dst.begin(), v4_.dst.end());
    l3.insert(l3.end(), opts.begin(), opts.end());
    wire::store16(l3, 10, internet_checksum(l3));
    if (l4.has_checksum) {
      std::uint32_t pseudo = l4.pseudo_header
                                 ? wire::pseudo_sum_v4(v4_.src, v4_.dst, l4.proto, static_cast<std::uint32_t>(l4.bytes.size()))
                                 : 0;
      std::uint16_t sum = internet_checksum(l4.bytes, pseudo);
      if (sum == 0 && l4.proto == kProtoUdp) sum = 0xffff;  // 0 means "no checksum" for UDP
      wire::store16(l4.bytes, l4.checksum_offset, sum);
    }
    ethertype = kEthertypeIpv4;
  } else if (l3_ == L3::v6) {
    if (l4.bytes.size() > 0xffff) return Error::invalid(kOp, "IPv6 payload exceeds 65535 bytes (no jumbograms)");
    std::uint32_t first = 6U << 28 | std::uint32_t(v6_.traffic_class) << 20 | (v6_.flow_label & 0xfffff);
    put32(l3, first);
    put16(l3, static_cast<std::uint16_t>(l4.bytes.size()));
    l3.push_back(v6_.next_header.value_or(l4_ == L4::none ? 59 /* no next header */ : l4.proto));
    l3.push_back(v6_.hop_limit);
    l3.insert(l3.end(), v6_.src.begin(), v6_.src.end());
    l3.insert(l3.end(), v6_.dst.begin(), v6_.dst.end());
    if (l4.has_checksum) {
      std::uint32_t pseudo = wire::pseudo_sum_v6(v6_.src, v6_.dst, l4.proto, static_cast<std::uint32_t>(l4.bytes.size()));
      std::uint16_t sum = internet_checksum(l4.bytes, pseudo);
      if (sum == 0 && l4.proto == kProtoUdp) sum = 0xffff;
      wire::store16(l4.bytes, l4.checksum_offset, sum);
    }
    ethertype = kEthertypeIpv6;
  }

  // ---- Ethernet ----
  std::vector<std::uint8_t> frame;
  if (eth_) {
    frame.insert(frame.end(), eth_->dst.begin(), eth_->dst.end());
    frame.insert(frame.end(), eth_->src.begin(), eth_->src.end());
    if (eth_->vlan_id) {
      if (*eth_->vlan_id > 0xfff) return Error::invalid(kOp, "VLAN id exceeds 4095");
      if (eth_->vlan_priority > 7) return Error::invalid(kOp, "VLAN priority exceeds 7");
      put16(frame, kEthertypeVlan);
      put16(frame, static_cast<std::uint16_t>(eth_->vlan_priority << 13 | *eth_->vlan_id));
    }
    std::uint16_t type = eth_->ethertype != 0 ? eth_->ethertype : ethertype;
    if (type == 0) return Error::invalid(kOp, "Ethernet without an IP layer needs an explicit ethertype");
    put16(frame, type);
  }
  frame.insert(frame.end(), l3.begin(), l3.end());
  frame.insert(frame.end(), l4.bytes.begin(), l4.bytes.end());
  return frame;
}

}  // namespace ebpf::packet
