// End-to-end HTTP benchmark through the demo topology: wrk in the client namespace against nginx-light
// backends, in one run: (a) plain routing to one backend (the ceiling), (b) nftables DNAT with conntrack in
// the LB namespace (the kernel's own L4 NAT load balancing; IPVS is not in this kernel), (c) ebpf-lb; each
// with keep-alive and with one connection per request.
//
// Counters: requests/s (wrk's figure) and softirq CPU per request. Method and limits of the latter: the
// softirq column of /proc/stat summed over CPUs, before and after the wrk run, divided by the requests
// done. /proc/stat is machine-wide, so it includes the client's and backends' softirq work too (the same
// in every mode); differences between modes are the load balancer's own cost. Tick-based (10 ms jiffies):
// runs of a few seconds give a resolution of a few percent. A smoke run (--benchmark_min_time < 0.5) uses
// 1-second wrk runs.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/process.hpp"
#include "lb/demo/topology.hpp"

namespace {

using namespace lb::demo;

int g_seconds = 3;

// Softirq time of all CPUs in ticks (first line of /proc/stat: cpu user nice system idle iowait irq softirq).
double softirq_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double fields[7] = {};
  in >> cpu;
  for (double& f : fields) in >> f;
  return fields[6] / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Bench {
  std::string work;
  std::unique_ptr<Topology> topology;
  std::vector<std::unique_ptr<Nginx>> nginx;
  std::string error;

  Bench() {
    char pattern[] = "/tmp/lb-e2e-bench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) { error = "mkdtemp failed"; return; }
    work = pattern;
    auto t = Topology::create({.backends = 3, .offload = false, .prefix = "lbb"});
    if (!t) { error = t.error().to_string(); return; }
    topology = std::move(*t);
    for (int i = 0; i < 3; ++i) {
      const std::string dir = work + "/" + topology->backend_name(i);
      std::filesystem::create_directories(dir);
      auto n = Nginx::start({.netns = topology->backend_netns(i), .name = topology->backend_name(i),
                             .address = Topology::backend_address(i), .port = 80, .work_dir = dir, .workers = 1});
      if (!n) { error = n.error().to_string(); return; }
      nginx.push_back(std::move(*n));
    }
  }
  ~Bench() {
    nginx.clear();
    topology.reset();
    std::error_code ec;
    if (!work.empty()) std::filesystem::remove_all(work, ec);
  }
};

Bench& bench() {
  static Bench instance;
  return instance;
}

// Runs wrk against `address` and sets the counters; an error message or empty.
std::string run_wrk(benchmark::State& state, const std::string& address, bool keep_alive) {
  auto& b = bench();
  std::vector<std::string> argv{"wrk", "-t1", "-c32", "-d" + std::to_string(g_seconds) + "s"};
  if (!keep_alive) argv.insert(argv.end(), {"-H", "Connection: close"});
  argv.push_back("http://" + address + "/");
  const double before = softirq_seconds();
  auto out = run_command(argv, Topology::path(b.topology->client_netns()), std::chrono::seconds(g_seconds + 30));
  const double after = softirq_seconds();
  if (!out) return out.error().to_string();
  const auto rps_at = out->find("Requests/sec:");
  const auto total_at = out->find(" requests in ");
  if (rps_at == std::string::npos || total_at == std::string::npos) return "cannot parse wrk output: " + *out;
  const double rps = std::strtod(out->c_str() + rps_at + 13, nullptr);
  const double requests = std::strtod(out->c_str() + out->rfind('\n', total_at) + 1, nullptr);
  if (out->find("Non-2xx") != std::string::npos || out->find("Socket errors") != std::string::npos)
    state.counters["errors_reported"] = 1;
  state.counters["requests_per_s"] = rps;
  state.counters["softirq_us_per_req"] = requests > 0 ? (after - before) * 1e6 / requests : 0;
  return {};
}

void run_mode(benchmark::State& state, const std::string& address, bool keep_alive) {
  for (auto _ : state) {
    if (auto e = run_wrk(state, address, keep_alive); !e.empty()) {
      state.SkipWithError(e.c_str());
      return;
    }
  }
}

void BM_Routed(benchmark::State& state) {
  if (!bench().error.empty()) return state.SkipWithError(bench().error.c_str());
  run_mode(state, Topology::backend_address(0), state.range(0) != 0);
}

void BM_NftablesDnat(benchmark::State& state) {
  auto& b = bench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  const std::string rules = b.work + "/dnat.nft";
  std::ofstream(rules) << "table ip lbbench {\n  chain pre {\n    type nat hook prerouting priority dstnat;\n"
                       << "    ip daddr " << Topology::kVip << " tcp dport 80 dnat to numgen inc mod 3 map { 0 : "
                       << Topology::backend_address(0) << ", 1 : " << Topology::backend_address(1) << ", 2 : "
                       << Topology::backend_address(2) << " }\n  }\n}\n";
  const std::string lb = Topology::path(b.topology->lb_netns());
  if (auto loaded = run_command({"nft", "-f", rules}, lb); !loaded) return state.SkipWithError(loaded.error().to_string().c_str());
  run_mode(state, Topology::kVip, state.range(0) != 0);
  (void)run_command({"nft", "delete", "table", "ip", "lbbench"}, lb);
}

void BM_EbpfLb(benchmark::State& state) {
  auto& b = bench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  BalancerSettings s;
  s.pin_dir = "/sys/fs/bpf/" + b.topology->lb_netns();
  DemoService web{.name = "web", .vip = Topology::kVip, .port = 80, .protocol = "tcp", .scheduler = "maglev",
                  .health_check = "none", .backends = {}};
  for (int i = 0; i < 3; ++i) web.backends.push_back({b.topology->backend_name(i), Topology::backend_address(i), 80, 1});
  s.services = {web};
  const std::string binary = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ebpf-lb").string();
  auto balancer = Balancer::start(s, {.binary = binary, .netns = b.topology->lb_netns(), .work_dir = b.work,
                                      .extra_args = {}, .ready_timeout = std::chrono::seconds(20)});
  if (!balancer) return state.SkipWithError(balancer.error().to_string().c_str());
  run_mode(state, Topology::kVip, state.range(0) != 0);
}

// Arg: 1 = keep-alive, 0 = one connection per request.
BENCHMARK(BM_Routed)->ArgName("keepalive")->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NftablesDnat)->ArgName("keepalive")->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EbpfLb)->ArgName("keepalive")->Arg(1)->Arg(0)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--benchmark_min_time=", 0) == 0 && std::strtod(arg.c_str() + 21, nullptr) < 0.5) g_seconds = 1;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "lb_bench_e2e needs root (network namespaces); skipping\n");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
