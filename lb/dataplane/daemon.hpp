// lb/dataplane/daemon.hpp — the whole running load balancer: control plane (maps, tables, health checks),
// data plane (XDP + TC programs), flow events, admin API, periodic conntrack sweep and configuration reloads.
//
// `ebpf-lb` drives one Daemon from its signal loop: tick() about once a second (sweeps idle flows when due,
// reloads when the configuration file changed on disk), reload() on SIGHUP, stop() on SIGTERM/SIGINT.
// stop() detaches the programs and removes every pin unless keep_pins; a Daemon destroyed without stop()
// behaves like a crash (pinned state stays for the next run to adopt).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "ebpf/attach/xdp.hpp"
#include "ebpf/error.hpp"
#include "lb/control/api.hpp"
#include "lb/control/control_plane.hpp"
#include "lb/dataplane/dataplane.hpp"
#include "lb/dataplane/events.hpp"

namespace lb {

struct DaemonOptions {
  Logger* log = nullptr;
  std::string version = "0.1.0";
  bool attach = true;          // false: control plane only (no BPF programs attached)
  bool adopt = true;           // adopt pinned maps and links of a previous run; false: start clean
  bool keep_pins = false;      // stop() leaves programs attached and maps pinned (for an upgrade)
  bool force_netlink = false;  // netlink XDP and clsact/cls_bpf instead of bpf_links
  ebpf::XdpMode xdp_mode = ebpf::XdpMode::unspecified;
  bool watch_config = true;    // reload when the configuration file's modification time changes
  std::chrono::milliseconds sweep_interval{5000};
  bool start_healthy = true;
};

class Daemon {
 public:
  static ebpf::Result<std::unique_ptr<Daemon>> start(ConfigStore& store, const DaemonOptions& options = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Periodic housekeeping; call about once a second.
  void tick();
  // Re-reads the configuration (the previous one stays on any error, which is logged and returned).
  ebpf::Result<void> reload(std::string_view why);
  // Clean shutdown (idempotent).
  ebpf::Result<void> stop();

  LoadBalancer& balancer() { return *lb_; }
  DataPlane* data_plane() { return plane_.get(); }
  std::uint16_t admin_port() const;

 private:
  Daemon(ConfigStore& store, DaemonOptions options) : store_(store), options_(std::move(options)) {}
  ebpf::Result<void> start_components();

  ConfigStore& store_;
  DaemonOptions options_;
  std::unique_ptr<LoadBalancer> lb_;
  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<FlowEventReader> events_;
  std::unique_ptr<AdminServer> api_;
  std::chrono::steady_clock::time_point next_sweep_{};
  std::timespec config_mtime_{};
  bool stopped_ = false;
};

}  // namespace lb
