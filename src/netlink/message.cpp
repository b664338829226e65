// Netlink message building and attribute parsing (the wire format of <linux/netlink.h>).
#include <linux/netlink.h>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
constexpr std::uint16_t kAttrTypeMask = 0x3fff;  // NLA_TYPE_MASK: drops NESTED and NET_BYTEORDER

nlmsghdr* header_of(std::vector<std::byte>& buf) { return reinterpret_cast<nlmsghdr*>(buf.data()); }
const nlmsghdr* header_of(const std::vector<std::byte>& buf) {
  return reinterpret_cast<const nlmsghdr*>(buf.data());
}

}  // namespace

Request::Request(std::uint16_t type, std::uint16_t flags) : buf_(NLMSG_HDRLEN) {
  auto* hdr = header_of(buf_);
  hdr->nlmsg_len = NLMSG_HDRLEN;
  hdr->nlmsg_type = type;
  hdr->nlmsg_flags = static_cast<std::uint16_t>(flags | NLM_F_REQUEST);
}

void Request::append(std::span<const std::byte> bytes) {
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  pad();
}

void Request::pad() {
  buf_.resize(align4(buf_.size()));
  header_of(buf_)->nlmsg_len = static_cast<std::uint32_t>(buf_.size());
}

Request& Request::put(std::uint16_t type, std::span<const std::byte> payload) {
  nlattr attr{};
  attr.nla_type = type;
  attr.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + payload.size());
  auto at = buf_.size();
  buf_.resize(at + NLA_HDRLEN);
  std::memcpy(buf_.data() + at, &attr, sizeof attr);
  append(payload);
  return *this;
}

Request& Request::put_u8(std::uint16_t type, std::uint8_t value) {
  return put(type, std::as_bytes(std::span(&value, 1)));
}
Request& Request::put_u16(std::uint16_t type, std::uint16_t value) {
  return put(type, std::as_bytes(std::span(&value, 1)));
}
Request& Request::put_u32(std::uint16_t type, std::uint32_t value) {
  return put(type, std::as_bytes(std::span(&value, 1)));
}
Request& Request::put_s32(std::uint16_t type, std::int32_t value) {
  return put(type, std::as_bytes(std::span(&value, 1)));
}
Request& Request::put_string(std::uint16_t type, std::string_view value) {
  std::vector<std::byte> bytes(value.size() + 1);
  std::memcpy(bytes.data(), value.data(), value.size());
  return put(type, bytes);
}

std::size_t Request::begin_nested(std::uint16_t type) {
  auto token = buf_.size();
  put(static_cast<std::uint16_t>(type | NLA_F_NESTED), {});
  return token;
}

void Request::end_nested(std::size_t token) {
  auto len = static_cast<std::uint16_t>(buf_.size() - token);
  std::memcpy(buf_.data() + token + offsetof(nlattr, nla_len), &len, sizeof len);
}

std::uint16_t Request::type() const noexcept { return header_of(buf_)->nlmsg_type; }
std::uint16_t Request::flags() const noexcept { return header_of(buf_)->nlmsg_flags; }
void Request::add_flags(std::uint16_t flags) noexcept { header_of(buf_)->nlmsg_flags |= flags; }
void Request::set_sequence(std::uint32_t seq) noexcept { header_of(buf_)->nlmsg_seq = seq; }

std::string_view Attribute::string() const noexcept {
  std::string_view s(reinterpret_cast<const char*>(payload.data()), payload.size());
  auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

Attributes::Attributes(std::span<const std::byte> bytes) {
  while (bytes.size() >= NLA_HDRLEN) {
    nlattr attr;
    std::memcpy(&attr, bytes.data(), sizeof attr);
    if (attr.nla_len < NLA_HDRLEN || attr.nla_len > bytes.size()) break;
    attrs_.push_back(Attribute{static_cast<std::uint16_t>(attr.nla_type & kAttrTypeMask),
                               bytes.subspan(NLA_HDRLEN, attr.nla_len - NLA_HDRLEN)});
    bytes = bytes.subspan(std::min<std::size_t>(align4(attr.nla_len), bytes.size()));
  }
}

std::optional<Attribute> Attributes::find(std::uint16_t type) const noexcept {
  for (const auto& attr : attrs_)
    if (attr.type == type) return attr;
  return std::nullopt;
}

Attributes Attributes::nested(std::uint16_t type) const {
  auto attr = find(type);
  return Attributes(attr ? attr->payload : std::span<const std::byte>());
}

Attributes Message::attributes(std::size_t header_size) const {
  auto offset = align4(header_size);
  if (offset >= payload.size()) return Attributes({});
  return Attributes(payload.subspan(offset));
}

}  // namespace ebpf::netlink
