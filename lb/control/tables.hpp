// lb/control/tables.hpp — compiles a Config into the exact contents of the data path's maps.
//
// Pure user-space translation (no syscalls), so what the BPF programs will see is testable byte for byte:
// lb_services entries, lb_backends slots, the Maglev tables and where each lives in lb_maglev, lb_src_routes
// entries and the lb_config value. Loading these into maps is then a loop of updates.
//
// Groups: a service's main table holds its backends of group "default" (or all of them when none is in
// "default"); every group named by a source route gets its own table, used for clients in that CIDR.
// Double buffering: each table owns two regions of lb_maglev; `generation` picks the half, so the tables
// of a reload never overwrite the ones the data path is reading, and the switch is the service/route update.
// Ids are stable across reloads when the previous assignment is passed back in (conntrack entries and
// per-CPU counters are indexed by them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/common/abi.hpp"
#include "lb/control/config.hpp"
#include "lb/control/maglev.hpp"

namespace lb {

struct BackendRuntimeState {
  bool healthy = true;
  bool draining = false;
};

struct CompileOptions {
  std::uint32_t generation = 0;  // even/odd picks the lb_maglev half
  // Previous id assignments ("service" and "service/backend" keys); kept when the name still exists.
  std::map<std::string, std::uint32_t> previous_service_ids{};
  std::map<std::string, std::uint32_t> previous_backend_ids{};
  // Health and drain state by "service/backend" key; missing = healthy, not draining.
  std::map<std::string, BackendRuntimeState> backend_state{};
};

struct CompiledMaglevTable {
  std::string service;
  std::string group;               // "default" for the main table
  std::uint32_t service_id = 0;
  std::uint32_t offset = 0;        // first lb_maglev index of the active region
  std::vector<MaglevSlot> slots;   // empty when no backend is usable (maglev_size 0: drop, no_backend)
  std::vector<std::uint32_t> backends;  // ids in the table
  std::vector<MaglevShare> shares;
};

struct CompiledTables {
  std::vector<std::pair<ServiceKey, ServiceValue>> services;
  std::vector<std::pair<std::uint32_t, BackendValue>> backends;
  std::vector<CompiledMaglevTable> maglev_tables;
  std::vector<std::pair<SourceRouteKey, SourceRouteValue>> source_routes;
  DataPathConfig datapath;
  std::uint32_t maglev_entries = 0;  // lb_maglev max_entries this configuration needs
  std::map<std::string, std::uint32_t> service_ids;   // name -> id
  std::map<std::string, std::uint32_t> backend_ids;   // "service/backend" -> id
  std::map<std::uint32_t, std::string> backend_names; // id -> "service/backend"
};

ebpf::Result<CompiledTables> compile_tables(const Config& config, const CompileOptions& options = {});

// Key helpers shared with the data-path tests.
ServiceKey make_service_key(const Endpoint& vip, Protocol protocol);
SourceRouteKey make_source_route_key(std::uint32_t service_id, const Cidr& cidr);
// The key the data path builds for a lookup of one client address (full-length prefix).
SourceRouteKey make_source_lookup_key(std::uint32_t service_id, const IpAddress& client);

}  // namespace lb
