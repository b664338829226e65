// lb/tests/udp_sockets.hpp — plain IPv4 UDP sockets for the data-path kernel tests (dataplane_*), which send
// real datagrams through the programs from inside their test namespaces.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lb::test {

struct Socket {
  int fd = -1;
  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

inline sockaddr_in ipv4(const char* address, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &sa.sin_addr);
  return sa;
}

// A UDP socket bound to address:port in the calling thread's namespace, with a 2 s receive timeout.
inline bool bind_udp(Socket& s, const char* address, std::uint16_t port) {
  s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto sa = ipv4(address, port);
  return s.fd >= 0 && ::bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

inline std::string address_of(const sockaddr_in& sa) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
  return text;
}

// What a request/reply round trip delivered. The test asserts on it, so the helper judges nothing beyond
// whether each datagram arrived at all.
struct Exchange {
  std::string request;      // as the backend received it
  sockaddr_in request_from{};
  std::string reply;        // as the client received it
  sockaddr_in reply_from{};
  std::string error;        // the step that failed, with errno; empty when both datagrams arrived
};

// client sends request to `to`; the backend answers with reply to wherever the request appeared to come
// from, so a DNAT on the way in is only seen through a matching SNAT on the way back. Stops at the first
// step that fails (receives wait for the sockets' timeout, 2 s with bind_udp).
inline Exchange exchange(const Socket& client, const Socket& backend, const sockaddr_in& to, std::string_view request,
                         std::string_view reply) {
  Exchange seen;
  auto failed = [&](const char* step) {
    seen.error = std::string(step) + ": " + std::strerror(errno);
    return seen;
  };
  char buffer[2048];
  if (::sendto(client.fd, request.data(), request.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) !=
      static_cast<ssize_t>(request.size()))
    return failed("sendto from the client");
  socklen_t len = sizeof seen.request_from;
  ssize_t n = ::recvfrom(backend.fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&seen.request_from), &len);
  if (n < 0) return failed("recvfrom on the backend");
  seen.request.assign(buffer, static_cast<std::size_t>(n));
  if (::sendto(backend.fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&seen.request_from), len) !=
      static_cast<ssize_t>(reply.size()))
    return failed("sendto from the backend");
  len = sizeof seen.reply_from;
  n = ::recvfrom(client.fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&seen.reply_from), &len);
  if (n < 0) return failed("recvfrom on the client");
  seen.reply.assign(buffer, static_cast<std::size_t>(n));
  return seen;
}

}  // namespace lb::test
