// The demo topology: network namespaces for a client, the load balancer and N backends, joined by veth
// pairs that are created directly inside the namespaces (the root namespace's interfaces are never touched).
//
//   client  c0 10.77.0.2/24 ── l0 10.77.0.1/24  [lb]  b<i> 10.77.<i>.1/24 ── eth0 10.77.<i>.2/24  backend i
//           c0 fd77::2/64      l0 fd77::1/64          b<i> fd77:<i>::1/64     eth0 fd77:<i>::2/64
//
// The client and every backend route everything (IPv4 and IPv6) through the load balancer (their gateway);
// forwarding is on for both families in the LB namespace; the VIPs 10.77.100.1 and fd77:100::1 are routed
// to the LB but configured nowhere, so only the balancer (or nftables DNAT) makes them answer. No IPv6
// duplicate address detection (accept_dad=0 in every namespace, `nodad` on every address): it would keep
// addresses tentative (unusable) for 1-2 s after link-up, and nothing else in a private namespace can own
// them. Namespace names are "<prefix><pid>x<n>-<role>", unique per process and run; destruction deletes
// every namespace (and with them the veths), and create() first sweeps namespaces of crashed runs whose
// <pid> is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ebpf/error.hpp"

namespace lb::demo {

struct TopologyOptions {
  int backends = 3;
  // Checksum/segmentation offload on the client's and backends' veths. Off by default: a rewriting XDP
  // program sees CHECKSUM_PARTIAL packets otherwise, whose checksum field holds only the pseudo-header sum.
  bool offload = false;
  std::string prefix = "lbd";  // namespace name prefix (tests use another one)
  // GRO on the backends' veths (eth0). Needed for `forwarding: redirect` with native (driver) XDP: a veth
  // accepts XDP_REDIRECTed frames (ndo_xdp_xmit) only when its peer's receive queue runs NAPI, which needs
  // an XDP program on the peer or GRO enabled on it (Linux >= 5.13); otherwise veth_xdp_xmit drops every
  // redirected frame (counted as the sender's tx drop). Generic XDP (skb redirect) needs neither. Off by
  // default: with GRO the peer receives through NAPI instead of the backlog, another path than `pass` tests.
  bool backend_gro = false;
};

class Topology {
 public:
  static constexpr const char* kVip = "10.77.100.1";
  static constexpr const char* kClientAddress = "10.77.0.2";
  static constexpr const char* kLbClientAddress = "10.77.0.1";
  static constexpr const char* kVip6 = "fd77:100::1";
  static constexpr const char* kClientAddress6 = "fd77::2";
  static constexpr const char* kLbClientAddress6 = "fd77::1";
  static constexpr const char* kIngressInterface = "l0";  // XDP (DNAT) and TC egress (SNAT) go here

  static ebpf::Result<std::unique_ptr<Topology>> create(const TopologyOptions& options = {});
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  int backend_count() const noexcept { return static_cast<int>(backends_.size()); }
  const std::string& client_netns() const noexcept { return client_; }
  const std::string& lb_netns() const noexcept { return lb_; }
  const std::string& backend_netns(int i) const { return backends_.at(static_cast<std::size_t>(i)); }
  static std::string path(const std::string& netns) { return "/var/run/netns/" + netns; }
  // Backend i (0-based) lives at 10.77.<i+1>.2 behind the LB's interface b<i+1>.
  static std::string backend_address(int i);
  // ... and at fd77:<i+1>::2.
  static std::string backend_address6(int i);
  static std::string lb_backend_interface(int i);
  std::string backend_name(int i) const { return "backend-" + std::to_string(i + 1); }

  // Runs a command inside namespace `netns` (setns, not `ip netns exec`).
  ebpf::Result<std::string> exec(const std::string& netns, const std::vector<std::string>& argv) const;
  // A counter of /proc/net/snmp in namespace `netns` ("Ip", "ForwDatagrams"; "Tcp", "RetransSegs"), read by a
  // `cat` started inside it; -1 when missing.
  long long snmp_counter(const std::string& netns, const std::string& group, const std::string& name) const;
  // Deletes every namespace now; the destructor then does nothing. Returns the first failure.
  ebpf::Result<void> destroy();

 private:
  Topology() = default;
  ebpf::Result<void> build(const TopologyOptions& options);
  ebpf::Result<void> add_netns(const std::string& name);
  struct LinkEnd {
    std::string address4, address6;  // this end's addresses (in a /24 and a /64)
  };
  ebpf::Result<void> link(const std::string& lb_if, const LinkEnd& lb_end, const std::string& peer_netns,
                          const std::string& peer_if, const LinkEnd& peer_end, bool offload, bool gro);

  std::string client_;
  std::string lb_;
  std::vector<std::string> backends_;
  std::vector<std::string> created_;  // namespaces to delete, in creation order
};

// Deletes "<prefix><pid>x..." namespaces whose <pid> is not a running process (leftovers of a crash).
void sweep_stale_namespaces(const std::string& prefix);

}  // namespace lb::demo
