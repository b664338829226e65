// Data-path maps (see datapath_maps.hpp).
#include "lb/control/datapath_maps.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
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

// Zeroes the per-CPU counters of every id in `next` that named something else (or nothing) in `previous`:
// ids are reused lowest-free-first, and a new service or backend must not inherit a removed one's counts.
ebpf::Result<void> reset_reassigned_counters(ebpf::Map& counters, const std::map<std::string, std::uint32_t>& next,
                                             const std::map<std::string, std::uint32_t>& previous) {
  const std::vector<std::byte> zeros(counters.value_buffer_size());
  for (const auto& [name, id] : next) {
    const auto before = previous.find(name);
    if (before != previous.end() && before->second == id) continue;
    EBPF_TRY(counters.update(ebpf::as_bytes_of(id), zeros));
  }
  return ebpf::ok();
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

template <class K, class V>
ebpf::Result<std::uint64_t> remove_unlisted(ebpf::Map& map, const std::vector<std::pair<K, V>>& wanted) {
  std::set<std::vector<std::byte>> live;
  for (const auto& [k, v] : wanted) {
    auto b = ebpf::as_bytes_of(k);
    live.emplace(b.begin(), b.end());
  }
  std::uint64_t removed = 0;
  for (const auto& key : EBPF_TRY(all_keys<K>(map))) {
    auto b = ebpf::as_bytes_of(key);
    if (live.contains(std::vector<std::byte>(b.begin(), b.end()))) continue;
    auto r = map.remove(b);
    if (r) ++removed;
    else if (r.error().code() != ebpf::Errc::key_not_found) return r.error();
  }
  return removed;
}
}  // namespace

ebpf::Result<std::uint64_t> DataPathMaps::prune(const CompiledTables& tables) {
  const auto services = EBPF_TRY(remove_unlisted(maps_.at("lb_services"), tables.services));
  const auto routes = EBPF_TRY(remove_unlisted(maps_.at("lb_src_routes"), tables.source_routes));
  return services + routes;
}

ebpf::Map* DataPathMaps::find(std::string_view name) {
  auto it = maps_.find(name);
  return it == maps_.end() ? nullptr : &it->second;
}

ebpf::Result<void> DataPathMaps::apply(const CompiledTables& next, const CompiledTables* previous) {
  auto& backends = maps_.at("lb_backends");
  auto& maglev = maps_.at("lb_maglev");
  auto& services = maps_.at("lb_services");
  auto& routes = maps_.at("lb_src_routes");
  // Before the new tables go live, so the new owner's first packets are counted. (Flows of a removed
  // backend that are still open count into its old id until they end, whoever holds it now.)
  if (previous != nullptr) {
    EBPF_TRY(reset_reassigned_counters(maps_.at("lb_svc_stats"), next.service_ids, previous->service_ids));
    EBPF_TRY(reset_reassigned_counters(maps_.at("lb_be_stats"), next.backend_ids, previous->backend_ids));
  }
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

ebpf::Result<std::uint64_t> DataPathMaps::sweep_conntrack(std::uint64_t now_ns) {
  DataPathConfig config;
  const std::uint32_t zero = 0;
  EBPF_TRY(maps_.at("lb_config").lookup(ebpf::as_bytes_of(zero), std::as_writable_bytes(std::span<DataPathConfig, 1>(&config, 1))));
  // Collect first, delete after: deleting while walking with get_next_key restarts the walk.
  std::vector<ConntrackKey> expired;
  EBPF_TRY(for_each_conntrack([&](const ConntrackKey& k, const ConntrackValue& v) {
    if (conntrack_expired(k, v, config, now_ns)) expired.push_back(k);
  }));
  std::uint64_t deleted = 0;
  auto& ct = maps_.at("lb_conntrack");
  for (const auto& k : expired) {
    auto removed = ct.remove(ebpf::as_bytes_of(k));
    if (removed) ++deleted;
    else if (removed.error().code() != ebpf::Errc::key_not_found) return removed.error();
  }
  return deleted;
}

}  // namespace lb
