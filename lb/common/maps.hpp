// lb/common/maps.hpp — the catalogue of ebpf-lb's BPF maps: name, type, key, value, size, and why.
//
// The BPF builder creates maps from this table and the control plane opens them (or their pins under the
// configured pin directory) by the same names, so the table is the one place a map is described.
// max_entries of 0 means "sized at start-up from the configuration" (see the note on each map).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ebpf/types.hpp"
#include "lb/common/abi.hpp"

namespace lb {

struct MapDescription {
  std::string_view name;     // also the pin file name
  ebpf::MapType type;
  std::uint32_t key_size;
  std::uint32_t value_size;  // per CPU for per-CPU maps
  std::uint32_t max_entries; // 0 = from configuration
  std::uint32_t flags;
  std::string_view key;      // what the key is
  std::string_view value;    // what the value is
  std::string_view purpose;
};

inline constexpr std::uint32_t kMaxServices = 1024;
inline constexpr std::uint32_t kMaxBackends = 8192;
inline constexpr std::uint32_t kMaxSourceRoutes = 4096;
inline constexpr std::uint32_t kMaxPersistEntries = 262144;
inline constexpr std::uint32_t kMaxSourceRateEntries = 262144;
inline constexpr std::uint32_t kEventRingBytes = 1U << 22;  // 4 MiB, a power-of-two multiple of the page

inline constexpr std::array kMaps{
    MapDescription{"lb_services", ebpf::MapType::hash, sizeof(ServiceKey), sizeof(ServiceValue),
                   kMaxServices, 0, "ServiceKey {vip, port, proto, family}", "ServiceValue",
                   "VIP:port/proto -> service id, scheduler flags, active Maglev table, rate limits"},
    MapDescription{"lb_backends", ebpf::MapType::array, sizeof(std::uint32_t), sizeof(BackendValue),
                   kMaxBackends, 0, "u32 backend id", "BackendValue",
                   "backend address/port, weight, draining/unhealthy flags, redirect target"},
    MapDescription{"lb_maglev", ebpf::MapType::array, sizeof(std::uint32_t), sizeof(MaglevSlot), 0, 0,
                   "u32 slot (table offset + hash % size)", "u32 backend id",
                   "all lookup tables back to back; 2 regions per service and group (double buffer); "
                   "max_entries = 2 * table_size * (services + groups)"},
    MapDescription{"lb_src_routes", ebpf::MapType::lpm_trie, sizeof(SourceRouteKey), sizeof(SourceRouteValue),
                   kMaxSourceRoutes, ebpf::map_flags::no_prealloc, "SourceRouteKey {prefixlen, service, addr}",
                   "SourceRouteValue", "source CIDR -> backend group and its Maglev table"},
    MapDescription{"lb_conntrack", ebpf::MapType::lru_hash, sizeof(ConntrackKey), sizeof(ConntrackValue), 0,
                   0, "ConntrackKey 5-tuple at the hook", "ConntrackValue",
                   "flow -> backend (forward) and flow -> VIP (reverse); max_entries = conntrack.max_entries"},
    MapDescription{"lb_persist", ebpf::MapType::lru_hash, sizeof(PersistKey), sizeof(PersistValue),
                   kMaxPersistEntries, 0, "PersistKey {src, service}", "PersistValue",
                   "source-IP affinity for the random scheduler"},
    MapDescription{"lb_svc_rate", ebpf::MapType::array, sizeof(std::uint32_t), sizeof(TokenBucket),
                   kMaxServices, 0, "u32 service id", "TokenBucket", "per-service new-connection bucket"},
    MapDescription{"lb_src_rate", ebpf::MapType::lru_hash, sizeof(SourceRateKey), sizeof(TokenBucket),
                   kMaxSourceRateEntries, 0, "SourceRateKey {src, service}", "TokenBucket",
                   "per-source new-connection bucket; LRU so a flood of sources cannot exhaust it"},
    MapDescription{"lb_svc_stats", ebpf::MapType::percpu_array, sizeof(std::uint32_t), sizeof(ServiceCounters),
                   kMaxServices, 0, "u32 service id", "ServiceCounters per CPU",
                   "packets, bytes, new flows, drops by reason"},
    MapDescription{"lb_be_stats", ebpf::MapType::percpu_array, sizeof(std::uint32_t),
                   sizeof(BackendCounters), kMaxBackends, 0, "u32 backend id", "BackendCounters per CPU",
                   "packets and bytes both directions, new flows"},
    MapDescription{"lb_global_stats", ebpf::MapType::percpu_array, sizeof(std::uint32_t),
                   sizeof(GlobalCounters), 1, 0, "u32 0", "GlobalCounters per CPU",
                   "conntrack churn (eviction estimate), lost events, non-service packets"},
    MapDescription{"lb_config", ebpf::MapType::array, sizeof(std::uint32_t), sizeof(DataPathConfig), 1, 0,
                   "u32 0", "DataPathConfig", "timeouts, forwarding mode, event switch"},
    MapDescription{"lb_events", ebpf::MapType::ringbuf, 0, 0, kEventRingBytes, 0, "-", "FlowEvent records",
                   "flow open/close events for the control plane"},
};

// The description of a map by name, or nullopt.
constexpr std::optional<MapDescription> find_map(std::string_view name) {
  for (const auto& map : kMaps)
    if (map.name == name) return map;
  return std::nullopt;
}

}  // namespace lb
