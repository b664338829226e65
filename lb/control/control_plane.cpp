// Control plane (see control_plane.hpp).
#include "lb/control/control_plane.hpp"

#include <arpa/inet.h>

#include <ctime>
#include <set>

#include "lb/common/maps.hpp"

namespace lb {
namespace {

std::uint64_t clock_monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string_view state_name(std::uint8_t state) {
  switch (static_cast<TcpState>(state)) {
    case TcpState::kNone: return "none";
    case TcpState::kSynSent: return "syn_sent";
    case TcpState::kEstablished: return "established";
    case TcpState::kFinWait: return "fin_wait";
    case TcpState::kClosing: return "closing";
    case TcpState::kClosed: return "closed";
  }
  return "unknown";
}

std::string endpoint_string(const Addr& addr, std::uint8_t family, std::uint16_t port_be) {
  Endpoint ep;
  ep.address.addr = addr;
  ep.address.family = family;
  ep.port = ntohs(port_be);
  return ep.to_string();
}

// The generation whose Maglev half no adopted service is reading: a restarted process writes its tables
// there while the previous run's programs still use the other half.
std::uint32_t free_generation(DataPathMaps& maps, std::uint32_t table_size) {
  auto* services = maps.find("lb_services");
  ServiceKey key;
  ServiceValue value;
  if (!services->get_next_key({}, std::as_writable_bytes(std::span<ServiceKey, 1>(&key, 1)))) return 0;
  if (!services->lookup(std::as_bytes(std::span<const ServiceKey, 1>(&key, 1)),
                        std::as_writable_bytes(std::span<ServiceValue, 1>(&value, 1))))
    return 0;
  return ((value.maglev_offset / table_size) & 1U) ^ 1U;
}

void log_map_origins(Logger* log, const DataPathMaps& maps) {
  if (log == nullptr || maps.pin_dir().empty()) return;
  std::uint64_t adopted = 0;
  for (const auto& origin : maps.origins()) {
    if (origin.adopted) ++adopted;
    else if (!origin.reason.empty())
      log->warn("pinned map not adopted, recreated", {{"map", origin.name}, {"reason", origin.reason}});
  }
  log->info("data-path maps ready", {{"pin_dir", maps.pin_dir()}, {"adopted", adopted},
                                     {"created", maps.origins().size() - adopted}});
}

std::string_view close_reason_name(std::uint8_t reason) {
  switch (static_cast<CloseReason>(reason)) {
    case CloseReason::kFin: return "fin";
    case CloseReason::kRst: return "rst";
    case CloseReason::kIdle: return "idle";
    case CloseReason::kNone: break;
  }
  return "none";
}

}  // namespace

LoadBalancer::LoadBalancer(ConfigStore& store, LoadBalancerOptions options, DataPathMaps maps)
    : store_(store), options_(std::move(options)), maps_(std::move(maps)) {
  if (!options_.monotonic_ns) options_.monotonic_ns = clock_monotonic_ns;
  started_ns_ = clock_monotonic_ns();
}

LoadBalancer::~LoadBalancer() { stop(); }

void LoadBalancer::stop() {
  std::unique_ptr<HealthChecker> health;
  {
    std::lock_guard lock(mutex_);
    health = std::move(health_);
  }
  if (health) health->stop();  // outside the lock: its callback takes the lock
}

ebpf::Result<std::unique_ptr<LoadBalancer>> LoadBalancer::create(ConfigStore& store, const LoadBalancerOptions& options) {
  auto config = store.current();
  auto sizing = EBPF_TRY(compile_tables(*config));
  // Room for growth: reloads may add tables up to the service limit's worth of this configuration.
  const std::uint32_t entries = std::max<std::uint32_t>(sizing.maglev_entries * 2, 2 * config->maglev_table_size);
  auto maps = EBPF_TRY(DataPathMaps::create(*config, entries, options.pinning));
  log_map_origins(options.log, maps);
  const bool adopted = maps.adopted("lb_services");
  std::unique_ptr<LoadBalancer> lb(new LoadBalancer(store, options, std::move(maps)));
  {
    std::lock_guard lock(lb->mutex_);
    if (adopted) {
      lb->generation_ = free_generation(lb->maps_, config->maglev_table_size);
      // Keep the previous run's ids: its conntrack entries, drains and counters name backends by id.
      auto ids = EBPF_TRY(lb->maps_.recover_ids(sizing));
      lb->tables_.service_ids = std::move(ids.service_ids);
      lb->tables_.backend_ids = std::move(ids.backend_ids);
    }
    EBPF_TRY(lb->rebuild_locked(config));
    if (adopted) {
      const auto pruned = EBPF_TRY(lb->maps_.prune(lb->tables_));
      if (pruned > 0 && options.log != nullptr)
        options.log->info("removed entries of the previous run's configuration", {{"entries", pruned}});
    }
  }
  auto* raw = lb.get();
  lb->health_ = EBPF_TRY(HealthChecker::start({.start_healthy = options.start_healthy,
                                               .on_change = [raw](const HealthEvent& e) { raw->on_health(e); }}));
  std::lock_guard lock(lb->mutex_);
  EBPF_TRY(lb->update_health_targets_locked());
  return lb;
}

ebpf::Result<void> LoadBalancer::rebuild_locked(std::shared_ptr<const Config> config) {
  const bool first = tables_.services.empty() && tables_.backends.empty();
  CompileOptions options{.generation = first ? generation_ : generation_ + 1,
                         .previous_service_ids = tables_.service_ids,
                         .previous_backend_ids = tables_.backend_ids,
                         .backend_state = state_};
  auto next = EBPF_TRY(compile_tables(*config, options));
  EBPF_TRY(maps_.apply(next, first ? nullptr : &tables_));
  generation_ = options.generation;
  tables_ = std::move(next);
  config_ = std::move(config);
  return ebpf::ok();
}

ebpf::Result<void> LoadBalancer::update_health_targets_locked() {
  if (!health_) return ebpf::ok();
  std::vector<HealthTarget> targets;
  for (const auto& svc : config_->services)
    for (const auto& be : svc.backends)
      targets.push_back({tables_.backend_ids.at(svc.name + "/" + be.name), be.endpoint, svc.health_check});
  return health_->set_targets(std::move(targets));
}

void LoadBalancer::on_health(const HealthEvent& event) {
  std::lock_guard lock(mutex_);
  auto found = tables_.backend_names.find(event.id);
  if (found == tables_.backend_names.end()) return;  // removed by a reload meanwhile
  // A copy: rebuild_locked() replaces tables_, which would leave an iterator into it dangling.
  const std::string name = found->second;
  state_[name].healthy = event.healthy;
  auto rebuilt = rebuild_locked(config_);
  if (options_.log != nullptr) {
    options_.log->info("backend health changed", {{"backend", name}, {"healthy", event.healthy},
                                                  {"consecutive", event.consecutive}, {"reason", event.reason}});
    if (!rebuilt) options_.log->error("applying health change failed", {{"error", rebuilt.error().to_string()}});
  }
}

ebpf::Result<void> LoadBalancer::set_draining(std::uint32_t backend_id, bool draining) {
  std::lock_guard lock(mutex_);
  auto found = tables_.backend_names.find(backend_id);
  if (found == tables_.backend_names.end())
    return ebpf::Error(ebpf::Errc::not_found, "drain", "no backend with id " + std::to_string(backend_id));
  // A copy: rebuild_locked() replaces tables_, which would leave an iterator into it dangling.
  const std::string name = found->second;
  const bool before = state_[name].draining;
  state_[name].draining = draining;
  auto rebuilt = rebuild_locked(config_);
  if (!rebuilt) {
    state_[name].draining = before;
    return rebuilt;
  }
  if (!draining) drains_.erase(name);
  else if (!before) drains_[name] = {.since_ns = options_.monotonic_ns(), .finished = false};
  if (options_.log != nullptr) options_.log->info(draining ? "backend drained" : "backend undrained", {{"backend", name}});
  return rebuilt;
}

ebpf::Result<void> LoadBalancer::reload() {
  auto next = EBPF_TRY(store_.reload());
  std::lock_guard lock(mutex_);
  auto sizing = EBPF_TRY(compile_tables(*next));
  if (sizing.maglev_entries > maps_.find("lb_maglev")->max_entries() ||
      next->conntrack.max_entries != maps_.find("lb_conntrack")->max_entries() ||
      next->maglev_table_size != config_->maglev_table_size)
    return ebpf::Error(ebpf::Errc::not_supported, "reload",
                       "map sizes changed (maglev_table_size, conntrack.max_entries or many more services): restart needed");
  EBPF_TRY(rebuild_locked(next));
  EBPF_TRY(update_health_targets_locked());
  if (options_.log != nullptr) options_.log->info("configuration reloaded", {{"source", config_->source}});
  return ebpf::ok();
}

ebpf::Result<std::uint64_t> LoadBalancer::sweep_conntrack() {
  std::unique_lock lock(mutex_);
  const std::uint64_t now = options_.monotonic_ns();  // under the lock: no drain begins after it unseen
  const auto timeout_ns = static_cast<std::uint64_t>(config_->drain_timeout.count()) * 1'000'000ULL;
  std::set<std::uint32_t> cut;
  for (const auto& [name, drain] : drains_)
    if (auto id = tables_.backend_ids.find(name);
        id != tables_.backend_ids.end() && !drain.finished && timeout_ns > 0 && now >= drain.since_ns + timeout_ns)
      cut.insert(id->second);
  // The walk takes a while on a big map: only a sweep that cuts flows holds the lock through it, so an undrain
  // cannot come in between.
  if (cut.empty()) lock.unlock();
  const auto sweep = EBPF_TRY(maps_.sweep_conntrack(now, cut));
  gc_deleted_ += sweep.expired;
  if (sweep.expired > 0 && options_.log != nullptr) options_.log->debug("conntrack sweep", {{"deleted", sweep.expired}});
  if (!lock.owns_lock()) lock.lock();
  for (auto& [name, drain] : drains_) {
    // A drain that began during the walk is judged by the next sweep: the walk may have passed flows the
    // backend got before its drain.
    const auto id = tables_.backend_ids.find(name);
    if (drain.finished || drain.since_ns > now || id == tables_.backend_ids.end() ||
        sweep.flows_by_backend.contains(id->second))
      continue;
    drain.finished = true;
    if (options_.log == nullptr) continue;
    const auto cut_flows = sweep.cut_by_backend.contains(id->second) ? sweep.cut_by_backend.at(id->second) : 0;
    options_.log->info("backend drain finished", {{"backend", name},
                                                  {"reason", cut.contains(id->second) ? "drain_timeout" : "no flows left"},
                                                  {"flows_cut", cut_flows}});
  }
  return sweep.expired;
}

void LoadBalancer::on_flow_event(const FlowEvent& event) {
  {
    std::lock_guard lock(events_mutex_);
    if (event.type == static_cast<std::uint8_t>(FlowEventType::kOpen)) {
      ++events_.opened;
    } else {
      ++events_.closed;
      switch (static_cast<CloseReason>(event.close_reason)) {
        case CloseReason::kFin: ++events_.closed_fin; break;
        case CloseReason::kRst: ++events_.closed_rst; break;
        case CloseReason::kIdle: ++events_.closed_idle; break;
        case CloseReason::kNone: break;
      }
    }
  }
  // One line per flow is debug output: at thousands of new connections per second, info-level lines would
  // cost the balancer's host more CPU than the data path does (the counts are in /metrics either way).
  if (options_.log == nullptr || !options_.log->enabled(LogLevel::debug)) return;
  std::string backend;
  {
    std::lock_guard lock(mutex_);
    auto name = tables_.backend_names.find(event.backend_id);
    backend = name != tables_.backend_names.end() ? name->second : "#" + std::to_string(event.backend_id);
  }
  const bool open = event.type == static_cast<std::uint8_t>(FlowEventType::kOpen);
  const auto client = endpoint_string(event.src, event.family, event.sport);
  const auto vip = endpoint_string(event.dst, event.family, event.dport);
  const auto proto = event.proto == kProtoTcp ? "tcp" : "udp";
  if (open)
    options_.log->debug("flow open", {{"client", client}, {"vip", vip}, {"proto", proto}, {"backend", backend}});
  else
    options_.log->debug("flow close", {{"client", client}, {"vip", vip}, {"proto", proto}, {"backend", backend},
                                      {"reason", close_reason_name(event.close_reason)},
                                      {"packets", event.packets}, {"bytes", event.bytes}});
}

FlowEventCounts LoadBalancer::flow_events() const {
  std::lock_guard lock(events_mutex_);
  return events_;
}

CompiledTables LoadBalancer::tables() const {
  std::lock_guard lock(mutex_);
  return tables_;
}

StatusInfo LoadBalancer::status() {
  std::lock_guard lock(mutex_);
  StatusInfo s;
  s.version = options_.version;
  s.uptime_seconds = (clock_monotonic_ns() - started_ns_) / 1'000'000'000ULL;
  s.config_source = config_->source;
  s.ingress_interface = config_->interfaces.ingress;
  s.data_path_attached = attached_;
  s.services = config_->services.size();
  s.backends = tables_.backends.size();
  for (const auto& [key, id] : tables_.backend_ids) s.healthy_backends += state_[key].healthy ? 1 : 0;
  return s;
}

std::vector<ServiceInfo> LoadBalancer::services() {
  std::lock_guard lock(mutex_);
  std::vector<ServiceInfo> out;
  for (const auto& svc : config_->services) {
    ServiceInfo info{tables_.service_ids.at(svc.name), svc.name, svc.vip.to_string(), std::string(to_string(svc.protocol)),
                     std::string(to_string(svc.scheduler)), svc.backends.size(), 0};
    for (const auto& be : svc.backends) info.healthy_backends += state_[svc.name + "/" + be.name].healthy ? 1 : 0;
    out.push_back(std::move(info));
  }
  return out;
}

bool LoadBalancer::drain_finished_locked(const std::string& key) const {
  const auto drain = drains_.find(key);
  return drain != drains_.end() && drain->second.finished;
}

std::vector<BackendInfo> LoadBalancer::backends() {
  std::lock_guard lock(mutex_);
  std::vector<BackendInfo> out;
  for (const auto& svc : config_->services)
    for (const auto& be : svc.backends) {
      const auto key = svc.name + "/" + be.name;
      const auto state = state_[key];
      out.push_back({tables_.backend_ids.at(key), svc.name, be.name, be.endpoint.to_string(), be.weight, be.group,
                     state.healthy, state.draining, drain_finished_locked(key)});
    }
  return out;
}

ebpf::Result<ConnectionList> LoadBalancer::connections(std::size_t limit) {
  std::map<std::uint32_t, std::string> names;
  {
    std::lock_guard lock(mutex_);
    names = tables_.backend_names;
  }
  ConnectionList list;
  const std::uint64_t now = options_.monotonic_ns();
  EBPF_TRY(maps_.for_each_conntrack([&](const ConntrackKey& k, const ConntrackValue& v) {
    if (v.flags & ct_flags::kReverse) return;  // one row per flow: the client-side entry
    ++list.total;
    const auto state = std::string(k.proto == kProtoTcp ? state_name(v.state) : "udp");
    auto backend = names.contains(v.backend_id) ? names[v.backend_id] : "#" + std::to_string(v.backend_id);
    ++list.by_state[state];
    ++list.by_backend[backend];
    if (list.items.size() >= limit) return;
    list.items.push_back({endpoint_string(k.src, k.family, k.sport), endpoint_string(k.dst, k.family, k.dport),
                          std::move(backend), k.proto == kProtoTcp ? "tcp" : "udp", state,
                          now > v.created_ns ? (now - v.created_ns) / 1'000'000 : 0,
                          now > v.last_seen_ns ? (now - v.last_seen_ns) / 1'000'000 : 0, v.packets, v.bytes});
  }));
  return list;
}

ebpf::Result<MetricsSnapshot> LoadBalancer::metrics() {
  std::unique_lock lock(mutex_);
  MetricsSnapshot s;
  for (const auto& svc : config_->services) {
    const auto id = tables_.service_ids.at(svc.name);
    s.services.push_back({svc.name, svc.vip.to_string(), std::string(to_string(svc.protocol)), EBPF_TRY(maps_.service_counters(id))});
    for (const auto& be : svc.backends) {
      const auto key = svc.name + "/" + be.name;
      const auto state = state_[key];
      s.backends.push_back({svc.name, be.name, be.endpoint.to_string(),
                            EBPF_TRY(maps_.backend_counters(tables_.backend_ids.at(key))), be.weight, state.healthy,
                            state.draining, drain_finished_locked(key)});
    }
  }
  s.global = EBPF_TRY(maps_.global_counters());
  s.conntrack_max = maps_.find("lb_conntrack")->max_entries();
  s.conntrack_gc_deleted = gc_deleted_;
  lock.unlock();
  s.flow_events = flow_events();
  EBPF_TRY(maps_.for_each_conntrack([&](const ConntrackKey&, const ConntrackValue&) { ++s.conntrack_entries; }));
  return s;
}

}  // namespace lb
