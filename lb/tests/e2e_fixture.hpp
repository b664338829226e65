// Shared by the IPv6 and the redirect-mode end-to-end tests (e2e_ipv6_kernel_test.cpp,
// e2e_redirect_kernel_test.cpp): the demo topology with three backends, each running nginx (IPv4 and IPv6)
// and two UDP echo servers (IPv4 and IPv6) that report the TTL / hop limit their datagrams arrived with;
// ebpf-lb started in the LB namespace with four services (TCP and UDP on the IPv4 VIP and on the IPv6
// VIP); a UDP exchange that reports where the reply came from; the LB namespace's IP forwarding counters.
// The fixture removes processes, pins and namespaces also when an assertion fails.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/client.hpp"
#include "lb/demo/topology.hpp"
#include "lb/demo/traffic.hpp"
#include "support/kernel.hpp"

namespace lb::e2e {

using namespace lb::demo;
using namespace std::chrono_literals;

inline constexpr std::uint16_t kHttpPort = 80;
inline constexpr std::uint16_t kUdpPort = 5353;
inline constexpr int kBackends = 3;

// The ebpf-lb executable: $EBPF_LB_BINARY, else next to this test executable (both are built in lb/).
inline std::string balancer_binary() {
  if (const char* env = std::getenv("EBPF_LB_BINARY")) return env;
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ebpf-lb").string();
}

class TempDirectory {
 public:
  TempDirectory() {
    char pattern[] = "/tmp/lb-e2e-XXXXXX";
    if (mkdtemp(pattern) != nullptr) path_ = pattern;
  }
  ~TempDirectory() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct UdpReply {
  std::string body;
  std::string from;  // the reply's source address (inet_ntop text)
  std::uint16_t from_port = 0;
  std::uint16_t local_port = 0;  // the request's source port (two requests may share one: same flow)
};

// A socket address for "10.77.0.2" or "fd77::2" (told apart by the ':') and a port.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool v6 = false;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
inline ebpf::Result<SocketAddress> socket_address(const std::string& address, std::uint16_t port) {
  SocketAddress out;
  out.v6 = address.find(':') != std::string::npos;
  bool parsed = false;
  if (out.v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    parsed = inet_pton(AF_INET6, address.c_str(), &sa->sin6_addr) == 1;
    out.length = sizeof(sockaddr_in6);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&out.storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    parsed = inet_pton(AF_INET, address.c_str(), &sa->sin_addr) == 1;
    out.length = sizeof(sockaddr_in);
  }
  if (!parsed) return ebpf::Error::invalid("socket address", "bad address " + address);
  return out;
}

// One UDP request from an *unconnected* socket in the namespace (a connected one would silently drop a
// reply from any other source), returning the reply and the address it really came from. ttl > 0 sends the
// request with that IPv4 TTL / IPv6 hop limit.
inline ebpf::Result<UdpReply> udp_exchange(const std::string& netns_path, const std::string& address, std::uint16_t port,
                                           const std::string& payload, Millis timeout = 1000ms, int ttl = 0) {
  const SocketAddress to = EBPF_TRY(socket_address(address, port));
  const bool v6 = to.v6;
  auto fd = EBPF_TRY(socket_in(netns_path, SOCK_DGRAM, v6 ? AF_INET6 : AF_INET));
  if (ttl > 0 && setsockopt(fd.get(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, sizeof ttl) != 0)
    return ebpf::Error::from_errno(errno, "setsockopt(TTL)", address);
  if (sendto(fd.get(), payload.data(), payload.size(), 0, to.get(), to.length) < 0)
    return ebpf::Error::from_errno(errno, "sendto", address);
  pollfd p{.fd = fd.get(), .events = POLLIN, .revents = 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return ebpf::Error(ebpf::Errc::timeout, "recv", "no UDP reply to " + address + ":" + std::to_string(port));
  char buffer[2048];
  sockaddr_storage from{};
  socklen_t from_length = sizeof from;
  const ssize_t n = recvfrom(fd.get(), buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
  if (n < 0) return ebpf::Error::from_errno(errno, "recvfrom", address);
  UdpReply reply;
  reply.body.assign(buffer, static_cast<std::size_t>(n));
  char text[INET6_ADDRSTRLEN] = {};
  if (from.ss_family == AF_INET6) {
    const auto* sa = reinterpret_cast<const sockaddr_in6*>(&from);
    inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
    reply.from_port = ntohs(sa->sin6_port);
  } else {
    const auto* sa = reinterpret_cast<const sockaddr_in*>(&from);
    inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
    reply.from_port = ntohs(sa->sin_port);
  }
  reply.from = text;
  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &local_length) == 0)
    reply.local_port = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port
                                                         : reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
  return reply;
}

// N of an echo reply "<name>:ttl=N:<payload>"; -1 when the reply carries none.
inline int ttl_of(const std::string& body) {
  const auto at = body.find(":ttl=");
  return at == std::string::npos ? -1 : std::atoi(body.c_str() + at + 5);
}

// The named IP counter of /proc/net/snmp ("ForwDatagrams") or /proc/net/snmp6 ("Ip6OutForwDatagrams") of a
// namespace, read by a `cat` started inside it; -1 when missing.
inline long long ip_counter(const Topology& topology, const std::string& netns, bool v6, const std::string& name) {
  if (!v6) return topology.snmp_counter(netns, "Ip", name);
  auto text = topology.exec(netns, {"cat", "/proc/net/snmp6"});
  if (!text) return -1;
  std::istringstream in(*text);
  std::string key;
  long long value = 0;
  while (in >> key >> value)
    if (key == name) return value;
  return -1;
}

inline int hits(const SpreadResult& r, const std::string& backend) {
  const auto it = r.by_backend.find(backend);
  return it == r.by_backend.end() ? 0 : it->second;
}

inline std::string describe(const SpreadResult& r) {
  std::string out;
  for (const auto& [name, n] : r.by_backend) out += name + "=" + std::to_string(n) + " ";
  return out + "failed=" + std::to_string(r.failed) + (r.first_error.empty() ? "" : " (" + r.first_error + ")");
}

// Service names: the IPv4 VIP serves "web"/"echo", the IPv6 VIP "web6"/"echo6".
inline std::string web_service(bool v6) { return v6 ? "web6" : "web"; }
inline std::string echo_service(bool v6) { return v6 ? "echo6" : "echo"; }
inline const char* vip(bool v6) { return v6 ? Topology::kVip6 : Topology::kVip; }

// What the backends run besides nginx (HTTP on every backend address).
struct BackendServers {
  bool udp_echo = true;    // a UdpEcho on kUdpPort
  bool ipv6_echo = true;   // ... and one on [::]:kUdpPort
  bool report_ttl = true;  // echo replies carry "ttl=N:" (the TTL / hop limit the request arrived with)
};

// A topology with kBackends backends running nginx (and UDP echo servers), a work directory, and the
// balancer a test starts; everything stopped and removed in TearDown, in dependency order.
class EndToEndFixture : public ::testing::Test {
 protected:
  explicit EndToEndFixture(TopologyOptions options, BackendServers servers = {})
      : options_(std::move(options)), servers_(servers) {}

  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    ASSERT_FALSE(work_.path().empty());
    ASSERT_TRUE(std::filesystem::exists(balancer_binary()))
        << "ebpf-lb executable not found at " << balancer_binary() << " (build the ebpf-lb target or set EBPF_LB_BINARY)";
    options_.backends = kBackends;
    ASSERT_OK_AND_ASSIGN(topology_, Topology::create(options_));
    for (int i = 0; i < kBackends; ++i) {
      const std::string dir = work_.path() + "/" + topology_->backend_name(i);
      std::filesystem::create_directories(dir);
      ASSERT_OK_AND_ASSIGN(auto nginx, Nginx::start({.netns = topology_->backend_netns(i),
                                                     .name = topology_->backend_name(i),
                                                     .address = Topology::backend_address(i),
                                                     .port = kHttpPort,
                                                     .work_dir = dir,
                                                     .workers = 1}));
      nginx_.push_back(std::move(nginx));
      for (bool v6 : {false, true}) {
        if (!servers_.udp_echo || (v6 && !servers_.ipv6_echo)) continue;
        ASSERT_OK_AND_ASSIGN(auto echo, UdpEcho::start(topology_->backend_netns(i), topology_->backend_name(i), kUdpPort,
                                                       {.ipv6 = v6, .report_ttl = servers_.report_ttl}));
        udp_.push_back(std::move(echo));
      }
    }
  }

  void TearDown() override {
    balancer_.reset();  // stops ebpf-lb and removes its pins before the namespaces go
    udp_.clear();
    nginx_.clear();
    topology_.reset();
  }

  std::string client() const { return Topology::path(topology_->client_netns()); }

  // Four services over the three backends (weight 1 each): TCP/HTTP and UDP echo on both VIPs.
  BalancerSettings settings(const std::string& forwarding) const {
    BalancerSettings s;
    s.pin_dir = "/sys/fs/bpf/" + topology_->lb_netns();
    s.forwarding = forwarding;
    for (bool v6 : {false, true}) {
      DemoService web{.name = web_service(v6), .vip = vip(v6), .port = kHttpPort, .protocol = "tcp",
                      .scheduler = "maglev", .health_check = "none", .backends = {}};
      DemoService echo{.name = echo_service(v6), .vip = vip(v6), .port = kUdpPort, .protocol = "udp",
                       .scheduler = "maglev", .health_check = "none", .backends = {}};
      for (int b = 0; b < kBackends; ++b) {
        const std::string address = v6 ? Topology::backend_address6(b) : Topology::backend_address(b);
        web.backends.push_back({topology_->backend_name(b), address, kHttpPort, 1});
        echo.backends.push_back({topology_->backend_name(b), address, kUdpPort, 1});
      }
      s.services.push_back(web);
      s.services.push_back(echo);
    }
    return s;
  }

  ebpf::Result<void> start_balancer(const BalancerSettings& s, std::vector<std::string> extra_args = {}) {
    auto balancer = Balancer::start(s, {.binary = balancer_binary(), .netns = topology_->lb_netns(),
                                        .work_dir = work_.path(), .extra_args = std::move(extra_args),
                                        .ready_timeout = 20s});
    if (!balancer) return std::unexpected(balancer.error());
    balancer_ = std::move(*balancer);
    return ebpf::ok();
  }

  // The LB namespace's count of packets the kernel forwarded (IPv4 ForwDatagrams / Ip6OutForwDatagrams).
  long long forwarded(bool v6) const {
    return ip_counter(*topology_, topology_->lb_netns(), v6, v6 ? "Ip6OutForwDatagrams" : "ForwDatagrams");
  }

  // Neighbour tables and non-zero IPv6 counters of every namespace, for failure messages.
  std::string network_state() const {
    std::string out;
    std::vector<std::string> all{topology_->client_netns(), topology_->lb_netns()};
    for (int i = 0; i < topology_->backend_count(); ++i) all.push_back(topology_->backend_netns(i));
    for (const auto& ns : all) {
      out += "== " + ns + "\n";
      if (auto neigh = topology_->exec(ns, {"ip", "neigh", "show"})) out += *neigh;
      if (auto snmp6 = topology_->exec(ns, {"cat", "/proc/net/snmp6"})) {
        std::istringstream in(*snmp6);
        std::string key, value;
        while (in >> key >> value)
          if (value != "0" && key.find("Octets") == std::string::npos) out += key + "=" + value + " ";
        out += "\n";
      }
    }
    return out;
  }

  TopologyOptions options_;
  BackendServers servers_;
  TempDirectory work_;
  std::unique_ptr<Topology> topology_;
  std::vector<std::unique_ptr<Nginx>> nginx_;
  std::vector<std::unique_ptr<UdpEcho>> udp_;
  std::unique_ptr<Balancer> balancer_;
};

}  // namespace lb::e2e
