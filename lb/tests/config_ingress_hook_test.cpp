// The ingress hook choice in the configuration: `ingress_hook: xdp|tc` (default xdp) with a precise
// file:line:column error for anything else, the --ingress-hook override winning over the file (and refusing
// other values without touching the configuration), and the resolved value in describe().
#include <gtest/gtest.h>

#include "lb/control/config.hpp"
#include "support/kernel.hpp"

namespace lb {
namespace {

constexpr std::string_view kService = R"(services:
  - name: web
    vip: 10.0.0.1
    port: 80
    backends: [ { address: 10.0.1.1, port: 8080 } ]
)";

TEST(ConfigIngressHook, DefaultsToXdpAndParsesBothValues) {
  ASSERT_OK_AND_ASSIGN(auto plain, parse_config(kService, "h.yaml"));
  EXPECT_EQ(plain.ingress_hook, IngressHook::xdp);
  ASSERT_OK_AND_ASSIGN(auto tc, parse_config("ingress_hook: tc\n" + std::string(kService), "h.yaml"));
  EXPECT_EQ(tc.ingress_hook, IngressHook::tc);
  ASSERT_OK_AND_ASSIGN(auto xdp, parse_config("ingress_hook: xdp\n" + std::string(kService), "h.yaml"));
  EXPECT_EQ(xdp.ingress_hook, IngressHook::xdp);
  EXPECT_NE(describe(tc).find("ingress_hook: tc\n"), std::string::npos) << describe(tc);
}

TEST(ConfigIngressHook, OtherValuesNameFileLineColumnAndKey) {
  auto bad = parse_config("forwarding: pass\ningress_hook: tcx\n" + std::string(kService), "h.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_EQ(bad.error().message(), "h.yaml:2:15: ingress_hook: 'tcx' is not one of: xdp, tc");
  auto list = parse_config("ingress_hook: [tc]\n" + std::string(kService), "h.yaml");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message().find("h.yaml:1:15: ingress_hook"), std::string::npos) << list.error().message();
}

TEST(ConfigIngressHook, CommandLineOverrideWinsAndBadValuesChangeNothing) {
  ASSERT_OK_AND_ASSIGN(auto config, parse_config("ingress_hook: xdp\n" + std::string(kService), "h.yaml"));
  CliOverrides to_tc;
  to_tc.ingress_hook = "tc";
  ASSERT_OK(apply_overrides(config, to_tc));
  EXPECT_EQ(config.ingress_hook, IngressHook::tc);

  const auto before = describe(config);
  CliOverrides bad;
  bad.ingress_hook = "XDP";
  auto refused = apply_overrides(config, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().operation(), "--ingress-hook");
  EXPECT_EQ(refused.error().message(), "expected xdp or tc, got 'XDP'");
  EXPECT_EQ(describe(config), before);
  EXPECT_EQ(config.ingress_hook, IngressHook::tc);
}

}  // namespace
}  // namespace lb
