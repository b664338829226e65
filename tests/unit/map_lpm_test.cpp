// CIDR parsing for LPM trie keys (no kernel needed).
#include <gtest/gtest.h>

#include "ebpf/map.hpp"

namespace ebpf {
namespace {

TEST(LpmKey4, ParsesPrefixAndAddressInNetworkOrder) {
  auto key = LpmKey4::parse("10.1.2.0/24").value();
  EXPECT_EQ(key.prefixlen, 24U);
  EXPECT_EQ(key.addr, (std::array<std::uint8_t, 4>{10, 1, 2, 0}));
  EXPECT_EQ(key.to_string(), "10.1.2.0/24");
}

TEST(LpmKey4, BareAddressIsAHostRoute) {
  auto key = LpmKey4::parse("192.168.0.7").value();
  EXPECT_EQ(key.prefixlen, 32U);
  EXPECT_EQ(key.addr[3], 7);
}

TEST(LpmKey4, HostBitsAreCleared) {
  EXPECT_EQ(LpmKey4::parse("10.255.255.255/8").value(), LpmKey4::parse("10.0.0.0/8").value());
  EXPECT_EQ(LpmKey4::parse("10.1.255.1/12").value().addr, (std::array<std::uint8_t, 4>{10, 0, 0, 0}));
  EXPECT_EQ(LpmKey4::parse("10.31.255.1/12").value().addr, (std::array<std::uint8_t, 4>{10, 16, 0, 0}));
  EXPECT_EQ(LpmKey4::parse("1.2.3.4/0").value().addr, (std::array<std::uint8_t, 4>{0, 0, 0, 0}));
}

TEST(LpmKey4, RejectsMalformedInput) {
  for (std::string_view bad : {"", "10.0.0/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "::1/8", "host/8"}) {
    auto r = LpmKey4::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Errc::bad_format);
    EXPECT_NE(r.error().message().find(std::string(bad)), std::string::npos) << r.error().to_string();
  }
}

TEST(LpmKey6, ParsesAndMasks) {
  auto key = LpmKey6::parse("2001:db8:ffff::1/32").value();
  EXPECT_EQ(key.prefixlen, 32U);
  EXPECT_EQ(key.to_string(), "2001:db8::/32");
  EXPECT_EQ(LpmKey6::parse("::1").value().prefixlen, 128U);
  EXPECT_FALSE(LpmKey6::parse("2001:db8::/129"));
  EXPECT_FALSE(LpmKey6::parse("10.0.0.1/8"));
}

}  // namespace
}  // namespace ebpf
