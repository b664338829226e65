// Traffic through the VIP for the demo and the end-to-end tests: counts of which backend answered new
// HTTP connections and UDP requests (the backends answer with their own names), and a pool of long-lived
// keep-alive connections that must keep working, each with the same backend, across reloads, drains and
// balancer restarts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "lb/demo/client.hpp"

namespace lb::demo {

struct SpreadResult {
  std::map<std::string, int> by_backend;  // backend name -> answered requests
  int failed = 0;
  std::string first_error;
};

// `count` HTTP GETs, each on a new TCP connection (new flow), from the namespace to address:port.
SpreadResult http_spread(const std::string& netns_path, const std::string& address, std::uint16_t port, int count,
                         Millis timeout = Millis(2000));
// `count` UDP requests, each from a new socket (new source port, new flow).
SpreadResult udp_spread(const std::string& netns_path, const std::string& address, std::uint16_t port, int count,
                        Millis timeout = Millis(1000));

// Long-lived HTTP keep-alive connections through the VIP.
class KeepAlivePool {
 public:
  // Opens `count` connections and records which backend answered each one's first request.
  static ebpf::Result<KeepAlivePool> open(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                          int count);
  // One request on every connection. A connection is broken when the request fails or another backend
  // answers; broken ones are reported (and counted) once and not used again.
  struct Round {
    int ok = 0;
    int broken = 0;
    std::vector<std::string> errors;
  };
  Round exchange();
  std::size_t size() const { return connections_.size(); }
  int broken_total() const { return broken_total_; }
  std::map<std::string, int> by_backend() const;
  const std::string& backend_of(std::size_t i) const { return connections_.at(i).backend; }

 private:
  struct Connection {
    ebpf::Fd fd;
    std::string backend;
    bool broken = false;
  };
  std::vector<Connection> connections_;
  int broken_total_ = 0;
};

// The backend name in a response body ("backend-2\n" -> "backend-2", "backend-2:ping" -> "backend-2").
std::string backend_from_body(const std::string& body);

}  // namespace lb::demo
