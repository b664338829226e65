// Minimal TCP/UDP/HTTP clients for the demo, the end-to-end tests and the benchmark, with sockets created
// inside a chosen network namespace (the calling thread enters it only while the socket is made; the
// socket stays in that namespace afterwards). Every call is bounded by a timeout. Addresses are IPv4
// ("10.77.0.2") or IPv6 ("fd77::2"; no brackets), told apart by the ':'.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace lb::demo {

using Millis = std::chrono::milliseconds;

// socket(family, type | SOCK_CLOEXEC) inside the namespace at `netns_path` (empty: the caller's).
ebpf::Result<ebpf::Fd> socket_in(const std::string& netns_path, int type, int family = AF_INET);

// A connected TCP socket (SO_RCVTIMEO/SO_SNDTIMEO set to `timeout` for later calls).
ebpf::Result<ebpf::Fd> tcp_connect(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                   Millis timeout = Millis(2000));

struct HttpResponse {
  int status = 0;
  std::string body;
  bool keep_alive = true;  // false when the server said "Connection: close"
};

// One HTTP/1.1 request on an open connection; reads the full response (Content-Length bodies).
ebpf::Result<HttpResponse> http_request(int fd, const std::string& method, const std::string& path,
                                        const std::string& extra_headers = {}, bool close = false);

// Connects, sends one request with "Connection: close", returns the response.
ebpf::Result<HttpResponse> http_fetch(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                      const std::string& method, const std::string& path,
                                      const std::string& extra_headers = {}, Millis timeout = Millis(2000));

// Sends `payload` by UDP and returns the first reply (Errc::timeout when none arrives in time).
ebpf::Result<std::string> udp_request(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                      const std::string& payload, Millis timeout = Millis(1000));

// True when a TCP connect to address:port from the namespace succeeds within `timeout`.
bool tcp_reachable(const std::string& netns_path, const std::string& address, std::uint16_t port,
                   Millis timeout = Millis(300));

}  // namespace lb::demo
