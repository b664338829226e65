// The demo's namespace topology; see topology.hpp.
#include "lb/demo/topology.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <filesystem>

#include "lb/demo/process.hpp"

namespace lb::demo {
namespace {

std::atomic<int> g_topology_counter{0};

std::string ip_cidr(const std::string& address) { return address + "/24"; }
std::string ip6_cidr(const std::string& address) { return address + "/64"; }

// The <pid> of "<prefix><pid>x...", or 0 when `name` does not have that shape.
pid_t owner_pid(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  const std::string rest = name.substr(prefix.size());
  int pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || end == rest.data() || end == rest.data() + rest.size() || *end != 'x') return 0;
  return pid;
}

}  // namespace

void sweep_stale_namespaces(const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    const pid_t pid = owner_pid(name, prefix);
    if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;
    (void)run_command({"ip", "netns", "delete", name});
  }
}

std::string Topology::backend_address(int i) { return "10.77." + std::to_string(i + 1) + ".2"; }
std::string Topology::backend_address6(int i) { return "fd77:" + std::to_string(i + 1) + "::2"; }
std::string Topology::lb_backend_interface(int i) { return "b" + std::to_string(i + 1); }

ebpf::Result<std::unique_ptr<Topology>> Topology::create(const TopologyOptions& options) {
  if (options.backends < 1 || options.backends > 90)
    return ebpf::Error::invalid("topology", "backends must be 1..90, got " + std::to_string(options.backends));
  if (options.prefix.empty() || options.prefix.size() > 16)
    return ebpf::Error::invalid("topology", "prefix must be 1..16 characters");
  sweep_stale_namespaces(options.prefix);
  std::unique_ptr<Topology> topology(new Topology());
  EBPF_TRY(topology->build(options));  // on failure the destructor removes what was made
  return topology;
}

Topology::~Topology() { (void)destroy(); }

ebpf::Result<void> Topology::destroy() {
  ebpf::Result<void> first = ebpf::ok();
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    auto deleted = run_command({"ip", "netns", "delete", *it});
    if (!deleted && first) first = std::unexpected(deleted.error());
  }
  created_.clear();
  return first;
}

ebpf::Result<std::string> Topology::exec(const std::string& netns, const std::vector<std::string>& argv) const {
  return run_command(argv, path(netns));
}

long long Topology::snmp_counter(const std::string& netns, const std::string& group, const std::string& name) const {
  auto text = exec(netns, {"cat", "/proc/net/snmp"});
  if (!text) return -1;
  // Pairs of lines: "Tcp: RtoAlgorithm RtoMin ..." then "Tcp: 1 200 ...".
  std::istringstream in(*text);
  const std::string prefix = group + ":";
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind(prefix, 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string key, value;
    while (n >> key && v >> value)
      if (key == name) return std::atoll(value.c_str());
  }
  return -1;
}

ebpf::Result<void> Topology::add_netns(const std::string& name) {
  EBPF_TRY(run_command({"ip", "netns", "add", name}));
  created_.push_back(name);
  EBPF_TRY(run_command({"ip", "-n", name, "link", "set", "lo", "up"}));
  // No duplicate address detection on the interfaces made later (they start from `default`): their IPv6
  // link-local address would stay tentative for 1-2 s, and a router (the LB) sends the neighbour
  // solicitation for a packet it forwards from its link-local address only: until DAD ends, the first
  // forwarded packet toward each backend waits in the neighbour queue (observed: ~1 s, a lost first UDP
  // request). The global addresses are added with `nodad` as well.
  EBPF_TRY(exec(name, {"sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"}));
  return ebpf::ok();
}

// A veth pair made inside the LB namespace with its peer moved straight into `peer_netns`, which routes
// everything (both families) through the LB end.
ebpf::Result<void> Topology::link(const std::string& lb_if, const LinkEnd& lb_end, const std::string& peer_netns,
                                  const std::string& peer_if, const LinkEnd& peer_end, bool offload, bool gro) {
  EBPF_TRY(run_command({"ip", "-n", lb_, "link", "add", lb_if, "type", "veth", "peer", "name", peer_if, "netns",
                        peer_netns}));
  EBPF_TRY(run_command({"ip", "-n", lb_, "addr", "add", ip_cidr(lb_end.address4), "dev", lb_if}));
  EBPF_TRY(run_command({"ip", "-n", lb_, "-6", "addr", "add", ip6_cidr(lb_end.address6), "dev", lb_if, "nodad"}));
  EBPF_TRY(run_command({"ip", "-n", lb_, "link", "set", lb_if, "up"}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "addr", "add", ip_cidr(peer_end.address4), "dev", peer_if}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "-6", "addr", "add", ip6_cidr(peer_end.address6), "dev", peer_if, "nodad"}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "link", "set", peer_if, "up"}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "route", "add", "default", "via", lb_end.address4}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "-6", "route", "add", "default", "via", lb_end.address6}));
  if (!offload) EBPF_TRY(exec(peer_netns, {"ethtool", "-K", peer_if, "tx", "off"}));
  if (gro) EBPF_TRY(exec(peer_netns, {"ethtool", "-K", peer_if, "gro", "on"}));
  return ebpf::ok();
}

ebpf::Result<void> Topology::build(const TopologyOptions& options) {
  const std::string base =
      options.prefix + std::to_string(getpid()) + "x" + std::to_string(g_topology_counter.fetch_add(1));
  client_ = base + "-client";
  lb_ = base + "-lb";
  EBPF_TRY(add_netns(client_));
  EBPF_TRY(add_netns(lb_));
  EBPF_TRY(exec(lb_, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=1"}));
  // Before any interface exists: `all` is copied to `default`, which the veths made below start from.
  EBPF_TRY(exec(lb_, {"sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"}));
  EBPF_TRY(link(kIngressInterface, {kLbClientAddress, kLbClientAddress6}, client_, "c0",
                {kClientAddress, kClientAddress6}, options.offload, false));
  for (int i = 0; i < options.backends; ++i) {
    backends_.push_back(base + "-b" + std::to_string(i + 1));
    EBPF_TRY(add_netns(backends_.back()));
    const std::string n = std::to_string(i + 1);
    EBPF_TRY(link(lb_backend_interface(i), {"10.77." + n + ".1", "fd77:" + n + "::1"}, backends_.back(), "eth0",
                  {backend_address(i), backend_address6(i)}, options.offload, options.backend_gro));
  }
  return ebpf::ok();
}

}  // namespace lb::demo
