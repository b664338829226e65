// lb/tests/udp_sockets.hpp — plain IPv4 UDP sockets for the data-path kernel tests (dataplane_*), which send
// real datagrams through the programs from inside their test namespaces.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

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

}  // namespace lb::test
