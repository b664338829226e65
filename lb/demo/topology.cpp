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

ebpf::Result<void> Topology::add_netns(const std::string& name) {
  EBPF_TRY(run_command({"ip", "netns", "add", name}));
  created_.push_back(name);
  EBPF_TRY(run_command({"ip", "-n", name, "link", "set", "lo", "up"}));
  return ebpf::ok();
}

// A veth pair made inside the LB namespace with its peer moved straight into `peer_netns`.
ebpf::Result<void> Topology::link(const std::string& lb_if, const std::string& lb_cidr, const std::string& peer_netns,
                                  const std::string& peer_if, const std::string& peer_cidr,
                                  const std::string& gateway, bool offload) {
  EBPF_TRY(run_command({"ip", "-n", lb_, "link", "add", lb_if, "type", "veth", "peer", "name", peer_if, "netns",
                        peer_netns}));
  EBPF_TRY(run_command({"ip", "-n", lb_, "addr", "add", lb_cidr, "dev", lb_if}));
  EBPF_TRY(run_command({"ip", "-n", lb_, "link", "set", lb_if, "up"}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "addr", "add", peer_cidr, "dev", peer_if}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "link", "set", peer_if, "up"}));
  EBPF_TRY(run_command({"ip", "-n", peer_netns, "route", "add", "default", "via", gateway}));
  if (!offload) EBPF_TRY(exec(peer_netns, {"ethtool", "-K", peer_if, "tx", "off"}));
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
  EBPF_TRY(link(kIngressInterface, ip_cidr(kLbClientAddress), client_, "c0", ip_cidr(kClientAddress),
                kLbClientAddress, options.offload));
  for (int i = 0; i < options.backends; ++i) {
    backends_.push_back(base + "-b" + std::to_string(i + 1));
    EBPF_TRY(add_netns(backends_.back()));
    const std::string gateway = "10.77." + std::to_string(i + 1) + ".1";
    EBPF_TRY(link(lb_backend_interface(i), ip_cidr(gateway), backends_.back(), "eth0", ip_cidr(backend_address(i)),
                  gateway, options.offload));
  }
  return ebpf::ok();
}

}  // namespace lb::demo
