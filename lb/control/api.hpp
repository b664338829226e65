// lb/control/api.hpp — the admin HTTP API (cpp-httplib), built against an abstract ControlPlane.
//
//   GET  /status /services /backends /connections?limit=N /metrics (Prometheus text)
//   POST /backends/{id}/drain /backends/{id}/undrain /reload   — need "Authorization: Bearer TOKEN"
// Reads are open (the server binds to loopback by default); changes without a configured token are
// refused (403), a missing or wrong token is 401. Control-plane errors map to HTTP statuses by Errc:
// invalid_argument 400, not_found/key_not_found 404, busy 409, others 500; bodies are JSON {"error": ...}.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/control/address.hpp"
#include "lb/control/log.hpp"
#include "lb/control/metrics.hpp"

namespace lb {

struct StatusInfo {
  std::string version;
  std::uint64_t uptime_seconds = 0;
  std::string config_source;
  std::string ingress_interface;
  bool data_path_attached = false;
  std::uint64_t services = 0;
  std::uint64_t backends = 0;
  std::uint64_t healthy_backends = 0;
};

struct ServiceInfo {
  std::uint32_t id = 0;
  std::string name;
  std::string vip;       // "10.0.0.1:80"
  std::string protocol;
  std::string scheduler;
  std::uint64_t backends = 0;
  std::uint64_t healthy_backends = 0;
};

struct BackendInfo {
  std::uint32_t id = 0;
  std::string service;
  std::string name;
  std::string address;
  std::uint32_t weight = 0;
  std::string group;
  bool healthy = true;
  bool draining = false;
  bool drain_finished = false;  // draining, and no flow left (they ended, or drain_timeout cut them)
};

struct ConnectionInfo {
  std::string client;   // "192.0.2.1:40000"
  std::string vip;
  std::string backend;
  std::string protocol;
  std::string state;    // "established", ...
  std::uint64_t age_ms = 0;
  std::uint64_t idle_ms = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

struct ConnectionList {
  std::vector<ConnectionInfo> items;  // at most the requested limit
  std::uint64_t total = 0;            // all flows, not just the listed ones
  std::map<std::string, std::uint64_t> by_state;
  std::map<std::string, std::uint64_t> by_backend;
};

// What the API needs from the running load balancer. Calls may come from several HTTP threads at once.
class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  virtual StatusInfo status() = 0;
  virtual std::vector<ServiceInfo> services() = 0;
  virtual std::vector<BackendInfo> backends() = 0;
  virtual ebpf::Result<ConnectionList> connections(std::size_t limit) = 0;
  virtual ebpf::Result<MetricsSnapshot> metrics() = 0;
  virtual ebpf::Result<void> set_draining(std::uint32_t backend_id, bool draining) = 0;
  virtual ebpf::Result<void> reload() = 0;
};

struct AdminServerOptions {
  Endpoint listen = Endpoint::loopback(0);  // port 0 = ephemeral (see AdminServer::port())
  std::string token;                                  // empty = changes refused
  Logger* log = nullptr;                              // request log, optional
  std::size_t max_connections_listed = 10000;
};

inline constexpr std::size_t kDefaultConnectionsListed = 100;

class AdminServer {
 public:
  // Binds and starts serving on a background thread. Errors: the bind failure (Errc::io or busy).
  static ebpf::Result<std::unique_ptr<AdminServer>> start(ControlPlane& plane, const AdminServerOptions& options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  std::uint16_t port() const;
  // Stops accepting, finishes in-flight requests and joins the thread; idempotent.
  void stop();

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Exposed for tests: constant-time check of an Authorization header against the token.
bool bearer_token_matches(std::string_view header, std::string_view token);

}  // namespace lb
