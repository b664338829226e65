// Netlink wire format without a kernel: request layout (header, alignment, nests) and attribute parsing,
// including malformed input.
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {
namespace {

nlmsghdr header_of(const Request& r) {
  nlmsghdr h;
  std::memcpy(&h, r.bytes().data(), sizeof h);
  return h;
}

// The attributes of a request after its family header.
Attributes attrs_of(const Request& r, std::size_t family_size) {
  auto bytes = r.bytes().subspan(NLMSG_HDRLEN);
  Message m{0, 0, bytes};
  return m.attributes(family_size);
}

TEST(NetlinkRequest, HeaderCarriesTypeFlagsAndLength) {
  Request r(RTM_GETLINK, NLM_F_ACK);
  ifinfomsg info{};
  info.ifi_index = 7;
  r.family_header(info);
  auto h = header_of(r);
  EXPECT_EQ(h.nlmsg_type, RTM_GETLINK);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(h.nlmsg_len, NLMSG_HDRLEN + sizeof(ifinfomsg));
  EXPECT_EQ(r.bytes().size(), h.nlmsg_len);
  r.set_sequence(99);
  r.add_flags(NLM_F_DUMP);
  h = header_of(r);
  EXPECT_EQ(h.nlmsg_seq, 99U);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
  auto parsed = Message{0, 0, r.bytes().subspan(NLMSG_HDRLEN)}.family_header<ifinfomsg>();
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->ifi_index, 7);
}

TEST(NetlinkRequest, AttributesAreAlignedToFourBytes) {
  Request r(RTM_SETLINK, 0);
  r.put_u8(1, 0xab);
  // nlattr header (4) + 1 byte payload, padded to 8; the header length says 5.
  ASSERT_EQ(r.bytes().size(), NLMSG_HDRLEN + 8);
  nlattr a;
  std::memcpy(&a, r.bytes().data() + NLMSG_HDRLEN, sizeof a);
  EXPECT_EQ(a.nla_len, 5);
  EXPECT_EQ(a.nla_type, 1);
  r.put_string(2, "abc");  // 4 + 4 ("abc\0")
  r.put_u32(3, 0xdeadbeef);
  EXPECT_EQ(r.bytes().size(), NLMSG_HDRLEN + 8 + 8 + 8);
  EXPECT_EQ(header_of(r).nlmsg_len, r.bytes().size());

  auto attrs = attrs_of(r, 0);
  ASSERT_EQ(attrs.all().size(), 3U);
  EXPECT_EQ(attrs.find(1)->u8(), 0xab);
  EXPECT_EQ(attrs.find(2)->string(), "abc");
  EXPECT_EQ(attrs.find(3)->u32(), 0xdeadbeefU);
  EXPECT_FALSE(attrs.find(4).has_value());
  EXPECT_FALSE(attrs.find(1)->u32().has_value()) << "a 1-byte payload is too short for u32";
}

TEST(NetlinkRequest, NestedAttributesGetTheirLengthAndFlag) {
  Request r(RTM_SETLINK, 0);
  ifinfomsg info{};
  r.family_header(info);
  auto nest = r.begin_nested(IFLA_XDP);
  r.put_s32(IFLA_XDP_FD, -1);
  r.put_u32(IFLA_XDP_FLAGS, 2);
  r.end_nested(nest);
  r.put_u32(IFLA_MTU, 1500);

  nlattr outer;
  std::memcpy(&outer, r.bytes().data() + NLMSG_HDRLEN + sizeof(ifinfomsg), sizeof outer);
  EXPECT_EQ(outer.nla_type, IFLA_XDP | NLA_F_NESTED);
  EXPECT_EQ(outer.nla_len, 4 + 8 + 8);

  auto attrs = attrs_of(r, sizeof(ifinfomsg));
  ASSERT_EQ(attrs.all().size(), 2U);
  EXPECT_EQ(attrs.all()[0].type, IFLA_XDP) << "the NESTED bit is masked off when parsing";
  auto xdp = attrs.nested(IFLA_XDP);
  EXPECT_EQ(xdp.find(IFLA_XDP_FD)->s32(), -1);
  EXPECT_EQ(xdp.find(IFLA_XDP_FLAGS)->u32(), 2U);
  EXPECT_EQ(attrs.find(IFLA_MTU)->u32(), 1500U);
  EXPECT_TRUE(attrs.nested(IFLA_AF_SPEC).all().empty());
}

TEST(NetlinkAttributes, MalformedTailIsIgnored) {
  // One good u32 attribute, then one claiming 200 bytes in an 8-byte remainder, then garbage.
  std::vector<std::byte> buf(8 + 8 + 3);
  nlattr good{8, 5};
  std::uint32_t value = 77;
  std::memcpy(buf.data(), &good, 4);
  std::memcpy(buf.data() + 4, &value, 4);
  nlattr bad{200, 6};
  std::memcpy(buf.data() + 8, &bad, 4);
  Attributes attrs(buf);
  ASSERT_EQ(attrs.all().size(), 1U);
  EXPECT_EQ(attrs.find(5)->u32(), 77U);

  nlattr too_short{2, 1};  // shorter than its own header
  std::memcpy(buf.data(), &too_short, 4);
  EXPECT_TRUE(Attributes(buf).all().empty());
  EXPECT_TRUE(Attributes({}).all().empty());
}

TEST(NetlinkAttributes, StringWithoutTerminatorIsWholePayload) {
  std::vector<std::byte> buf(8);
  nlattr a{7, 3};
  std::memcpy(buf.data(), &a, 4);
  std::memcpy(buf.data() + 4, "xyz", 3);
  Attributes attrs(buf);
  ASSERT_EQ(attrs.all().size(), 1U);
  EXPECT_EQ(attrs.find(3)->string(), "xyz");
}

TEST(NetlinkMessage, FamilyHeaderTooShortIsNullopt) {
  std::vector<std::byte> small(4);
  Message m{RTM_NEWLINK, 0, small};
  EXPECT_FALSE(m.family_header<ifinfomsg>().has_value());
  EXPECT_TRUE(m.attributes(sizeof(ifinfomsg)).all().empty());
}

TEST(NetlinkNames, DirectionNames) {
  EXPECT_EQ(name(TcDirection::ingress), "ingress");
  EXPECT_EQ(name(TcDirection::egress), "egress");
}

}  // namespace
}  // namespace ebpf::netlink
