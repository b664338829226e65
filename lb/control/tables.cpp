// Config -> map contents (see tables.hpp).
#include "lb/control/tables.hpp"

#include <arpa/inet.h>

#include <set>

#include "lb/common/maps.hpp"

namespace lb {
namespace {

using ebpf::Result;

// Assigns ids: previous ones first (when still present), then the lowest free ids in config order.
std::map<std::string, std::uint32_t> assign_ids(const std::vector<std::string>& keys,
                                                const std::map<std::string, std::uint32_t>& previous) {
  std::map<std::string, std::uint32_t> ids;
  std::set<std::uint32_t> used;
  for (const auto& key : keys)
    if (auto it = previous.find(key); it != previous.end() && used.insert(it->second).second) ids[key] = it->second;
  std::uint32_t next = 0;
  for (const auto& key : keys) {
    if (ids.contains(key)) continue;
    while (used.contains(next)) ++next;
    ids[key] = next;
    used.insert(next);
  }
  return ids;
}

std::string backend_key(const ServiceConfig& svc, const BackendConfig& be) { return svc.name + "/" + be.name; }

BackendValue backend_value(const BackendConfig& be, std::uint32_t service_id, const BackendRuntimeState& state) {
  BackendValue v;
  v.addr = be.endpoint.address.addr;
  v.port = htons(be.endpoint.port);
  v.family = be.endpoint.address.family;
  v.flags = backend_flags::kInUse;
  if (state.draining) v.flags |= backend_flags::kDraining;
  if (!state.healthy) v.flags |= backend_flags::kUnhealthy;
  v.weight = be.weight;
  v.service_id = service_id;
  return v;
}

std::uint32_t service_flags_of(const ServiceConfig& svc) {
  std::uint32_t flags = 0;
  if (svc.scheduler == Scheduler::random) flags |= service_flags::kSchedRandom;
  if (svc.persistence == Persistence::source_ip) flags |= service_flags::kPersistSource;
  if (!svc.source_routes.empty()) flags |= service_flags::kHasSourceRoutes;
  if (svc.rate_limits.service_per_second) flags |= service_flags::kRateLimitService;
  if (svc.rate_limits.source_per_second) flags |= service_flags::kRateLimitSource;
  return flags;
}

class Compiler {
 public:
  Compiler(const Config& config, const CompileOptions& options) : config_(config), options_(options) {}

  Result<CompiledTables> run() {
    std::vector<std::string> service_names, backend_keys;
    for (const auto& svc : config_.services) {
      service_names.push_back(svc.name);
      for (const auto& be : svc.backends) backend_keys.push_back(backend_key(svc, be));
    }
    out_.service_ids = assign_ids(service_names, options_.previous_service_ids);
    out_.backend_ids = assign_ids(backend_keys, options_.previous_backend_ids);
    for (const auto& [key, id] : out_.backend_ids) {
      if (id >= kMaxBackends) return ebpf::Error::invalid("compile", "more than " + std::to_string(kMaxBackends) + " backends");
      out_.backend_names[id] = key;
    }
    for (const auto& svc : config_.services) EBPF_TRY(service(svc));
    out_.maglev_entries = 2 * config_.maglev_table_size * table_count_;
    datapath();
    return std::move(out_);
  }

 private:
  BackendRuntimeState state_of(const std::string& key) const {
    auto it = options_.backend_state.find(key);
    return it == options_.backend_state.end() ? BackendRuntimeState{} : it->second;
  }

  // Builds one table from the backends `pick` selects; returns its index in out_.maglev_tables.
  Result<std::size_t> table(const ServiceConfig& svc, std::uint32_t service_id, const std::string& group,
                            const std::function<bool(const BackendConfig&)>& pick) {
    CompiledMaglevTable t;
    t.service = svc.name;
    t.group = group;
    t.service_id = service_id;
    t.offset = (2 * table_count_ + (options_.generation & 1)) * config_.maglev_table_size;
    ++table_count_;
    std::vector<MaglevBackend> members;
    for (const auto& be : svc.backends) {
      if (!pick(be)) continue;
      const auto key = backend_key(svc, be);
      const auto state = state_of(key);
      const std::uint32_t weight = state.healthy && !state.draining ? be.weight : 0;
      if (weight == 0) continue;
      members.push_back({be.name, out_.backend_ids.at(key), weight});
      t.backends.push_back(members.back().id);
    }
    if (!members.empty()) {
      t.slots = EBPF_TRY(build_maglev_table(members, {.table_size = config_.maglev_table_size}));
      t.shares = maglev_shares(t.slots, members);
    }
    out_.maglev_tables.push_back(std::move(t));
    return out_.maglev_tables.size() - 1;
  }

