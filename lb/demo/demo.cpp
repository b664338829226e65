// ebpf-lb demo: see demo.hpp. Builds the topology, starts nginx and UDP echo backends, runs this very
// executable (/proc/self/exe) as the balancer in the LB namespace, drives HTTP and UDP traffic from the
// client namespace, prints a live per-backend table from the balancer's metrics and a summary. Every
// resource is an RAII object declared in teardown order, so errors and Ctrl-C clean up the same way.
#include "lb/demo/demo.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/topology.hpp"
#include "lb/demo/traffic.hpp"

namespace lb::demo {
namespace {

constexpr std::uint16_t kHttpPort = 80;
constexpr std::uint16_t kUdpPort = 5353;
constexpr std::uint32_t kWeights[] = {2, 1, 1};

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM}) sigaction(sig, &action, nullptr);
}

class WorkDir {
 public:
  WorkDir() {
    char pattern[] = "/tmp/ebpf-lb-demo-XXXXXX";
    if (mkdtemp(pattern) != nullptr) path_ = pattern;
  }
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What the client saw, shared between the traffic thread and the table printer.
struct ClientTally {
  std::mutex mutex;
  std::map<std::string, int> http, udp;
  int failed = 0;
  std::string last_error;

  void add(const SpreadResult& r, std::map<std::string, int>& into) {
    std::lock_guard lock(mutex);
    for (const auto& [name, n] : r.by_backend) into[name] += n;
    failed += r.failed;
    if (!r.first_error.empty()) last_error = r.first_error;
  }
};

BalancerSettings demo_settings(const Topology& topology) {
  BalancerSettings s;
  s.pin_dir = "/sys/fs/bpf/" + topology.lb_netns();
  s.health_interval = "500ms";
  DemoService web{.name = "web", .vip = Topology::kVip, .port = kHttpPort, .protocol = "tcp", .scheduler = "maglev",
                  .health_check = "http", .backends = {}};
  DemoService echo{.name = "echo", .vip = Topology::kVip, .port = kUdpPort, .protocol = "udp", .scheduler = "maglev",
                   .health_check = "none", .backends = {}};
  for (int i = 0; i < topology.backend_count(); ++i) {
    web.backends.push_back({topology.backend_name(i), Topology::backend_address(i), kHttpPort, kWeights[i]});
    echo.backends.push_back({topology.backend_name(i), Topology::backend_address(i), kUdpPort, kWeights[i]});
  }
  s.services = {web, echo};
  return s;
}

void print_table(const Topology& topology, const Balancer& balancer, ClientTally& tally, int elapsed, int total) {
  auto metrics = balancer.metrics();
  if (isatty(STDOUT_FILENO)) std::printf("\033[H\033[J");
  std::printf("ebpf-lb demo  %2d/%ds  VIP %s  (tcp/%u http, udp/%u echo)   Ctrl-C stops early\n\n", elapsed, total,
              Topology::kVip, kHttpPort, kUdpPort);
  std::printf("%-10s %-10s %6s %4s %9s %10s %12s %12s %10s %10s\n", "backend", "address", "weight", "up", "flows",
              "packets", "bytes in", "bytes out", "http seen", "udp seen");
  std::lock_guard lock(tally.mutex);
  for (int i = 0; i < topology.backend_count(); ++i) {
    const std::string name = topology.backend_name(i);
    const std::vector<std::string> who{"backend=\"" + name + "\""};
    auto m = [&](const char* metric) { return metrics ? metric_sum(*metrics, metric, who) : 0.0; };
    std::printf("%-10s %-10s %6u %4s %9.0f %10.0f %12.0f %12.0f %10d %10d\n", name.c_str(),
                Topology::backend_address(i).c_str(), kWeights[i],
                metrics ? (metric_sum(*metrics, "ebpf_lb_backend_up", {"service=\"web\"", who[0]}) > 0 ? "yes" : "no") : "?",
                m("ebpf_lb_backend_new_flows_total"), m("ebpf_lb_backend_packets_total"),
                m("ebpf_lb_backend_bytes_total"), m("ebpf_lb_backend_reply_bytes_total"), tally.http[name],
                tally.udp[name]);
  }
  if (metrics)
    std::printf("\nconntrack entries %.0f / %.0f, flows created %.0f, client failures %d\n",
                metric_sum(*metrics, "ebpf_lb_conntrack_entries"), metric_sum(*metrics, "ebpf_lb_conntrack_max_entries"),
                metric_sum(*metrics, "ebpf_lb_conntrack_created_total"), tally.failed);
  else
    std::printf("\nmetrics unavailable: %s\n", metrics.error().to_string().c_str());
  std::fflush(stdout);
}

int summary(const Topology& topology, ClientTally& tally) {
  std::lock_guard lock(tally.mutex);
  int http = 0, udp = 0;
  std::printf("\nsummary (answers seen by the client, weights 2:1:1):\n");
  for (int i = 0; i < topology.backend_count(); ++i) {
    const std::string name = topology.backend_name(i);
    std::printf("  %-10s http %6d  udp %6d\n", name.c_str(), tally.http[name], tally.udp[name]);
    http += tally.http[name];
    udp += tally.udp[name];
  }
  std::printf("  total      http %6d  udp %6d  failed %d%s%s\n", http, udp, tally.failed,
              tally.last_error.empty() ? "" : "  last error: ", tally.last_error.c_str());
  return http > 0 && udp > 0 && tally.failed == 0 ? 0 : 1;
}

int fail(const char* what, const ebpf::Error& error) {
  std::fprintf(stderr, "ebpf-lb demo: %s: %s\n", what, error.to_string().c_str());
  return 1;
}

}  // namespace

