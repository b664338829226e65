// nginx and UDP echo backends; see backends.hpp.
#include "lb/demo/backends.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "lb/demo/client.hpp"
#include "lb/demo/topology.hpp"

namespace lb::demo {

ebpf::Result<std::string> write_nginx_config(const NginxOptions& o) {
  if (o.name.empty() || o.name.find_first_of("\"\\$;{}\n") != std::string::npos)
    return ebpf::Error::invalid("nginx", "backend name must be plain text, got '" + o.name + "'");
  if (o.work_dir.empty() || o.workers < 1) return ebpf::Error::invalid("nginx", "work_dir and workers >= 1 required");
  const std::string& d = o.work_dir;
  const std::string path = d + "/nginx.conf";
  std::ofstream out(path);
  out << "daemon off;\n"
      << (o.workers == 1 ? "master_process off;\n" : "worker_processes " + std::to_string(o.workers) + ";\n")
      << "pid " << d << "/nginx.pid;\n"
      << "error_log " << d << "/error.log warn;\n"
      << "events { worker_connections 8192; }\n"
      << "http {\n"
      << "  access_log off;\n"
      << "  keepalive_requests 10000000;\n"   // long-lived test connections must never be closed by nginx
      << "  keepalive_timeout 600s;\n"
      << "  client_body_temp_path " << d << "/body;\n"
      << "  proxy_temp_path " << d << "/proxy;\n"
      << "  fastcgi_temp_path " << d << "/fastcgi;\n"
      << "  uwsgi_temp_path " << d << "/uwsgi;\n"
      << "  scgi_temp_path " << d << "/scgi;\n"
      << "  server {\n"
      << "    listen " << o.port << " reuseport backlog=4096;\n"
      << "    listen [::]:" << o.port << " ipv6only=on reuseport backlog=4096;\n"
      << "    default_type text/plain;\n"
      << "    location / { return 200 \"" << o.name << "\\n\"; }\n"
      << "  }\n"
      << "}\n";
  out.close();
  if (!out) return ebpf::Error::from_errno(EIO, "nginx", "cannot write " + path);
  return path;
}

ebpf::Result<std::unique_ptr<Nginx>> Nginx::start(const NginxOptions& options) {
  const std::string config = EBPF_TRY(write_nginx_config(options));
  std::unique_ptr<Nginx> nginx(new Nginx(options));
  nginx->child_ = EBPF_TRY(Child::spawn({"nginx", "-p", options.work_dir, "-e", options.work_dir + "/error.log", "-c", config},
                                        {.netns_path = Topology::path(options.netns),
                                         .log_path = options.work_dir + "/stdout.log"}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!tcp_reachable(Topology::path(options.netns), options.address, options.port)) {
    if (!nginx->child_.running())
      return ebpf::Error(ebpf::Errc::io, "nginx", "nginx for " + options.name + " exited; see " + options.work_dir + "/error.log");
    if (std::chrono::steady_clock::now() > deadline)
      return ebpf::Error(ebpf::Errc::timeout, "nginx", "nginx for " + options.name + " not listening after 10 s");
    std::this_thread::sleep_for(Millis(20));
  }
  return nginx;
}

ebpf::Result<std::unique_ptr<UdpEcho>> UdpEcho::start(const std::string& netns, const std::string& name,
                                                       std::uint16_t port, UdpEchoOptions options) {
  const int family = options.ipv6 ? AF_INET6 : AF_INET;
  auto fd = EBPF_TRY(socket_in(Topology::path(netns), SOCK_DGRAM, family));
  const int one = 1;
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (options.ipv6) {
    // IPv6 only, so that an IPv4 echo can share the port number.
    if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
      return ebpf::Error::from_errno(errno, "setsockopt", "IPV6_V6ONLY");
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    sa->sin6_addr = in6addr_any;
    length = sizeof(sockaddr_in6);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(INADDR_ANY);
    length = sizeof(sockaddr_in);
  }
  if (options.report_ttl) {
    const int level = options.ipv6 ? IPPROTO_IPV6 : IPPROTO_IP;
    const int option = options.ipv6 ? IPV6_RECVHOPLIMIT : IP_RECVTTL;
    if (setsockopt(fd.get(), level, option, &one, sizeof one) != 0)
      return ebpf::Error::from_errno(errno, "setsockopt", options.ipv6 ? "IPV6_RECVHOPLIMIT" : "IP_RECVTTL");
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0)
    return ebpf::Error::from_errno(errno, "bind", "UDP echo port " + std::to_string(port) + " in " + netns);
  std::unique_ptr<UdpEcho> echo(new UdpEcho(std::move(fd), name, options));
  echo->thread_ = std::thread([raw = echo.get()] { raw->serve(); });
  return echo;
}

void UdpEcho::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

namespace {

// The TTL (IP_TTL) or hop limit (IPV6_HOPLIMIT) control message of a received datagram; -1 without one.
int received_ttl(msghdr& message) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    const bool ttl = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                     (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT);
    if (!ttl || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
    int value = 0;
    std::memcpy(&value, CMSG_DATA(c), sizeof value);
    return value;
  }
  return -1;
}

}  // namespace

void UdpEcho::serve() {
  char buffer[2048];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) * 2];
  while (!stop_) {
    pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 100) <= 0) continue;
    sockaddr_storage from{};
    iovec iov{.iov_base = buffer, .iov_len = sizeof buffer};
    msghdr message{};
    message.msg_name = &from;
    message.msg_namelen = sizeof from;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(fd_.get(), &message, 0);
    if (n < 0) continue;
    std::string reply = name_ + ":";
    if (options_.report_ttl) reply += "ttl=" + std::to_string(received_ttl(message)) + ":";
    reply.append(buffer, static_cast<std::size_t>(n));
    if (sendto(fd_.get(), reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&from), message.msg_namelen) >= 0)
      ++answered_;
  }
}

}  // namespace lb::demo
