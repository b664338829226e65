// Backend servers for the demo topology: nginx-light (Debian) with a generated configuration whose every
// response body is the backend's own name (listening on IPv4 and IPv6), and an in-process UDP echo server
// that prefixes replies with the name (and, on request, the TTL / hop limit the datagram arrived with).
// Both run inside a backend's network namespace and stop on destruction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "lb/demo/process.hpp"

namespace lb::demo {

struct NginxOptions {
  std::string netns;               // namespace name (under /var/run/netns)
  std::string name;                // answered as the body of every request: "<name>\n"
  std::string address;             // the address to wait for (the backend's own)
  std::uint16_t port = 80;
  std::string work_dir;            // private directory for the config, pid, logs and temp files
  int workers = 1;                 // 1: a single process (master_process off), nothing can be orphaned
};

class Nginx {
 public:
  // Starts nginx and waits (bounded) until it accepts connections.
  static ebpf::Result<std::unique_ptr<Nginx>> start(const NginxOptions& options);
  ~Nginx() { stop(); }
  void stop() { child_.stop(); }  // SIGTERM: fast shutdown
  void kill_hard() { child_.stop(9, Millis(0)); }
  bool running() { return child_.running(); }
  const NginxOptions& options() const { return options_; }

 private:
  using Millis = std::chrono::milliseconds;
  explicit Nginx(NginxOptions options) : options_(std::move(options)) {}
  NginxOptions options_;
  Child child_;
};

// Writes the nginx configuration for `options` and returns its path.
ebpf::Result<std::string> write_nginx_config(const NginxOptions& options);

struct UdpEchoOptions {
  bool ipv6 = false;        // bind [::]:port (IPv6 only) instead of 0.0.0.0:port
  bool report_ttl = false;  // answer "<name>:ttl=<N>:<payload>", N the received IPv4 TTL / IPv6 hop limit
};

class UdpEcho {
 public:
  // Binds 0.0.0.0:port (or [::]:port) inside the namespace and answers every datagram with
  // "<name>:<payload>" (or "<name>:ttl=<N>:<payload>").
  static ebpf::Result<std::unique_ptr<UdpEcho>> start(const std::string& netns, const std::string& name,
                                                      std::uint16_t port, UdpEchoOptions options = {});
  ~UdpEcho() { stop(); }
  void stop();
  std::uint64_t answered() const { return answered_.load(); }

 private:
  UdpEcho(ebpf::Fd fd, std::string name, UdpEchoOptions options)
      : fd_(std::move(fd)), name_(std::move(name)), options_(options) {}
  void serve();
  ebpf::Fd fd_;
  std::string name_;
  UdpEchoOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> answered_{0};
  std::thread thread_;
};

}  // namespace lb::demo