int run(const DemoOptions& options) {
  if (options.duration.count() < 1 || options.duration.count() > 3600) {
    std::fprintf(stderr, "ebpf-lb demo: --duration must be 1..3600 seconds\n");
    return 2;
  }
  install_signal_handlers();
  // Declared in reverse teardown order: balancer, servers, namespaces, then the work directory.
  WorkDir work;
  if (work.path().empty()) return fail("temp dir", ebpf::Error::from_errno(errno, "mkdtemp", "/tmp"));
  std::printf("building namespaces: client, lb, 3 backends ...\n");
  auto topology = Topology::create({.backends = 3, .offload = false, .prefix = "lbd"});
  if (!topology) return fail("topology", topology.error());
  std::vector<std::unique_ptr<Nginx>> nginx;
  std::vector<std::unique_ptr<UdpEcho>> echo;
  for (int i = 0; i < (*topology)->backend_count() && !g_interrupted; ++i) {
    const std::string dir = work.path() + "/" + (*topology)->backend_name(i);
    std::filesystem::create_directories(dir);
    auto server = Nginx::start({.netns = (*topology)->backend_netns(i), .name = (*topology)->backend_name(i),
                                .address = Topology::backend_address(i), .port = kHttpPort, .work_dir = dir, .workers = 1});
    if (!server) return fail("nginx", server.error());
    nginx.push_back(std::move(*server));
    auto udp = UdpEcho::start((*topology)->backend_netns(i), (*topology)->backend_name(i), kUdpPort);
    if (!udp) return fail("udp echo", udp.error());
    echo.push_back(std::move(*udp));
  }
  std::printf("starting ebpf-lb in %s ...\n", (*topology)->lb_netns().c_str());
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto balancer = Balancer::start(demo_settings(**topology), {.binary = self, .netns = (*topology)->lb_netns(),
                                                             .work_dir = work.path(), .extra_args = {},
                                                             .ready_timeout = std::chrono::seconds(20)});
  if (!balancer) return fail("ebpf-lb", balancer.error());

  ClientTally tally;
  std::atomic<bool> stop{false};
  const std::string client = Topology::path((*topology)->client_netns());
  std::thread traffic([&] {
    while (!stop && !g_interrupted) {
      tally.add(http_spread(client, Topology::kVip, kHttpPort, 10, Millis(1000)), tally.http);
      tally.add(udp_spread(client, Topology::kVip, kUdpPort, 5, Millis(500)), tally.udp);
    }
  });
  const int total = static_cast<int>(options.duration.count());
  for (int second = 1; second <= total && !g_interrupted; ++second) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    print_table(**topology, **balancer, tally, second, total);
  }
  stop = true;
  traffic.join();
  const int code = summary(**topology, tally);
  if (options.verbose) std::printf("\nebpf-lb log (tail):\n%s\n", (*balancer)->log_tail(4000).c_str());
  std::printf("cleaning up: ebpf-lb, servers, namespaces, pins, %s\n", work.path().c_str());
  return g_interrupted ? 130 : code;
}

}  // namespace lb::demo
