// Prometheus exposition: exact sample lines, label escaping, per-CPU sums, eviction estimate.
#include "lb/control/metrics.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

namespace lb {
namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  ServiceMetrics web{"web", "10.0.0.1:80", "tcp", {}};
  web.counters.packets = 1200;
  web.counters.bytes = 90000;
  web.counters.new_flows = 40;
  web.counters.drops[static_cast<std::size_t>(DropReason::kRateLimitSource)] = 7;
  s.services.push_back(web);
  BackendMetrics b{"web", "be-\"1\"\n", "10.0.1.1:8080", {}, 100, false, true, true};
  b.counters.packets = 600;
  b.counters.reply_bytes = 123456;
  s.backends.push_back(b);
  s.global.ct_created = 100;
  s.global.ct_closed = 30;
  s.global.ct_expired = 10;
  s.conntrack_gc_deleted = 5;
  s.conntrack_entries = 40;  // 20 live flows
  s.conntrack_max = 1 << 20;
  s.global.malformed = 3;
  s.global.icmp_translated = 6;
  s.flow_events = {.opened = 9, .closed = 8, .closed_fin = 4, .closed_rst = 2, .closed_idle = 1};
  return s;
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

TEST(Metrics, RendersSamplesWithLabels) {
  const auto text = render_prometheus(sample_snapshot());
  const auto lines = lines_of(text);
  const std::string svc = R"({service="web",vip="10.0.0.1:80",protocol="tcp")";
  EXPECT_TRUE(lines.contains("ebpf_lb_service_packets_total" + svc + "} 1200")) << text;
  EXPECT_TRUE(lines.contains("ebpf_lb_service_bytes_total" + svc + "} 90000"));
  EXPECT_TRUE(lines.contains("ebpf_lb_service_new_flows_total" + svc + "} 40"));
  EXPECT_TRUE(lines.contains("ebpf_lb_service_drops_total" + svc + R"(,reason="rate_limit_source"} 7)"));
  EXPECT_TRUE(lines.contains("ebpf_lb_service_drops_total" + svc + R"(,reason="no_backend"} 0)"));
  EXPECT_EQ(text.find("reserved"), std::string::npos);
  const std::string be = R"({service="web",backend="be-\"1\"\n",address="10.0.1.1:8080"})";
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_packets_total" + be + " 600")) << text;
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_reply_bytes_total" + be + " 123456"));
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_up" + be + " 0"));
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_draining" + be + " 1"));
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_drain_finished" + be + " 1"));
  EXPECT_TRUE(lines.contains("ebpf_lb_backend_weight" + be + " 100"));
  EXPECT_TRUE(lines.contains("ebpf_lb_conntrack_entries 40"));
  EXPECT_TRUE(lines.contains("ebpf_lb_conntrack_max_entries 1048576"));
  // 100 created - 30 closed - 10 expired - 5 gc - 20 live = 35 evicted.
  EXPECT_TRUE(lines.contains("ebpf_lb_conntrack_lru_evicted_estimate 35"));
  EXPECT_TRUE(lines.contains("ebpf_lb_malformed_packets_total 3")) << text;
  EXPECT_TRUE(lines.contains("ebpf_lb_icmp_errors_translated_total 6")) << text;
  EXPECT_TRUE(lines.contains(R"(ebpf_lb_flow_events_total{event="open",reason=""} 9)")) << text;
  EXPECT_TRUE(lines.contains(R"(ebpf_lb_flow_events_total{event="close",reason="fin"} 4)"));
  EXPECT_TRUE(lines.contains(R"(ebpf_lb_flow_events_total{event="close",reason="rst"} 2)"));
  EXPECT_TRUE(lines.contains(R"(ebpf_lb_flow_events_total{event="close",reason="idle"} 1)"));
  EXPECT_TRUE(lines.contains(R"(ebpf_lb_flow_events_total{event="close",reason="other"} 1)"));
  EXPECT_TRUE(lines.contains("# TYPE ebpf_lb_service_packets_total counter"));
  EXPECT_TRUE(lines.contains("# TYPE ebpf_lb_backend_up gauge"));
}

TEST(Metrics, EachFamilyDeclaredOnceAndEverySampleHasAValue) {
  auto snapshot = sample_snapshot();
  snapshot.services.push_back({"dns", "10.0.0.2:53", "udp", {}});
  const auto text = render_prometheus(snapshot);
  std::istringstream in(text);
  std::set<std::string> declared;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(declared.insert(name).second) << "declared twice: " << name;
    } else if (!line.starts_with("#")) {
      const auto space = line.rfind(' ');
      ASSERT_NE(space, std::string::npos) << line;
      const auto value = line.substr(space + 1);
      EXPECT_FALSE(value.empty());
      EXPECT_EQ(value.find_first_not_of("0123456789"), std::string::npos) << line;
      const auto name = line.substr(0, line.find_first_of("{ "));
      EXPECT_TRUE(declared.contains(name)) << "sample before its TYPE: " << line;
    }
  }
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, SumsPerCpuValues) {
  std::vector<ServiceCounters> cpus(2);
  cpus[0].packets = 5;
  cpus[1].packets = 7;
  cpus[0].drops[3] = 1;
  cpus[1].drops[3] = 2;
  cpus[1].bytes = 99;
  auto total = sum_per_cpu(std::span<const ServiceCounters>(cpus));
  EXPECT_EQ(total.packets, 12u);
  EXPECT_EQ(total.bytes, 99u);
  EXPECT_EQ(total.drops[3], 3u);
  std::vector<BackendCounters> be(3);
  for (auto& c : be) c.reply_bytes = 10;
  EXPECT_EQ(sum_per_cpu(std::span<const BackendCounters>(be)).reply_bytes, 30u);
  std::vector<GlobalCounters> global(2);
  global[1].events_lost = 4;
  EXPECT_EQ(sum_per_cpu(std::span<const GlobalCounters>(global)).events_lost, 4u);
}

TEST(Metrics, EvictionEstimateNeverNegative) {
  MetricsSnapshot s;
  s.global.ct_created = 5;
  s.conntrack_entries = 100;
  EXPECT_EQ(estimate_lru_evictions(s), 0u);
}

}  // namespace
}  // namespace lb
