// Data-path maps (see datapath_maps.hpp).
#include "lb/control/datapath_maps.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include "ebpf/pin.hpp"
#include "lb/common/maps.hpp"

namespace lb {
namespace {

template <class T>
ebpf::Result<T> sum_lookup(const ebpf::Map& map, std::uint32_t key) {
  const std::size_t stride = (sizeof(T) + 7) / 8 * 8;
  std::vector<std::byte> buffer(map.value_buffer_size());
  EBPF_TRY(map.lookup(ebpf::as_bytes_of(key), buffer));
  std::vector<T> per_cpu(buffer.size() / stride);
  for (std::size_t cpu = 0; cpu < per_cpu.size(); ++cpu) std::memcpy(&per_cpu[cpu], buffer.data() + cpu * stride, sizeof(T));
  return sum_per_cpu(std::span<const T>(per_cpu));
}

// The lb_backends slots marked in use, read in batches.
ebpf::Result<std::vector<std::pair<std::uint32_t, BackendValue>>> slots_in_use(const ebpf::Map& backends) {
  std::vector<std::uint32_t> ids(backends.max_entries());
  std::vector<BackendValue> values(backends.max_entries());
  ebpf::BatchCursor cursor;
  std::size_t read = 0;
  while (!cursor.done() && read < ids.size()) {
    read += EBPF_TRY(backends.lookup_batch(cursor, std::as_writable_bytes(std::span(ids).subspan(read)),
                                           std::as_writable_bytes(std::span(values).subspan(read))));
  }
  std::vector<std::pair<std::uint32_t, BackendValue>> in_use;
  for (std::size_t i = 0; i < read; ++i)
    if ((values[i].flags & backend_flags::kInUse) != 0) in_use.emplace_back(ids[i], values[i]);
  return in_use;
}

// The lb_services value of `key`, or nullopt when the map has none.
ebpf::Result<std::optional<ServiceValue>> live_service(const ebpf::Map& services, const ServiceKey& key) {
  ServiceValue live;
  auto found = services.lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(live));
  if (found) return std::optional<ServiceValue>(live);
  if (found.error().code() == ebpf::Errc::key_not_found) return std::optional<ServiceValue>();
  return found.error();
}

// The identity of a backend slot, as /metrics labels it: address, port and service (not weight or state).
bool same_backend(const BackendValue& a, const BackendValue& b) {
  return (a.flags & backend_flags::kInUse) != 0 && (b.flags & backend_flags::kInUse) != 0 && a.addr == b.addr &&
         a.port == b.port && a.family == b.family && a.service_id == b.service_id;
}

template <class K, class V>
std::vector<std::vector<std::byte>> stale_keys(const std::vector<std::pair<K, V>>& before, const std::vector<std::pair<K, V>>& after) {
  std::set<std::vector<std::byte>> live;
  for (const auto& [k, v] : after) {
    auto b = ebpf::as_bytes_of(k);
    live.emplace(b.begin(), b.end());
  }
  std::vector<std::vector<std::byte>> stale;
  for (const auto& [k, v] : before) {
    auto b = ebpf::as_bytes_of(k);
    std::vector<std::byte> key(b.begin(), b.end());
    if (!live.contains(key)) stale.push_back(std::move(key));
  }
  return stale;
}

ebpf::MapSpec spec_for(const MapDescription& d, const Config& config, std::uint32_t maglev_entries) {
  ebpf::MapSpec spec;
  spec.type = d.type;
  spec.name = std::string(d.name);
  spec.key_size = d.key_size;
  spec.value_size = d.value_size;
  spec.flags = d.flags;
  spec.max_entries = d.max_entries;
  if (d.name == "lb_maglev") spec.max_entries = std::max<std::uint32_t>(maglev_entries, 1);
  if (d.name == "lb_conntrack") spec.max_entries = config.conntrack.max_entries;
  return spec;
}

// Why a pinned map cannot serve as `want`, or empty when it can.
std::string incompatibility(const ebpf::Map& pinned, const ebpf::MapSpec& want) {
  auto differs = [](std::string_view what, std::uint64_t have, std::uint64_t need) {
    return what.data() + std::string(" ") + std::to_string(have) + " != " + std::to_string(need);
  };
  if (pinned.type() != want.type)
    return "type " + std::string(ebpf::name(pinned.type())) + " != " + std::string(ebpf::name(want.type));
  if (pinned.key_size() != want.key_size) return differs("key_size", pinned.key_size(), want.key_size);
  if (pinned.value_size() != want.value_size) return differs("value_size", pinned.value_size(), want.value_size);
  if (pinned.max_entries() != want.max_entries) return differs("max_entries", pinned.max_entries(), want.max_entries);
  if (pinned.flags() != want.flags) return differs("flags", pinned.flags(), want.flags);
  return {};
}

// The pinned map at `path` when it is compatible (and adoption is allowed), else a new pinned map.
ebpf::Result<ebpf::Map> adopt_or_create(const ebpf::MapSpec& spec, const std::string& path, bool adopt,
                                        MapOrigin& origin) {
  auto pinned = ebpf::Map::open_pinned(path);
  if (pinned) {
    origin.reason = adopt ? incompatibility(*pinned, spec) : "adoption disabled";
    if (origin.reason.empty()) {
      origin.adopted = true;
      return std::move(*pinned);
    }
    EBPF_TRY(ebpf::Map::unpin(path));
  } else if (pinned.error().code() != ebpf::Errc::not_found) {
    return std::move(pinned.error().context("map '" + spec.name + "'"));
  }
  auto map = EBPF_TRY(ebpf::Map::create(spec));
  EBPF_TRY(ebpf::pin_object(map.fd(), path, {.create_parents = true, .replace = false}));
  return map;
}

// bpffs is usually mounted at /sys/fs/bpf; mount it there when a pin directory below it needs it.
ebpf::Result<void> prepare_pin_dir(const std::string& dir) {
  const std::string root = ebpf::kDefaultBpffs;
  if (dir.starts_with(root + "/") && !ebpf::is_bpffs(root)) EBPF_TRY(ebpf::ensure_bpffs(root));
  return ebpf::ok();
}

}  // namespace