  Result<void> service(const ServiceConfig& svc) {
    const std::uint32_t id = out_.service_ids.at(svc.name);
    if (id >= kMaxServices) return ebpf::Error::invalid("compile", "more than " + std::to_string(kMaxServices) + " services");
    for (const auto& be : svc.backends) {
      const auto key = backend_key(svc, be);
      out_.backends.emplace_back(out_.backend_ids.at(key), backend_value(be, id, state_of(key)));
    }
    bool has_default = false;
    for (const auto& be : svc.backends) has_default = has_default || be.group == "default";
    const auto main = EBPF_TRY(table(svc, id, "default", [&](const BackendConfig& be) { return !has_default || be.group == "default"; }));
    const auto& mt = out_.maglev_tables[main];
    ServiceValue value;
    value.id = id;
    value.flags = service_flags_of(svc);
    value.maglev_offset = mt.offset;
    value.maglev_size = mt.slots.empty() ? 0 : config_.maglev_table_size;
    value.backend_count = static_cast<std::uint32_t>(mt.backends.size());
    value.svc_rate = svc.rate_limits.service_per_second;
    value.svc_burst = svc.rate_limits.service_burst;
    value.src_rate = svc.rate_limits.source_per_second;
    value.src_burst = svc.rate_limits.source_burst;
    out_.services.emplace_back(make_service_key(svc.vip, svc.protocol), value);

    std::map<std::string, std::size_t> group_tables;
    std::uint32_t group_id = 1;  // 0 is the main table
    for (const auto& route : svc.source_routes) {
      if (!group_tables.contains(route.group))
        group_tables[route.group] = EBPF_TRY(table(svc, id, route.group, [&](const BackendConfig& be) { return be.group == route.group; }));
      const auto& gt = out_.maglev_tables[group_tables[route.group]];
      SourceRouteValue rv;
      rv.group_id = group_id++;
      rv.maglev_offset = gt.offset;
      rv.maglev_size = gt.slots.empty() ? 0 : config_.maglev_table_size;
      rv.backend_count = static_cast<std::uint32_t>(gt.backends.size());
      out_.source_routes.emplace_back(make_source_route_key(id, route.cidr), rv);
    }
    return ebpf::ok();
  }

  void datapath() {
    auto ns = [](std::chrono::milliseconds ms) { return static_cast<std::uint64_t>(ms.count()) * 1'000'000ULL; };
    out_.datapath.tcp_idle_ns = ns(config_.conntrack.tcp_idle_timeout);
    out_.datapath.tcp_transitory_ns = ns(config_.conntrack.tcp_transitory_timeout);
    out_.datapath.udp_idle_ns = ns(config_.conntrack.udp_idle_timeout);
    out_.datapath.flags = config_.flow_events ? config_flags::kEvents : 0;
    if (config_.forwarding == ForwardingMode::redirect) out_.datapath.flags |= config_flags::kRedirect;
  }

  const Config& config_;
  const CompileOptions& options_;
  CompiledTables out_;
  std::uint32_t table_count_ = 0;
};

}  // namespace

ServiceKey make_service_key(const Endpoint& vip, Protocol protocol) {
  ServiceKey key;
  key.vip = vip.address.addr;
  key.port = htons(vip.port);
  key.proto = protocol == Protocol::tcp ? kProtoTcp : kProtoUdp;
  key.family = vip.address.family;
  return key;
}

SourceRouteKey make_source_route_key(std::uint32_t service_id, const Cidr& cidr) {
  SourceRouteKey key;
  key.prefixlen = 32 + cidr.mapped_prefix_len();
  key.service_id = htonl(service_id);
  key.addr = cidr.address.addr;
  return key;
}

SourceRouteKey make_source_lookup_key(std::uint32_t service_id, const IpAddress& client) {
  SourceRouteKey key;
  key.prefixlen = 32 + 128;
  key.service_id = htonl(service_id);
  key.addr = client.addr;
  return key;
}

Result<CompiledTables> compile_tables(const Config& config, const CompileOptions& options) {
  return Compiler(config, options).run();
}

}  // namespace lb
