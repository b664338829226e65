// Network namespaces and veth pairs for kernel tests.
//
// Every program a test attaches to a network hook goes on an interface inside a namespace the test created,
// never on the host's interfaces:
//   TestNetns     a named namespace "et<pid>x<n>..." (visible under /var/run/netns), deleted on destruction;
//   NetnsScope    moves the calling thread into a namespace (setns) and back on destruction — sockets,
//                 bpf_links and ifindex look-ups made inside belong to that namespace. (Not `ip netns exec`:
//                 it remounts /sys and hides bpffs.)
//   VethTopology  two namespaces joined by a veth pair with IPv4 addresses, ready for traffic;
//   exec()/sh()   run a command (ping, ip, ethtool) inside a namespace via nsenter --net.
// The first TestNetns of a process sweeps leftovers of crashed runs: "et<pid>x..." namespaces, root
// namespace links and cgroups (under /sys/fs/cgroup/unified) whose <pid> belongs to no running process.
// Nothing without that prefix is touched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/netlink.hpp"
#include "ebpf/program.hpp"

namespace ebpf::test {

// Runs `argv` (no shell) and returns its stdout and stderr together; an error names the command, its exit
// status and output when it does not exit with 0.
Result<std::string> run_command(const std::vector<std::string>& argv);

class TestNetns {
 public:
  // A new, empty namespace with its loopback up. `suffix` is appended to the unique name (keep it short:
  // interface names made from it are limited to 15 characters).
  static Result<TestNetns> create(std::string_view suffix = "");
  ~TestNetns();
  TestNetns(TestNetns&& other) noexcept : name_(std::move(other.name_)) { other.name_.clear(); }
  TestNetns& operator=(TestNetns&& other) noexcept;
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const noexcept { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  // A descriptor on the namespace (for Socket::open_in_netns, setns, netns links).
  Result<Fd> open() const;
  // Runs a command inside the namespace (nsenter --net=PATH -- argv...).
  Result<std::string> exec(const std::vector<std::string>& argv) const;
  // Runs a shell script inside the namespace.
  Result<std::string> sh(const std::string& script) const;
  // The index of interface `ifname` in this namespace.
  Result<std::uint32_t> ifindex(std::string_view ifname) const;
  // Deletes the namespace now (the destructor then does nothing).
  Result<void> remove();

 private:
  explicit TestNetns(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// The calling thread inside a namespace until destruction.
class NetnsScope {
 public:
  static Result<NetnsScope> enter(const TestNetns& netns);
  static Result<NetnsScope> enter_path(const std::string& path);

 private:
  explicit NetnsScope(netlink::NetnsGuard guard) : guard_(std::move(guard)) {}
  netlink::NetnsGuard guard_;
};

struct VethEnd {
  std::string name;     // interface name
  std::string address;  // IPv4 address without prefix length
  std::uint32_t ifindex = 0;
};

// Creates a veth pair with one end in `a` and the other in `b` (which may be the same namespace), both up,
// addressed `cidr_a` / `cidr_b` ("10.11.0.1/24"; empty for none). Names are unique test names.
Result<std::pair<VethEnd, VethEnd>> create_veth_pair(const TestNetns& a, const TestNetns& b,
                                                     const std::string& cidr_a = "10.11.0.1/24",
                                                     const std::string& cidr_b = "10.11.0.2/24");

// Two namespaces (left, right) joined by a veth pair: left.veth 10.11.0.1 <-> right.veth 10.11.0.2.
struct VethTopology {
  TestNetns left;
  TestNetns right;
  VethEnd left_end;
  VethEnd right_end;

  static Result<VethTopology> create();
};

// Deletes leftovers of crashed test runs (see the file comment). Runs once per process from
// TestNetns::create; callable directly.
void sweep_stale_test_objects();

// Sends `count` UDP datagrams of `payload_size` bytes from a socket in `from` to `to_address`:`port`, and
// returns how many a socket bound to `port` in `to` received within `timeout_ms` (0 when none arrive).
Result<int> udp_exchange(const TestNetns& from, const TestNetns& to, const std::string& to_address,
                         std::uint16_t port, int count, std::size_t payload_size = 32, int timeout_ms = 500);

// A program for network-hook tests that counts what it really saw, in an ARRAY map of one
// {u64 matched; u64 seen;} value: `seen` counts every packet, `matched` the IPv4/UDP packets to `udp_port`.
// It returns `match_verdict` for matched packets and `other_verdict` for the rest (XDP: 1 drop, 2 pass;
// TC: 0 ok, 2 shot).
struct PacketCounter {
  Fd map;
  Program program;

  // `type` is ProgType::xdp or ProgType::sched_cls.
  static Result<PacketCounter> create(ProgType type, std::uint16_t udp_port, int match_verdict, int other_verdict,
                                      const std::string& name = "et_count");
  Result<std::uint64_t> matched() const;
  Result<std::uint64_t> seen() const;
};

inline constexpr int kXdpDrop = 1, kXdpPass = 2;
inline constexpr int kTcOk = 0, kTcShot = 2;

}  // namespace ebpf::test
