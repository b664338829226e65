// The running load balancer (see daemon.hpp).
#include "lb/dataplane/daemon.hpp"

#include <sys/stat.h>

namespace lb {
namespace {

// The file's modification time, or zero when it cannot be read (no file: command-line configuration).
std::timespec modification_time(const std::string& path) {
  struct stat st{};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return st.st_mtim;
}

bool same_time(const std::timespec& a, const std::timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

ebpf::Result<std::unique_ptr<Daemon>> Daemon::start(ConfigStore& store, const DaemonOptions& options) {
  std::unique_ptr<Daemon> daemon(new Daemon(store, options));
  auto started = daemon->start_components();
  if (!started) {
    // Nothing half-started stays behind — except a previous run's pinned state, which its programs still use.
    if (daemon->lb_ && daemon->lb_->maps().adopted("lb_conntrack")) daemon->options_.keep_pins = true;
    (void)daemon->stop();
    return started.error();
  }
  return daemon;
}

ebpf::Result<void> Daemon::start_components() {
  const auto config = store_.current();
  config_mtime_ = modification_time(config->source);
  lb_ = EBPF_TRY(LoadBalancer::create(store_, {.log = options_.log, .start_healthy = options_.start_healthy,
                                               .version = options_.version, .monotonic_ns = {},
                                               .pinning = {config->pin_dir, options_.adopt}}));
  events_ = EBPF_TRY(FlowEventReader::start(lb_->maps().find("lb_events")->fd(),
                                            [this](const FlowEvent& e) { lb_->on_flow_event(e); }));
  if (options_.attach) {
    plane_ = EBPF_TRY(DataPlane::start(lb_->maps(), {.ingress = config->interfaces.ingress,
                                                     .egress = config->interfaces.egress,
                                                     .xdp_mode = options_.xdp_mode,
                                                     .ingress_hook = config->ingress_hook,
                                                     .force_netlink = options_.force_netlink,
                                                     .adopt = options_.adopt,
                                                     .log = options_.log}));
    lb_->set_data_path_attached(true);
  }
  api_ = EBPF_TRY(AdminServer::start(*lb_, {.listen = config->admin.listen, .token = config->admin.token,
                                            .log = options_.log}));
  next_sweep_ = std::chrono::steady_clock::now() + options_.sweep_interval;
  if (options_.log != nullptr)
    options_.log->info("ebpf-lb running", {{"admin", config->admin.listen.address.to_string() + ":" + std::to_string(api_->port())},
                                           {"services", config->services.size()},
                                           {"data_path", options_.attach ? "attached" : "off"}});
  return ebpf::ok();
}

Daemon::~Daemon() {
  if (stopped_) return;
  // Like a crash: threads stop, pinned state stays for the next run.
  if (events_) events_->stop();
  if (api_) api_->stop();
  if (lb_) lb_->stop();
}

std::uint16_t Daemon::admin_port() const { return api_ ? api_->port() : 0; }

void Daemon::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_sweep_) {
    next_sweep_ = now + options_.sweep_interval;
    if (auto swept = lb_->sweep_conntrack(); !swept && options_.log != nullptr)
      options_.log->warn("conntrack sweep failed", {{"error", swept.error().to_string()}});
  }
  if (!options_.watch_config) return;
  const auto mtime = modification_time(store_.current()->source);
  if (mtime.tv_sec == 0 || same_time(mtime, config_mtime_)) return;
  config_mtime_ = mtime;
  (void)reload("configuration file changed");
}

ebpf::Result<void> Daemon::reload(std::string_view why) {
  const auto before = store_.current();
  auto reloaded = lb_->reload();
  if (!reloaded) {
    if (options_.log != nullptr)
      options_.log->error("reload failed, previous configuration kept",
                          {{"trigger", why}, {"error", reloaded.error().to_string()}});
    return reloaded;
  }
  const auto after = store_.current();
  if (options_.log != nullptr) {
    options_.log->info("reloaded", {{"trigger", why}});
    if (after->interfaces.ingress != before->interfaces.ingress || after->interfaces.egress != before->interfaces.egress)
      options_.log->warn("interface changes take effect at the next start");
    // Switching hooks means new programs and attachments; a restart does it without a gap (DataPlane::start).
    if (plane_ && after->ingress_hook != plane_->ingress_hook())
      options_.log->warn("ingress_hook changes take effect at the next start",
                         {{"running", to_string(plane_->ingress_hook())}, {"configured", to_string(after->ingress_hook)}});
  }
  return ebpf::ok();
}

ebpf::Result<void> Daemon::stop() {
  if (stopped_) return ebpf::ok();
  stopped_ = true;
  if (events_) events_->stop();
  if (api_) api_->stop();
  ebpf::Result<void> result = ebpf::ok();
  if (plane_) result = plane_->shutdown(options_.keep_pins);
  if (lb_) {
    lb_->set_data_path_attached(false);
    lb_->stop();
    if (!options_.keep_pins) {
      auto unpinned = lb_->maps().unpin_all();
      if (!unpinned && result) result = std::move(unpinned);
    }
  }
  if (options_.log != nullptr) {
    if (result) options_.log->info(options_.keep_pins ? "stopped, programs and pins kept" : "stopped, everything removed");
    else options_.log->error("shutdown incomplete", {{"error", result.error().to_string()}});
  }
  return result;
}

}  // namespace lb
