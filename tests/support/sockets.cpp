#include "support/sockets.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace ebpf::test {

Result<TcpPair> tcp_pair(const TestNetns& netns) {
  auto scope = EBPF_TRY(NetnsScope::enter(netns));
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      ::listen(listener.get(), 4) < 0 || ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0)
    return Error::from_errno(errno, "listen");
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client || ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno(errno, "connect");
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return Error::from_errno(errno, "accept");
  return TcpPair{std::move(client), std::move(server)};
}

std::string receive(const Fd& fd, int ms) {
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return {};
  char buf[256];
  auto n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool readable(const Fd& fd, int ms) {
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

}  // namespace ebpf::test
