// Prometheus exposition (see metrics.hpp).
#include "lb/control/metrics.hpp"

#include <algorithm>
#include <bit>
#include <functional>

namespace lb {
namespace {

// One metric family: HELP and TYPE once, then one sample per label set.
class Family {
 public:
  Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) : out_(out), name_(name) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: alternating name, value.
  void sample(std::initializer_list<std::string_view> labels, std::uint64_t value) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (auto it = labels.begin(); it != labels.end(); it += 2) {
        if (!first) out_ += ',';
        first = false;
        out_ += *it;
        out_ += "=\"";
        out_ += escape_label_value(*(it + 1));
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  std::string_view name_;
};

template <class T>
T sum_fields(std::span<const T> per_cpu) {
  // Every counter struct is a sequence of uint64_t with no padding (asserted in abi.hpp), so add word-wise.
  static_assert(sizeof(T) % 8 == 0 && kIsMapPod<T>);
  std::array<std::uint64_t, sizeof(T) / 8> total{};
  for (const auto& cpu : per_cpu) {
    const auto words = std::bit_cast<std::array<std::uint64_t, sizeof(T) / 8>>(cpu);
    for (std::size_t i = 0; i < words.size(); ++i) total[i] += words[i];
  }
  return std::bit_cast<T>(total);
}

void render_services(std::string& out, const MetricsSnapshot& s) {
  using Get = std::function<std::uint64_t(const ServiceCounters&)>;
  const std::tuple<std::string_view, std::string_view, Get> families[] = {
      {"ebpf_lb_service_packets_total", "Packets from clients to the service VIP.", [](auto& c) { return c.packets; }},
      {"ebpf_lb_service_bytes_total", "Bytes from clients to the service VIP.", [](auto& c) { return c.bytes; }},
      {"ebpf_lb_service_new_flows_total", "Flows assigned to a backend.", [](auto& c) { return c.new_flows; }},
  };
  for (const auto& [name, help, get] : families) {
    Family f(out, name, "counter", help);
    for (const auto& svc : s.services)
      f.sample({"service", svc.name, "vip", svc.vip, "protocol", svc.protocol}, get(svc.counters));
  }
  Family drops(out, "ebpf_lb_service_drops_total", "counter", "Packets dropped, by reason.");
  for (const auto& svc : s.services)
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
      const auto reason = drop_reason_name(static_cast<DropReason>(r));
      if (reason.starts_with("reserved")) continue;
      drops.sample({"service", svc.name, "vip", svc.vip, "protocol", svc.protocol, "reason", reason}, svc.counters.drops[r]);
    }
}

void render_backends(std::string& out, const MetricsSnapshot& s) {
  using Get = std::function<std::uint64_t(const BackendMetrics&)>;
  const std::tuple<std::string_view, std::string_view, std::string_view, Get> families[] = {
      {"ebpf_lb_backend_packets_total", "counter", "Packets forwarded to the backend.", [](auto& b) { return b.counters.packets; }},
      {"ebpf_lb_backend_bytes_total", "counter", "Bytes forwarded to the backend.", [](auto& b) { return b.counters.bytes; }},
      {"ebpf_lb_backend_reply_packets_total", "counter", "Reply packets from the backend.", [](auto& b) { return b.counters.reply_packets; }},
      {"ebpf_lb_backend_reply_bytes_total", "counter", "Reply bytes from the backend.", [](auto& b) { return b.counters.reply_bytes; }},
      {"ebpf_lb_backend_new_flows_total", "counter", "Flows assigned to the backend.", [](auto& b) { return b.counters.new_flows; }},
      {"ebpf_lb_backend_up", "gauge", "1 when health checks pass.", [](auto& b) { return b.healthy ? 1U : 0U; }},
      {"ebpf_lb_backend_draining", "gauge", "1 when the backend takes no new flows.", [](auto& b) { return b.draining ? 1U : 0U; }},
      {"ebpf_lb_backend_drain_finished", "gauge", "1 when a drained backend has no flow left.",
       [](auto& b) { return b.drain_finished ? 1U : 0U; }},
      {"ebpf_lb_backend_weight", "gauge", "Configured weight.", [](auto& b) { return b.weight; }},
  };
  for (const auto& [name, type, help, get] : families) {
    Family f(out, name, type, help);
    for (const auto& b : s.backends)
      f.sample({"service", b.service, "backend", b.backend, "address", b.address}, get(b));
  }
}

void render_global(std::string& out, const MetricsSnapshot& s) {
  const std::tuple<std::string_view, std::string_view, std::string_view, std::uint64_t> families[] = {
      {"ebpf_lb_conntrack_entries", "gauge", "Live conntrack entries (two per flow).", s.conntrack_entries},
      {"ebpf_lb_conntrack_max_entries", "gauge", "Conntrack map capacity.", s.conntrack_max},
      {"ebpf_lb_conntrack_created_total", "counter", "Flows inserted by the data path.", s.global.ct_created},
      {"ebpf_lb_conntrack_closed_total", "counter", "Flows removed after RST or FIN.", s.global.ct_closed},
      {"ebpf_lb_conntrack_expired_total", "counter", "Idle flows replaced by the data path.", s.global.ct_expired},
      {"ebpf_lb_conntrack_gc_deleted_total", "counter", "Idle flows removed by the control plane.", s.conntrack_gc_deleted},
      {"ebpf_lb_conntrack_lru_evicted_estimate", "gauge", "Flows the LRU map evicted (estimated).", estimate_lru_evictions(s)},
      {"ebpf_lb_conntrack_reverse_miss_total", "counter", "Backend replies without a conntrack entry.", s.global.ct_reverse_miss},
      {"ebpf_lb_not_service_packets_total", "counter", "Packets passed through untouched.", s.global.not_service},
      {"ebpf_lb_events_lost_total", "counter", "Flow events lost to a full ring buffer.", s.global.events_lost},
      {"ebpf_lb_malformed_packets_total", "counter", "Packets with truncated or invalid headers, passed through untouched.", s.global.malformed},
      {"ebpf_lb_icmp_errors_translated_total", "counter", "ICMP errors about a balanced flow given the flow's NAT.", s.global.icmp_translated},
  };
  for (const auto& [name, type, help, value] : families) Family(out, name, type, help).sample({}, value);
  // What user space received from the lb_events ring buffer (events_lost above is what never arrived).
  Family events(out, "ebpf_lb_flow_events_total", "counter", "Flow events received from the data path.");
  events.sample({"event", "open", "reason", ""}, s.flow_events.opened);
  events.sample({"event", "close", "reason", "fin"}, s.flow_events.closed_fin);
  events.sample({"event", "close", "reason", "rst"}, s.flow_events.closed_rst);
  events.sample({"event", "close", "reason", "idle"}, s.flow_events.closed_idle);
  const auto& e = s.flow_events;
  events.sample({"event", "close", "reason", "other"},
                e.closed - std::min(e.closed, e.closed_fin + e.closed_rst + e.closed_idle));
}

}  // namespace

