#include "support/netns.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <set>

#include "ebpf/assembler.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"

extern char** environ;

namespace ebpf::test {

namespace {

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// The <pid> of a test object name "et<pid>x...", or -1 if `name` is not one.
long test_object_pid(std::string_view name) {
  if (!name.starts_with("et")) return -1;
  auto x = name.find('x', 2);
  if (x == std::string_view::npos || x == 2) return -1;
  long pid = 0;
  for (char c : name.substr(2, x - 2)) {
    if (c < '0' || c > '9') return -1;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

// unique_name() uses pid % 100000; a name is live while any running process has that residue.
std::set<long> live_pid_residues() {
  std::set<long> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (auto* entry = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0') out.insert(pid % 100000);
  }
  ::closedir(dir);
  return out;
}

bool is_stale(std::string_view name, const std::set<long>& live) {
  long pid = test_object_pid(name);
  return pid >= 0 && !live.contains(pid);
}

void sweep_netns(const std::set<long>& live) {
  DIR* dir = ::opendir("/var/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (auto* entry = ::readdir(dir))
    if (is_stale(entry->d_name, live)) stale.emplace_back(entry->d_name);
  ::closedir(dir);
  for (const auto& name : stale) (void)run_command({"ip", "netns", "delete", name});
}

void sweep_root_links(const std::set<long>& live) {
  auto socket = netlink::Socket::open();
  if (!socket) return;
  auto links = netlink::list_interfaces(*socket);
  if (!links) return;
  for (const auto& link : *links)
    if (is_stale(link.name, live)) (void)run_command({"ip", "link", "delete", link.name});
}

// A cgroup directory and its child cgroups, deepest first (cgroups are removed with rmdir, bottom-up).
void remove_cgroup_tree(const std::string& path) {
  if (DIR* dir = ::opendir(path.c_str())) {
    std::vector<std::string> children;
    while (auto* entry = ::readdir(dir))
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') children.push_back(path + "/" + entry->d_name);
    ::closedir(dir);
    for (const auto& child : children) remove_cgroup_tree(child);
  }
  ::rmdir(path.c_str());
}

void sweep_cgroups(const std::set<long>& live) {
  const std::string root = "/sys/fs/cgroup/unified";
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (auto* entry = ::readdir(dir))
    if (entry->d_type == DT_DIR && is_stale(entry->d_name, live)) stale.push_back(root + "/" + entry->d_name);
  ::closedir(dir);
  for (const auto& path : stale) remove_cgroup_tree(path);
}

}  // namespace

Result<std::string> run_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error::invalid("run_command", "empty command");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Error::from_errno(errno, "pipe2");
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (err != 0) return Error::from_errno(err, "posix_spawnp", "cannot run " + join(argv));

  std::string output;
  char buf[4096];
  for (;;) {
    auto n = ::read(read_end.get(), buf, sizeof buf);
    if (n > 0) output.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(Errc::io, join(argv),
                 "exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ": " +
                     output);
  return output;
}

void sweep_stale_test_objects() {
  auto live = live_pid_residues();
  sweep_netns(live);
  sweep_root_links(live);
  sweep_cgroups(live);
}

Result<TestNetns> TestNetns::create(std::string_view suffix) {
  static std::once_flag swept;
  std::call_once(swept, sweep_stale_test_objects);
  TestNetns netns(unique_name(suffix));
  EBPF_TRY(run_command({"ip", "netns", "add", netns.name_}));
  EBPF_TRY(run_command({"ip", "-n", netns.name_, "link", "set", "lo", "up"}));
  return netns;
}

TestNetns::~TestNetns() { (void)remove(); }

TestNetns& TestNetns::operator=(TestNetns&& other) noexcept {
  if (this != &other) {
    (void)remove();
    name_ = std::move(other.name_);
    other.name_.clear();
  }
  return *this;
}

Result<void> TestNetns::remove() {
  if (name_.empty()) return ok();
  auto name = std::move(name_);
  name_.clear();
  EBPF_TRY(run_command({"ip", "netns", "delete", name}));
  return ok();
}

Result<Fd> TestNetns::open() const {
  Fd fd(::open(path().c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno(errno, "open(" + path() + ")");
  return fd;
}

Result<std::string> TestNetns::exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"nsenter", "--net=" + path(), "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run_command(full);
}

Result<std::string> TestNetns::sh(const std::string& script) const { return exec({"sh", "-c", script}); }

Result<std::uint32_t> TestNetns::ifindex(std::string_view ifname) const {
  auto scope = EBPF_TRY(NetnsScope::enter(*this));
  return netlink::interface_index(ifname);
}

Result<NetnsScope> NetnsScope::enter(const TestNetns& netns) { return enter_path(netns.path()); }

Result<NetnsScope> NetnsScope::enter_path(const std::string& path) {
  auto guard = EBPF_TRY(netlink::NetnsGuard::enter(path));
  return NetnsScope(std::move(guard));
}

Result<std::pair<VethEnd, VethEnd>> create_veth_pair(const TestNetns& a, const TestNetns& b,
                                                     const std::string& cidr_a, const std::string& cidr_b) {
  VethEnd end_a{unique_name("va"), {}, 0};
  VethEnd end_b{unique_name("vb"), {}, 0};
  EBPF_TRY(run_command({"ip", "-n", a.name(), "link", "add", end_a.name, "type", "veth", "peer", "name",
                        end_b.name, "netns", b.name()}));
  auto configure = [](const TestNetns& ns, VethEnd& end, const std::string& cidr) -> Result<void> {
    std::string script;
    if (!cidr.empty()) {
      script += "ip addr add " + cidr + " dev " + end.name + " && ";
      end.address = cidr.substr(0, cidr.find('/'));
    }
    script += "ip link set " + end.name + " up";
    EBPF_TRY(ns.sh(script));
    end.ifindex = EBPF_TRY(ns.ifindex(end.name));
    return ok();
  };
  EBPF_TRY(configure(a, end_a, cidr_a));
  EBPF_TRY(configure(b, end_b, cidr_b));
  return std::pair{std::move(end_a), std::move(end_b)};
}

Result<VethTopology> VethTopology::create() {
  auto left = EBPF_TRY(TestNetns::create("l"));
  auto right = EBPF_TRY(TestNetns::create("r"));
  auto [l, r] = EBPF_TRY(create_veth_pair(left, right));
  return VethTopology{std::move(left), std::move(right), std::move(l), std::move(r)};
}

namespace {

Result<Fd> udp_socket_in(const TestNetns& netns) {
  auto scope = EBPF_TRY(NetnsScope::enter(netns));
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "socket(AF_INET, SOCK_DGRAM)");
  return fd;
}

}  // namespace

Result<int> udp_exchange(const TestNetns& from, const TestNetns& to, const std::string& to_address,
                         std::uint16_t port, int count, std::size_t payload_size, int timeout_ms) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (::inet_pton(AF_INET, to_address.c_str(), &dst.sin_addr) != 1)
    return Error::invalid("udp_exchange", "bad IPv4 address '" + to_address + "'");
  auto receiver = EBPF_TRY(udp_socket_in(to));
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(port);
  if (::bind(receiver.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) < 0)
    return Error::from_errno(errno, "bind(udp)");
  auto sender = EBPF_TRY(udp_socket_in(from));
  std::vector<char> payload(payload_size, 'x');
  for (int i = 0; i < count; ++i)
    if (::sendto(sender.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
      return Error::from_errno(errno, "sendto(udp)");

  int received = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<char> buf(payload_size + 64);
  while (received < count) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{receiver.get(), POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (::recv(receiver.get(), buf.data(), buf.size(), MSG_DONTWAIT) >= 0) ++received;
  }
  return received;
}

Result<PacketCounter> PacketCounter::create(ProgType type, std::uint16_t udp_port, int match_verdict,
                                            int other_verdict, const std::string& name) {
  using namespace ebpf::isa;
  if (type != ProgType::xdp && type != ProgType::sched_cls)
    return Error::invalid("PacketCounter", "only xdp and sched_cls programs can count packets");
  sys::MapCreateAttr attr;
  attr.map_type = static_cast<std::uint32_t>(MapType::array);
  attr.key_size = 4;
  attr.value_size = 16;
  attr.max_entries = 1;
  auto map = EBPF_TRY(sys::map_create(attr));
  // xdp_md: data at 0, data_end at 4; __sk_buff: data at 76, data_end at 80.
  std::int16_t data = type == ProgType::xdp ? 0 : 76;
  std::int16_t data_end = type == ProgType::xdp ? 4 : 80;
  constexpr std::int16_t kUdpEnd = 14 + 20 + 8;  // Ethernet + IPv4 without options + UDP
  Assembler a;
  a.ldx(W, r2, r1, data).ldx(W, r3, r1, data_end)
      .ld_map_value(r7, map.get(), 0)
      .mov(r4, 1).atomic_add(DW, r7, 8, r4)
      .mov(r5, r2).add(r5, kUdpEnd).jgt(r5, r3, "other")
      .ldx(H, r4, r2, 12).jne(r4, 0x0008, "other")  // EtherType IPv4 (big endian 0x0800)
      .ldx(B, r4, r2, 14).jne(r4, 0x45, "other")    // IPv4, 20-byte header
      .ldx(B, r4, r2, 23).jne(r4, 17, "other")      // UDP
      .ldx(H, r4, r2, 36).jne(r4, htons(udp_port), "other")
      .mov(r4, 1).atomic_add(DW, r7, 0, r4)
      .mov(r0, match_verdict).exit()
      .label("other").mov(r0, other_verdict).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = name;
  auto program = EBPF_TRY(Program::load(type, code.span(), options));
  return PacketCounter{std::move(map), std::move(program)};
}

namespace {
Result<std::uint64_t> read_counter(const Fd& map, std::size_t index) {
  std::uint32_t key = 0;
  std::uint64_t value[2] = {};
  EBPF_TRY(sys::map_lookup_elem(map.get(), &key, value));
  return value[index];
}
}  // namespace

Result<std::uint64_t> PacketCounter::matched() const { return read_counter(map, 0); }
Result<std::uint64_t> PacketCounter::seen() const { return read_counter(map, 1); }

}  // namespace ebpf::test
