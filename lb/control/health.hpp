// lb/control/health.hpp — active health checks of backends: TCP connect or HTTP GET with expected status.
//
// One thread drives every probe with non-blocking sockets and epoll, so thousands of backends cost one
// thread. Each target is probed every `interval`; a probe fails on connect error, on `timeout`, or (HTTP)
// on a status line other than `expected_status`. `rise` consecutive successes make a target healthy,
// `fall` consecutive failures unhealthy; only these transitions are reported, through the callback (called
// on the checker thread — keep it short, e.g. update a map entry and log).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/control/address.hpp"
#include "lb/control/config.hpp"

namespace lb {

struct HealthTarget {
  std::uint32_t id = 0;      // backend id, echoed in events
  Endpoint endpoint;
  HealthCheckConfig check;   // type none = never probed, always healthy
};

struct HealthEvent {
  std::uint32_t id = 0;
  bool healthy = false;
  std::uint32_t consecutive = 0;  // successes (healthy) or failures (unhealthy) that caused the change
  std::uint64_t checks = 0;       // probes completed for this target so far
  std::string reason;             // last probe's outcome: "ok", "timeout", "connect: ECONNREFUSED", ...
};

struct HealthStatus {
  bool healthy = false;
  std::uint32_t successes = 0;  // current run of consecutive successes
  std::uint32_t failures = 0;   // current run of consecutive failures
  std::uint64_t checks = 0;
  std::string last_reason;
};

struct HealthCheckerOptions {
  // State of a target before its first transition. true avoids dropping traffic at start-up; false makes
  // a new backend prove itself (`rise` successes) before it gets flows.
  bool start_healthy = true;
  std::function<void(const HealthEvent&)> on_change{};
};

class HealthChecker {
 public:
  // Creates the epoll/eventfd pair and starts the thread.
  static ebpf::Result<std::unique_ptr<HealthChecker>> start(HealthCheckerOptions options = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the target set. A target whose id, endpoint and check are unchanged keeps its state and
  // schedule; others start fresh and are probed at once. Invalid targets (unset address, port 0,
  // rise/fall 0, zero interval or timeout) are refused as a whole.
  ebpf::Result<void> set_targets(std::vector<HealthTarget> targets);
  std::optional<HealthStatus> status(std::uint32_t id) const;
  // Stops the thread and closes every socket; idempotent.
  void stop();

  struct Impl;

 private:
  explicit HealthChecker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses the status code from the start of an HTTP response ("HTTP/1.1 200 OK\r\n..."); nullopt when
// `head` is not (yet) a complete status line.
std::optional<int> parse_http_status(std::string_view head);

}  // namespace lb