ServiceCounters sum_per_cpu(std::span<const ServiceCounters> per_cpu) {
  return sum_fields(per_cpu);
}
BackendCounters sum_per_cpu(std::span<const BackendCounters> per_cpu) {
  return sum_fields(per_cpu);
}
GlobalCounters sum_per_cpu(std::span<const GlobalCounters> per_cpu) {
  return sum_fields(per_cpu);
}

std::uint64_t estimate_lru_evictions(const MetricsSnapshot& s) {
  const std::uint64_t accounted = s.global.ct_closed + s.global.ct_expired + s.conntrack_gc_deleted + s.conntrack_entries / 2;
  return s.global.ct_created > accounted ? s.global.ct_created - accounted : 0;
}

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::kNoBackend: return "no_backend";
    case DropReason::kRateLimitService: return "rate_limit_service";
    case DropReason::kRateLimitSource: return "rate_limit_source";
    case DropReason::kConntrackFull: return "conntrack_full";
    case DropReason::kMalformed: return "malformed";
    case DropReason::kUnsupported: return "unsupported";
    case DropReason::kReserved6: return "reserved6";
    case DropReason::kReserved7: return "reserved7";
  }
  return "unknown";
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_prometheus(const MetricsSnapshot& snapshot) {
  std::string out;
  render_services(out, snapshot);
  render_backends(out, snapshot);
  render_global(out, snapshot);
  return out;
}

}  // namespace lb
