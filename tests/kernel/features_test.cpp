// Feature probes against this kernel's documented facts (docs/kernel-facts.md): what it supports, what it
// refuses by policy (an error, never a "no"), and what it lacks (not_supported naming the feature/version).
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ebpf/features.hpp"
#include "support/kernel.hpp"
#include "support/privileges.hpp"
#include "support/privileges.hpp"

namespace {

using ebpf::Errc;
using ebpf::Feature;
using ebpf::MapType;
using ebpf::ProgType;
namespace features = ebpf::features;

void expect_yes(const ebpf::Result<bool>& r, std::string_view what) {
  ASSERT_TRUE(r.has_value()) << what << ": " << r.error().to_string();
  EXPECT_TRUE(*r) << what;
}
void expect_no(const ebpf::Result<bool>& r, std::string_view what) {
  ASSERT_TRUE(r.has_value()) << what << ": " << r.error().to_string();
  EXPECT_FALSE(*r) << what;
}

TEST(Features, NamedFeaturesMatchKernelFacts) {
  EBPF_REQUIRE_KERNEL();
  for (auto f : {Feature::ringbuf, Feature::batch_ops, Feature::xdp_link, Feature::tcx_link,
                 Feature::uprobe_multi_link, Feature::btf_enum64, Feature::btf_float, Feature::btf_decl_tag,
                 Feature::btf_type_tag, Feature::global_data, Feature::mmapable_array, Feature::bpf_cookie,
                 Feature::log_true_size, Feature::arena})
    expect_yes(features::has(f), ebpf::name(f));
  // CONFIG_KPROBES=n: kprobe_multi links give EOPNOTSUPP. No netkit in this kernel.
  expect_no(features::has(Feature::kprobe_multi_link), "kprobe_multi_link");
  expect_no(features::has(Feature::netkit_link), "netkit_link");
}

TEST(Features, RequireNamesFeatureAndMinimumKernel) {
  EBPF_REQUIRE_KERNEL();
  EXPECT_OK(features::require(Feature::tcx_link));
  auto r = features::require(Feature::kprobe_multi_link);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::not_supported);
  EXPECT_NE(r.error().message().find("kprobe_multi"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("5.18"), std::string::npos) << r.error().message();
}

TEST(Features, EveryStandardMapTypeIsSupported) {
  EBPF_REQUIRE_KERNEL();
  for (std::uint32_t i = 1; i < ebpf::kMapTypeCount; ++i) {
    auto type = static_cast<MapType>(i);
    expect_yes(features::has_map_type(type), ebpf::name(type));
  }
  expect_no(features::has_map_type(MapType::unspec), "unspec");
  expect_no(features::has_map_type(static_cast<MapType>(200)), "map type 200");
  auto missing = features::require_map_type(static_cast<MapType>(200));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_supported);
}

TEST(Features, ProgramTypes) {
  EBPF_REQUIRE_KERNEL();
  for (auto t : {ProgType::socket_filter, ProgType::kprobe, ProgType::sched_cls, ProgType::xdp,
                 ProgType::tracepoint, ProgType::cgroup_skb, ProgType::cgroup_sock_addr, ProgType::sk_lookup,
                 ProgType::flow_dissector, ProgType::raw_tracepoint, ProgType::struct_ops, ProgType::syscall,
                 ProgType::netfilter})
    expect_yes(features::has_prog_type(t), ebpf::name(t));
  expect_no(features::has_prog_type(static_cast<ProgType>(500)), "prog type 500");
  // LSM loads are refused by lockdown (EPERM, empty log): an error, not "unsupported".
  auto lsm = features::has_prog_type(ProgType::lsm);
  ASSERT_FALSE(lsm);
  EXPECT_EQ(lsm.error().code(), Errc::permission);
  EXPECT_EQ(lsm.error().sys_errno(), EPERM);
}

TEST(Features, HelpersPerProgramType) {
  EBPF_REQUIRE_KERNEL();
  constexpr std::uint32_t kMapLookup = 1, kXdpAdjustHead = 44, kSkbAdjustRoom = 50;
  expect_yes(features::has_helper(ProgType::xdp, kMapLookup), "xdp: map_lookup_elem");
  expect_yes(features::has_helper(ProgType::xdp, kXdpAdjustHead), "xdp: xdp_adjust_head");
  expect_yes(features::has_helper(ProgType::sched_cls, kSkbAdjustRoom), "tc: skb_adjust_room");
  expect_no(features::has_helper(ProgType::socket_filter, kXdpAdjustHead), "socket: xdp_adjust_head");
  expect_no(features::has_helper(ProgType::xdp, kSkbAdjustRoom), "xdp: skb_adjust_room");
  expect_no(features::has_helper(ProgType::xdp, 100000), "helper 100000");
}

TEST(Features, AttachTypes) {
  EBPF_REQUIRE_KERNEL();
  using ebpf::AttachType;
  for (auto t : {AttachType::cgroup_inet_ingress, AttachType::cgroup_inet4_connect, AttachType::cgroup_unix_connect,
                 AttachType::sk_lookup, AttachType::xdp, AttachType::tcx_ingress, AttachType::tcx_egress,
                 AttachType::trace_uprobe_multi, AttachType::cgroup_getsockopt, AttachType::flow_dissector})
    expect_yes(features::has_attach_type(t), ebpf::name(t));
  expect_no(features::has_attach_type(AttachType::trace_kprobe_multi), "trace_kprobe_multi");
  expect_no(features::has_attach_type(AttachType::netkit_primary), "netkit_primary");
  expect_no(features::has_attach_type(static_cast<AttachType>(300)), "attach type 300");
}

// Caching, shown without timing: after the parent probed, a child without any capability still gets the
// cached "yes" (a fresh probe would fail with EPERM), until it clears the cache.
TEST(Features, AnswersAreCached) {
  EBPF_REQUIRE_KERNEL();
  features::clear_cache();
  expect_yes(features::has(Feature::tcx_link), "tcx_link");
  int code = ebpf::test::run_without_capabilities([] {
    auto cached = features::has(Feature::tcx_link);
    if (!cached || !*cached) return 11;
    features::clear_cache();
    auto fresh = features::has(Feature::tcx_link);
    if (fresh || fresh.error().code() != Errc::permission) return 12;
    return 0;
  });
  EXPECT_EQ(code, 0) << "child failed at check " << code;
}

TEST(Features, ProbeWithoutPrivilegesIsAnErrorNotANo) {
  EBPF_REQUIRE_KERNEL();
  int code = ebpf::test::run_without_capabilities([] {
    features::clear_cache();  // the parent's answers came with the fork
    auto prog = features::has_prog_type(ProgType::xdp);
    if (prog || prog.error().code() != Errc::permission) return 11;
    auto map = features::has_map_type(MapType::hash);
    if (map || map.error().code() != Errc::permission) return 12;
    auto feature = features::has(Feature::ringbuf);
    if (feature || feature.error().code() != Errc::permission) return 13;
    return 0;
  });
  EXPECT_EQ(code, 0) << "child failed at check " << code;
}

TEST(Features, NamesRoundTrip) {
  for (std::uint32_t i = 0; i < ebpf::kFeatureCount; ++i) {
    auto f = static_cast<Feature>(i);
    EXPECT_EQ(ebpf::feature_from_name(ebpf::name(f)), f);
    EXPECT_NE(features::min_kernel(f), "?");
  }
  EXPECT_FALSE(ebpf::feature_from_name("warp_drive"));
  EXPECT_EQ(features::min_kernel(MapType::arena), "6.9");
  EXPECT_EQ(features::min_kernel(ProgType::netfilter), "6.4");
}

}  // namespace
