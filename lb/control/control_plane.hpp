// lb/control/control_plane.hpp — the running load balancer's control plane, without the BPF programs.
//
// Owns the data-path maps, compiles the configuration into them, runs health checks and turns their
// transitions (and drain requests) into new Maglev tables, and serves the admin API's questions from the
// maps (counters, conntrack). The XDP/TC programs (lb/dataplane/dataplane.hpp) only need these maps.
// With a pin directory the maps outlive the process: a restarted control plane adopts them (conntrack and
// counters carry over), writes its tables into the Maglev half the running programs are not reading, and
// removes services and routes the previous run had but this configuration does not.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "lb/control/api.hpp"
#include "lb/control/config.hpp"
#include "lb/control/datapath_maps.hpp"
#include "lb/control/health.hpp"
#include "lb/control/log.hpp"
#include "lb/control/tables.hpp"

namespace lb {

struct LoadBalancerOptions {
  Logger* log = nullptr;
  bool start_healthy = true;  // see HealthCheckerOptions
  std::string version = "0.1.0";
  // CLOCK_MONOTONIC in ns (what bpf_ktime_get_ns() returns), for conntrack ages; tests may pin it.
  std::function<std::uint64_t()> monotonic_ns{};
  MapPinning pinning{};  // empty dir: private maps, gone with the process
};

class LoadBalancer : public ControlPlane {
 public:
  // Creates the maps, applies the store's current config and starts health checks.
  static ebpf::Result<std::unique_ptr<LoadBalancer>> create(ConfigStore& store, const LoadBalancerOptions& options = {});
  ~LoadBalancer() override;

  StatusInfo status() override;
  std::vector<ServiceInfo> services() override;
  std::vector<BackendInfo> backends() override;
  ebpf::Result<ConnectionList> connections(std::size_t limit) override;
  ebpf::Result<MetricsSnapshot> metrics() override;
  ebpf::Result<void> set_draining(std::uint32_t backend_id, bool draining) override;
  ebpf::Result<void> reload() override;

  // Run every few seconds: removes idle conntrack entries (counted in metrics as gc_deleted; returns how
  // many) and moves drains on: a draining backend with no flow left has finished; one draining for longer
  // than drain_timeout has its flows' entries removed and has finished too.
  ebpf::Result<std::uint64_t> sweep_conntrack();

  // Logs a flow open/close event from the data path and counts it (thread-safe).
  void on_flow_event(const FlowEvent& event);
  FlowEventCounts flow_events() const;
  // Reported by status(); the data plane sets it once its programs are attached.
  void set_data_path_attached(bool attached) { attached_ = attached; }

  DataPathMaps& maps() { return maps_; }
  // The tables currently in the maps (a copy, for inspection).
  CompiledTables tables() const;
  void stop();

 private:
  LoadBalancer(ConfigStore& store, LoadBalancerOptions options, DataPathMaps maps);
  // Recompiles with the current config and runtime state into the other Maglev half and applies it.
  ebpf::Result<void> rebuild_locked(std::shared_ptr<const Config> config);
  ebpf::Result<void> update_health_targets_locked();
  void on_health(const HealthEvent& event);
  const BackendConfig* backend_config_locked(const std::string& key, const ServiceConfig** service) const;
  bool drain_finished_locked(const std::string& key) const;

  ConfigStore& store_;
  LoadBalancerOptions options_;
  mutable std::mutex mutex_;
  DataPathMaps maps_;
  std::shared_ptr<const Config> config_;
  CompiledTables tables_;
  std::uint32_t generation_ = 0;
  std::map<std::string, BackendRuntimeState> state_;  // "service/backend" -> health, drain
  struct DrainProgress {
    std::uint64_t since_ns = 0;  // options_.monotonic_ns() when the drain began
    bool finished = false;
  };
  std::map<std::string, DrainProgress> drains_;  // "service/backend" of every draining backend
  std::unique_ptr<HealthChecker> health_;
  std::uint64_t started_ns_ = 0;
  std::atomic<std::uint64_t> gc_deleted_{0};
  std::atomic<bool> attached_{false};
  mutable std::mutex events_mutex_;
  FlowEventCounts events_;
};

}  // namespace lb
