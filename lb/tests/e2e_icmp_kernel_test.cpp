// End-to-end: ICMP errors about balanced flows reach the right socket. A connected UDP socket only hears of
// an ICMP error whose quote matches its own 4-tuple: the client's socket is connected to the VIP, but the
// backend quotes the packet it received (client -> backend). Only the TC egress translation (quote and
// source back to the VIP) turns the backend's "port unreachable" into ECONNREFUSED at the client; without it
// the client waits for a reply that never comes. Real namespaces, real kernel ICMP, the real ebpf-lb.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "lb/tests/e2e_fixture.hpp"

namespace {

using namespace lb::e2e;

constexpr std::uint16_t kClosedPort = 5999;  // a service whose backends listen on nothing

class EndToEndIcmp : public EndToEndFixture {
 protected:
  EndToEndIcmp() : EndToEndFixture({.backends = kBackends, .offload = false, .prefix = "eticlb"}, {.udp_echo = false}) {}

  // The web/echo services plus a UDP service on kClosedPort on both VIPs.
  BalancerSettings with_closed_services() const {
    BalancerSettings s = settings("pass");
    for (bool v6 : {false, true}) {
      DemoService closed{.name = v6 ? "closed6" : "closed", .vip = vip(v6), .port = kClosedPort, .protocol = "udp",
                         .scheduler = "maglev", .health_check = "none", .backends = {}};
      for (int b = 0; b < kBackends; ++b)
        closed.backends.push_back(
            {topology_->backend_name(b), v6 ? Topology::backend_address6(b) : Topology::backend_address(b), kClosedPort, 1});
      s.services.push_back(closed);
    }
    return s;
  }
};

// What a connected UDP socket in the client namespace gets after one datagram to address:port: the errno
// of the failed receive, 0 for a datagram, or ETIMEDOUT when nothing at all arrived within `timeout`.
int connected_udp_outcome(const std::string& netns, const std::string& address, std::uint16_t port, Millis timeout) {
  auto to = socket_address(address, port);
  EXPECT_TRUE(to.has_value()) << to.error().to_string();
  if (!to) return -1;
  auto fd = socket_in(netns, SOCK_DGRAM, to->v6 ? AF_INET6 : AF_INET);
  EXPECT_TRUE(fd.has_value()) << fd.error().to_string();
  if (!fd) return -1;
  if (connect(fd->get(), to->get(), to->length) != 0 || send(fd->get(), "knock", 5, 0) != 5) {
    ADD_FAILURE() << "connect/send to " << address << ": " << std::strerror(errno);
    return -1;
  }
  pollfd p{.fd = fd->get(), .events = POLLIN, .revents = 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return ETIMEDOUT;
  char buffer[64];
  return recv(fd->get(), buffer, sizeof buffer, MSG_DONTWAIT) < 0 ? errno : 0;
}

TEST_F(EndToEndIcmp, ConnectedUdpClientsGetConnectionRefusedFromTheVip) {
  // The topology alone: the backend's error matches a socket connected to the backend itself.
  EXPECT_EQ(connected_udp_outcome(client(), Topology::backend_address(0), kClosedPort, 2000ms), ECONNREFUSED);
  ASSERT_OK(start_balancer(with_closed_services()));
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(vip(v6));
    EXPECT_EQ(connected_udp_outcome(client(), vip(v6), kClosedPort, 2000ms), ECONNREFUSED)
        << "the backend's port unreachable did not reach the client as the VIP's\n" << balancer_->log_tail();
  }
  ASSERT_OK_AND_ASSIGN(auto metrics, balancer_->metrics());
  EXPECT_EQ(metric_sum(metrics, "ebpf_lb_icmp_errors_translated_total"), 2);
}

}  // namespace
