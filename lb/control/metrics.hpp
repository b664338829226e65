// lb/control/metrics.hpp — Prometheus text exposition (format 0.0.4) of the load balancer's counters.
//
// Input is a plain snapshot (already summed over CPUs and labelled with names), so rendering is testable
// without BPF; sum_per_cpu() folds the per-CPU values a PERCPU_ARRAY lookup returns.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lb/common/abi.hpp"

namespace lb {

struct ServiceMetrics {
  std::string name;
  std::string vip;       // "10.0.0.1:80"
  std::string protocol;  // "tcp" / "udp"
  ServiceCounters counters;
};

struct BackendMetrics {
  std::string service;
  std::string backend;   // stable name
  std::string address;   // "10.0.1.1:8080"
  BackendCounters counters;
  std::uint32_t weight = 0;
  bool healthy = true;
  bool draining = false;
  bool drain_finished = false;
};

// What the data path's flow events (lb_events) have reported so far.
struct FlowEventCounts {
  std::uint64_t opened = 0;
  std::uint64_t closed = 0;
  std::uint64_t closed_fin = 0;
  std::uint64_t closed_rst = 0;
  std::uint64_t closed_idle = 0;
};

struct MetricsSnapshot {
  std::vector<ServiceMetrics> services;
  std::vector<BackendMetrics> backends;
  GlobalCounters global;
  std::uint64_t conntrack_entries = 0;  // live entries (both directions)
  std::uint64_t conntrack_max = 0;
  std::uint64_t conntrack_gc_deleted = 0;  // removed by the control plane's sweeper
  FlowEventCounts flow_events;
};

// Sums of per-CPU values, field by field.
ServiceCounters sum_per_cpu(std::span<const ServiceCounters> per_cpu);
BackendCounters sum_per_cpu(std::span<const BackendCounters> per_cpu);
GlobalCounters sum_per_cpu(std::span<const GlobalCounters> per_cpu);

// Flows the LRU map dropped silently: forward entries created minus those accounted for. Each live flow
// holds two entries (forward and reverse), hence the halving. Never negative.
std::uint64_t estimate_lru_evictions(const MetricsSnapshot& snapshot);

std::string_view drop_reason_name(DropReason reason);

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

std::string render_prometheus(const MetricsSnapshot& snapshot);

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace lb
