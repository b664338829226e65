// TCP/UDP/HTTP clients in network namespaces; see client.hpp.
#include "lb/demo/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "ebpf/netlink.hpp"

namespace lb::demo {
namespace {

using ebpf::Error;

// address:port as a socket address: IPv6 when `address` has a ':', else IPv4.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

ebpf::Result<SocketAddress> socket_address(const std::string& address, std::uint16_t port) {
  SocketAddress out;
  if (address.find(':') != std::string::npos) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    if (inet_pton(AF_INET6, address.c_str(), &sa->sin6_addr) != 1)
      return Error::invalid("connect", "not an IPv6 address: '" + address + "'");
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  auto* sa = reinterpret_cast<sockaddr_in*>(&out.storage);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &sa->sin_addr) != 1)
    return Error::invalid("connect", "not an IPv4 address: '" + address + "'");
  out.length = sizeof(sockaddr_in);
  return out;
}

void set_timeouts(int fd, Millis timeout) {
  timeval tv{.tv_sec = timeout.count() / 1000, .tv_usec = (timeout.count() % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

ebpf::Result<void> send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno(errno ? errno : EPIPE, "send", "HTTP request");
    sent += static_cast<std::size_t>(n);
  }
  return ebpf::ok();
}

// The value of header `name` (lower-case) in a raw header block, if present.
std::optional<std::string> header(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return std::nullopt;
  auto begin = at + 3 + name.size();
  while (begin < lower.size() && lower[begin] == ' ') ++begin;
  return lower.substr(begin, lower.find("\r\n", begin) - begin);
}

ebpf::Result<HttpResponse> parse_head(const std::string& head) {
  HttpResponse response;
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12)
    return Error(ebpf::Errc::bad_format, "http", "not an HTTP response: '" + head.substr(0, 40) + "'");
  response.status = std::atoi(head.c_str() + 9);
  if (auto connection = header(head, "connection"); connection && *connection == "close") response.keep_alive = false;
  return response;
}

}  // namespace

ebpf::Result<ebpf::Fd> socket_in(const std::string& netns_path, int type, int family) {
  std::optional<ebpf::netlink::NetnsGuard> guard;
  if (!netns_path.empty()) guard.emplace(EBPF_TRY(ebpf::netlink::NetnsGuard::enter(netns_path)));
  const int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno(errno, "socket", "in " + (netns_path.empty() ? "own namespace" : netns_path));
  return ebpf::Fd(fd);
}

ebpf::Result<ebpf::Fd> tcp_connect(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                   Millis timeout) {
  const auto sa = EBPF_TRY(socket_address(address, port));
  auto fd = EBPF_TRY(socket_in(netns_path, SOCK_STREAM | SOCK_NONBLOCK, sa.family()));
  const std::string where = address + ":" + std::to_string(port);
  if (connect(fd.get(), sa.get(), sa.length) != 0 && errno != EINPROGRESS)
    return Error::from_errno(errno, "connect", where);
  pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
  const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready == 0) return Error(ebpf::Errc::timeout, "connect", where + ": no answer within " + std::to_string(timeout.count()) + " ms");
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (ready < 0 || err != 0) return Error::from_errno(ready < 0 ? errno : err, "connect", where);
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd.get(), timeout);
  return fd;
}

ebpf::Result<HttpResponse> http_request(int fd, const std::string& method, const std::string& path,
                                        const std::string& extra_headers, bool close) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: lb\r\n" + extra_headers;
  if (method == "POST") request += "Content-Length: 0\r\n";
  request += close ? "Connection: close\r\n\r\n" : "\r\n";
  EBPF_TRY(send_all(fd, request));
  std::string data;
  std::size_t head_end = std::string::npos;
  std::optional<std::size_t> length;
  char buffer[8192];
  for (;;) {
    if (head_end != std::string::npos && length && data.size() >= head_end + 4 + *length) break;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(errno, "recv", "HTTP response to " + method + " " + path);
    if (n == 0) {
      if (head_end != std::string::npos && !length) break;  // body delimited by close
      return Error(ebpf::Errc::io, "recv", "connection closed before the full HTTP response to " + path +
                                               " (" + std::to_string(data.size()) + " bytes read)");
    }
    data.append(buffer, static_cast<std::size_t>(n));
    if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
      if (auto cl = header(data.substr(0, head_end + 2), "content-length")) length = std::strtoull(cl->c_str(), nullptr, 10);
    }
  }
  auto response = EBPF_TRY(parse_head(data.substr(0, head_end + 2)));
  response.body = data.substr(head_end + 4, length.value_or(std::string::npos));
  return response;
}

ebpf::Result<HttpResponse> http_fetch(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                      const std::string& method, const std::string& path,
                                      const std::string& extra_headers, Millis timeout) {
  auto fd = EBPF_TRY(tcp_connect(netns_path, address, port, timeout));
  return http_request(fd.get(), method, path, extra_headers, true);
}

ebpf::Result<std::string> udp_request(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                      const std::string& payload, Millis timeout) {
  const auto sa = EBPF_TRY(socket_address(address, port));
  auto fd = EBPF_TRY(socket_in(netns_path, SOCK_DGRAM, sa.family()));
  if (connect(fd.get(), sa.get(), sa.length) != 0)
    return Error::from_errno(errno, "connect", "UDP " + address);
  if (send(fd.get(), payload.data(), payload.size(), 0) < 0) return Error::from_errno(errno, "send", "UDP " + address);
  pollfd p{.fd = fd.get(), .events = POLLIN, .revents = 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return Error(ebpf::Errc::timeout, "recv", "no UDP reply from " + address + ":" + std::to_string(port));
  char buffer[2048];
  const ssize_t n = recv(fd.get(), buffer, sizeof buffer, 0);
  if (n < 0) return Error::from_errno(errno, "recv", "UDP " + address);
  return std::string(buffer, static_cast<std::size_t>(n));
}

bool tcp_reachable(const std::string& netns_path, const std::string& address, std::uint16_t port, Millis timeout) {
  return tcp_connect(netns_path, address, port, timeout).has_value();
}

}  // namespace lb::demo