ebpf::Result<DataPathMaps> DataPathMaps::create(const Config& config, std::uint32_t maglev_entries,
                                                const MapPinning& pinning) {
  DataPathMaps maps;
  maps.pin_dir_ = pinning.dir;
  if (!pinning.dir.empty()) EBPF_TRY(prepare_pin_dir(pinning.dir));
  for (const auto& d : kMaps) {
    const auto spec = spec_for(d, config, maglev_entries);
    MapOrigin origin{spec.name, false, {}};
    auto map = pinning.dir.empty() ? ebpf::Map::create(spec)
                                   : adopt_or_create(spec, maps.pin_path(d.name), pinning.adopt, origin);
    if (!map) return std::move(map.error().context("map '" + spec.name + "'"));
    maps.maps_.emplace(spec.name, std::move(*map));
    maps.origins_.push_back(std::move(origin));
  }
  return maps;
}

bool DataPathMaps::adopted(std::string_view name) const {
  for (const auto& o : origins_)
    if (o.name == name) return o.adopted;
  return false;
}

std::string DataPathMaps::pin_path(std::string_view name) const {
  return pin_dir_.empty() ? std::string() : pin_dir_ + "/" + std::string(name);
}

ebpf::Result<void> DataPathMaps::unpin_all() {
  if (pin_dir_.empty()) return ebpf::ok();
  for (const auto& [name, map] : maps_) {
    auto removed = ebpf::Map::unpin(pin_path(name));
    if (!removed && removed.error().code() != ebpf::Errc::not_found) return removed;
  }
  // Other pins (the data plane's links) may still be there; the directory goes only when empty.
  if (::rmdir(pin_dir_.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY)
    return ebpf::Error::from_errno(errno, "rmdir", "pin directory '" + pin_dir_ + "'");
  return ebpf::ok();
}

namespace {
// Every key of a hash or LPM map (get_next_key walk).
template <class K>
ebpf::Result<std::vector<K>> all_keys(const ebpf::Map& map) {
  std::vector<K> keys;
  K key{}, next{};
  for (bool first = true;; first = false) {
    auto step = map.get_next_key(first ? std::span<const std::byte>() : ebpf::as_bytes_of(key),
                                 std::as_writable_bytes(std::span<K, 1>(&next, 1)));
    if (!step) {
      if (step.error().code() == ebpf::Errc::key_not_found) return keys;
      return step.error();
    }
    keys.push_back(next);
    key = next;
  }
}

// Deletes `keys` from `map`; keys already gone (the data path or the LRU got there first) are fine.
template <class K>
ebpf::Result<std::uint64_t> remove_keys(ebpf::Map& map, const std::vector<K>& keys) {
  std::uint64_t removed = 0;
  for (const auto& key : keys) {
    auto r = map.remove(ebpf::as_bytes_of(key));
    if (r) ++removed;
    else if (r.error().code() != ebpf::Errc::key_not_found) return r.error();
  }
  return removed;
}

template <class K, class V>
ebpf::Result<std::uint64_t> remove_unlisted(ebpf::Map& map, const std::vector<std::pair<K, V>>& wanted) {
  std::set<std::vector<std::byte>> live;
  for (const auto& [k, v] : wanted) {
    auto b = ebpf::as_bytes_of(k);
    live.emplace(b.begin(), b.end());
  }
  std::vector<K> unlisted;
  for (const auto& key : EBPF_TRY(all_keys<K>(map))) {
    auto b = ebpf::as_bytes_of(key);
    if (!live.contains(std::vector<std::byte>(b.begin(), b.end()))) unlisted.push_back(key);
  }
  return remove_keys(map, unlisted);
}
}  // namespace

ebpf::Result<std::uint64_t> DataPathMaps::prune(const CompiledTables& tables) {
  const auto services = EBPF_TRY(remove_unlisted(maps_.at("lb_services"), tables.services));
  const auto routes = EBPF_TRY(remove_unlisted(maps_.at("lb_src_routes"), tables.source_routes));
  // Slots of backends this configuration no longer has: unused, as a reload leaves them.
  std::set<std::uint32_t> configured;
  for (const auto& [id, value] : tables.backends) configured.insert(id);
  auto& backends = maps_.at("lb_backends");
  std::uint64_t slots = 0;
  for (const auto& [id, value] : EBPF_TRY(slots_in_use(backends))) {
    if (configured.contains(id)) continue;
    EBPF_TRY(backends.update(ebpf::as_bytes_of(id), ebpf::as_bytes_of(BackendValue{})));
    ++slots;
  }
  return services + routes + slots;
}

ebpf::Map* DataPathMaps::find(std::string_view name) {
  auto it = maps_.find(name);
  return it == maps_.end() ? nullptr : &it->second;
}

ebpf::Result<void> DataPathMaps::reset_counters_of_new_owners(const CompiledTables& next) {
  auto& svc_stats = maps_.at("lb_svc_stats");
  auto& be_stats = maps_.at("lb_be_stats");
  const std::vector<std::byte> svc_zeros(svc_stats.value_buffer_size());
  const std::vector<std::byte> be_zeros(be_stats.value_buffer_size());
  for (const auto& [key, value] : next.services) {
    const auto live = EBPF_TRY(live_service(maps_.at("lb_services"), key));
    if (live && live->id == value.id) continue;
    EBPF_TRY(svc_stats.update(ebpf::as_bytes_of(value.id), svc_zeros));
  }
  for (const auto& [id, value] : next.backends) {
    BackendValue live;
    EBPF_TRY(maps_.at("lb_backends").lookup(ebpf::as_bytes_of(id), ebpf::as_writable_bytes_of(live)));
    if (same_backend(live, value)) continue;
    EBPF_TRY(be_stats.update(ebpf::as_bytes_of(id), be_zeros));
  }
  return ebpf::ok();
}

ebpf::Result<RecoveredIds> DataPathMaps::recover_ids(const CompiledTables& fresh) const {
  RecoveredIds out;
  std::map<std::uint32_t, std::uint32_t> service_now;  // fresh id -> live id
  for (const auto& [name, id] : fresh.service_ids) {
    for (const auto& [key, value] : fresh.services) {
      if (value.id != id) continue;
      if (const auto live = EBPF_TRY(live_service(maps_.at("lb_services"), key))) {
        out.service_ids[name] = live->id;
        service_now[id] = live->id;
      }
    }
  }
  // A backend keeps the slot that holds its address and port in its service.
  const auto live_slots = EBPF_TRY(slots_in_use(maps_.at("lb_backends")));
  for (const auto& [name, id] : fresh.backend_ids) {
    for (const auto& [fresh_id, value] : fresh.backends) {
      if (fresh_id != id || !service_now.contains(value.service_id)) continue;
      BackendValue wanted = value;
      wanted.service_id = service_now.at(value.service_id);
      for (const auto& [slot, live] : live_slots)
        if (same_backend(live, wanted)) out.backend_ids[name] = slot;
    }
  }
  return out;
}

ebpf::Result<void> DataPathMaps::apply(const CompiledTables& next, const CompiledTables* previous) {
  auto& backends = maps_.at("lb_backends");
  auto& maglev = maps_.at("lb_maglev");
  auto& services = maps_.at("lb_services");
  auto& routes = maps_.at("lb_src_routes");
  EBPF_TRY(reset_counters_of_new_owners(next));
  for (const auto& [id, value] : next.backends) EBPF_TRY(backends.update(ebpf::as_bytes_of(id), ebpf::as_bytes_of(value)));
  for (const auto& table : next.maglev_tables) {
    if (table.slots.empty()) continue;
    if (table.offset + table.slots.size() > maglev.max_entries())
      return ebpf::Error::invalid("lb_maglev", "table of service '" + table.service + "' ends at " +
                                                   std::to_string(table.offset + table.slots.size()) + ", beyond the map's " +
                                                   std::to_string(maglev.max_entries()) + " entries");
    std::vector<std::uint32_t> keys(table.slots.size());
    for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = table.offset + static_cast<std::uint32_t>(i);
    const auto done = EBPF_TRY(maglev.update_batch(std::as_bytes(std::span(keys)), std::as_bytes(std::span(table.slots))));
    if (done != keys.size())
      return ebpf::Error::from_errno(EIO, "BPF_MAP_UPDATE_BATCH", "lb_maglev: " + std::to_string(done) + " of " + std::to_string(keys.size()));
  }
  // The switch: each update replaces one element atomically for the data path.
  for (const auto& [key, value] : next.source_routes) EBPF_TRY(routes.update(ebpf::as_bytes_of(key), ebpf::as_bytes_of(value)));
  for (const auto& [key, value] : next.services) EBPF_TRY(services.update(ebpf::as_bytes_of(key), ebpf::as_bytes_of(value)));
  auto& config = maps_.at("lb_config");
  const std::uint32_t zero = 0;
  EBPF_TRY(config.update(ebpf::as_bytes_of(zero), ebpf::as_bytes_of(next.datapath)));
  if (previous == nullptr) return ebpf::ok();
  for (const auto& key : stale_keys(previous->services, next.services)) {
    auto removed = services.remove(key);
    if (!removed && removed.error().code() != ebpf::Errc::key_not_found) return removed;
  }
  for (const auto& key : stale_keys(previous->source_routes, next.source_routes)) {
    auto removed = routes.remove(key);
    if (!removed && removed.error().code() != ebpf::Errc::key_not_found) return removed;
  }
  // Backends that are gone: mark the slot unused (arrays cannot delete) so their counters stop mattering.
  std::set<std::uint32_t> live;
  for (const auto& [id, v] : next.backends) live.insert(id);
  for (const auto& [id, v] : previous->backends)
    if (!live.contains(id)) EBPF_TRY(backends.update(ebpf::as_bytes_of(id), ebpf::as_bytes_of(BackendValue{})));
  return ebpf::ok();
}

ebpf::Result<ServiceCounters> DataPathMaps::service_counters(std::uint32_t service_id) const {
  return sum_lookup<ServiceCounters>(maps_.at("lb_svc_stats"), service_id);
}
ebpf::Result<BackendCounters> DataPathMaps::backend_counters(std::uint32_t backend_id) const {
  return sum_lookup<BackendCounters>(maps_.at("lb_be_stats"), backend_id);
}
ebpf::Result<GlobalCounters> DataPathMaps::global_counters() const {
  return sum_lookup<GlobalCounters>(maps_.at("lb_global_stats"), 0);
}

ebpf::Result<void> DataPathMaps::for_each_conntrack(
    const std::function<void(const ConntrackKey&, const ConntrackValue&)>& visit) const {
  const auto& ct = maps_.at("lb_conntrack");
  ConntrackKey key, next;
  ConntrackValue value;
  bool first = true;
  while (true) {
    auto step = ct.get_next_key(first ? std::span<const std::byte>() : ebpf::as_bytes_of(key),
                                std::as_writable_bytes(std::span<ConntrackKey, 1>(&next, 1)));
    if (!step) {
      if (step.error().code() == ebpf::Errc::key_not_found) return ebpf::ok();
      return step;
    }
    first = false;
    key = next;
    auto found = ct.lookup(ebpf::as_bytes_of(key), std::as_writable_bytes(std::span<ConntrackValue, 1>(&value, 1)));
    if (!found) {
      if (found.error().code() == ebpf::Errc::key_not_found) continue;
      return found;
    }
    visit(key, value);
  }
}

ebpf::Result<ConntrackSweep> DataPathMaps::sweep_conntrack(std::uint64_t now_ns, const std::set<std::uint32_t>& cut_backends) {
  DataPathConfig config;
  const std::uint32_t zero = 0;
  EBPF_TRY(maps_.at("lb_config").lookup(ebpf::as_bytes_of(zero), std::as_writable_bytes(std::span<DataPathConfig, 1>(&config, 1))));
  // Collect first, delete after: deleting while walking with get_next_key restarts the walk.
  ConntrackSweep sweep;
  std::vector<ConntrackKey> expired, cut;
  EBPF_TRY(for_each_conntrack([&](const ConntrackKey& k, const ConntrackValue& v) {
    const bool client_side = (v.flags & ct_flags::kReverse) == 0;
    if (cut_backends.contains(v.backend_id)) {
      cut.push_back(k);
      if (client_side) ++sweep.cut_by_backend[v.backend_id];
    } else if (conntrack_expired(k, v, config, now_ns)) {
      expired.push_back(k);
    } else if (client_side) {
      ++sweep.flows_by_backend[v.backend_id];
    }
  }));
  sweep.expired = EBPF_TRY(remove_keys(maps_.at("lb_conntrack"), expired));
  EBPF_TRY(remove_keys(maps_.at("lb_conntrack"), cut));
  return sweep;
}

}  // namespace lb
