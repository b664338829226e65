// lb/control/datapath_maps.hpp — the data path's maps as kernel objects, and loading compiled tables into them.
//
// Creates every map of the catalogue (lb/common/maps.hpp) with the configuration's sizes, and applies a
// CompiledTables in the order that keeps the running data path consistent: backends and the inactive
// Maglev regions first, then source routes and services (each update switches that service atomically to
// its new table), then removal of services and routes that are gone. Counters are read back summed over CPUs.
//
// Pinning (restarts): with MapPinning::dir set, every map lives at <dir>/<catalogue name> on bpffs. A new
// process adopts a pinned map when its type, key/value sizes, max_entries and flags equal what this
// configuration asks for — conntrack, counters and tables then carry over — and replaces it otherwise
// (origins() says which and why). unpin_all() removes the pins and the directory when nothing else is left.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/map.hpp"
#include "lb/control/metrics.hpp"
#include "lb/control/tables.hpp"

namespace lb {

struct MapPinning {
  std::string dir{};   // bpffs directory for the pins; empty: maps are not pinned
  bool adopt = true;   // reuse compatible pinned maps; false: replace whatever is pinned there
};

// What one conntrack sweep did and found.
struct ConntrackSweep {
  std::uint64_t expired = 0;  // idle entries deleted
  // By backend id: flows left, and flows of a cut backend deleted (client-side entries; their reverse
  // entries go too).
  std::map<std::uint32_t, std::uint64_t> flows_by_backend{};
  std::map<std::uint32_t, std::uint64_t> cut_by_backend{};
};

// How one map came to be: adopted from its pin, or created (with the reason an existing pin was not used).
struct MapOrigin {
  std::string name{};
  bool adopted = false;
  std::string reason{};  // empty when adopted or when there was no pin
};

// The ids a previous run gave the services and backends of a configuration, read back from adopted maps
// (CompileOptions' previous_*_ids keys: "service" and "service/backend").
struct RecoveredIds {
  std::map<std::string, std::uint32_t> service_ids{};
  std::map<std::string, std::uint32_t> backend_ids{};
};

class DataPathMaps {
 public:
  // maglev_entries: lb_maglev size (CompiledTables::maglev_entries, or more to leave room for growth).
  static ebpf::Result<DataPathMaps> create(const Config& config, std::uint32_t maglev_entries,
                                           const MapPinning& pinning = {});

  const std::vector<MapOrigin>& origins() const { return origins_; }
  // True when at least one map (conntrack in particular) came from a previous run.
  bool adopted(std::string_view name) const;
  const std::string& pin_dir() const { return pin_dir_; }
  // "<pin dir>/<name>", or empty when maps are not pinned.
  std::string pin_path(std::string_view name) const;
  // Removes this set's pins, then the pin directory if it is empty. Missing pins are fine.
  ebpf::Result<void> unpin_all();
  // Deletes services and source routes that `tables` does not contain (left by a previous run's config) and
  // marks the backend slots it does not use unused; returns how many entries changed.
  ebpf::Result<std::uint64_t> prune(const CompiledTables& tables);

  // The map with a catalogue name ("lb_services", ...); nullptr if unknown.
  ebpf::Map* find(std::string_view name);

  // Writes `next`; `previous` (the tables currently live, if any) says which keys to delete afterwards.
  // Counters belong to what an id names: a service id whose key (VIP, port, protocol) or a backend id whose
  // address, port or service differs from what the maps hold (an id reused after a removal, or left by a
  // previous run with another configuration) has its counters zeroed before the new tables go live.
  ebpf::Result<void> apply(const CompiledTables& next, const CompiledTables* previous = nullptr);

  // For a start on adopted maps: the ids the running maps give the services and backends of `fresh` (tables
  // compiled from the new configuration without previous ids), matched by service key and by backend address,
  // port and service. Compiling again with these keeps every surviving id, so conntrack entries, drains and
  // counters of live flows keep naming the right backend.
  ebpf::Result<RecoveredIds> recover_ids(const CompiledTables& fresh) const;

  // Per-CPU counters summed: one service's, one backend's, and the global ones.
  ebpf::Result<ServiceCounters> service_counters(std::uint32_t service_id) const;
  ebpf::Result<BackendCounters> backend_counters(std::uint32_t backend_id) const;
  ebpf::Result<GlobalCounters> global_counters() const;

  // One walk over the conntrack map: deletes entries idle past their timeout (conntrack_expired with the
  // config in lb_config) and every entry of a flow to one of `cut_backends`, and counts the flows left per
  // backend.
  ebpf::Result<ConntrackSweep> sweep_conntrack(std::uint64_t now_ns, const std::set<std::uint32_t>& cut_backends = {});

  // Visits every conntrack entry (both directions). Entries may come and go while walking (LRU); a key
  // deleted between get_next_key and lookup is skipped.
  ebpf::Result<void> for_each_conntrack(const std::function<void(const ConntrackKey&, const ConntrackValue&)>& visit) const;

 private:
  ebpf::Result<void> reset_counters_of_new_owners(const CompiledTables& next);

  std::map<std::string, ebpf::Map, std::less<>> maps_;
  std::vector<MapOrigin> origins_;
  std::string pin_dir_;
};

}  // namespace lb
