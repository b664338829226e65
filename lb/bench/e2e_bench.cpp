// End-to-end HTTP benchmark through the demo topology: wrk in the client namespace against nginx-light
// backends, in one run: (a) plain routing to one backend (the ceiling), (b) nftables DNAT with conntrack in
// the LB namespace (the kernel's own L4 NAT load balancing; IPVS is not in this kernel), (c) ebpf-lb with its
// DNAT program on XDP (the kernel's default mode: native on veth), (d) on generic XDP (`--xdp-mode generic`)
// and (e) on TC ingress (`--ingress-hook tc`), and (f, g, h) routing again with programs that only pass on
// each of those hooks (the hooks' own cost); each with keep-alive and with one connection per
// request. Every run speaks from a fresh client address (use_fresh_client_address says why).
//
// Runs on this VM drift by ±10% over minutes, so modes measured minutes apart are not comparable.
// `--rounds=N` registers every mode N times round-robin (round 0: each mode once, keep-alive then close;
// round 1: again ...), so all modes are sampled across the same time span; compare medians per mode.
//
// Counters: requests/s (wrk's figure), softirq CPU per request, and per request the packets the LB namespace
// received and the TCP retransmissions of client and backends (a mode that costs more per request because it
// makes more packets shows there). Softirq method and limits: the softirq column of /proc/stat summed over CPUs,
// before and after the wrk run, divided by the requests done. /proc/stat is machine-wide, so it includes the
// client's and backends' softirq work too (the same in every mode); differences between modes are the load
// balancer's own cost. Tick-based (10 ms jiffies): runs of a few seconds give a resolution of a few percent. A
// smoke run (--benchmark_min_time < 0.5) uses 1-second wrk runs and turns --bpf_stats on.
//
// `--bpf_stats` adds, for the ebpf-lb modes, the run time of ebpf-lb's own programs as the kernel accounts it
// (BPF_ENABLE_STATS): bpf_ns_per_req (all its programs, per request: the part of softirq_us_per_req that is
// ebpf-lb's) and bpf_in_ns_per_run / bpf_out_ns_per_run (per packet at the DNAT and the SNAT hook). Off by
// default: the accounting itself reads the clock twice per run, which the comparison with nftables must not pay.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/netlink.hpp"
#include "ebpf/program.hpp"
#include "lb/demo/backends.hpp"
#include "lb/demo/balancer.hpp"
#include "lb/demo/process.hpp"
#include "lb/demo/topology.hpp"

namespace {

using namespace lb::demo;

int g_seconds = 3;
// Backends the balancing modes spread over (--lb_backends=N, 1..3). Routed mode always talks to backend 1
// alone, so --lb_backends=1 compares the balancers with routing on the same server side (one nginx), and the
// default 3 adds the cost of fanning out over three backend namespaces on 2 vCPUs.
int g_lb_backends = 3;
// ebpf-lb's conntrack capacity (--lb_conntrack=N). Default: nf_conntrack_max here (262144), so both NATs
// hold the same number of flows. The demo's 65536 fills within seconds at one connection per request (closed
// flows wait out the transitory timeout), and every new flow then pays an LRU eviction.
std::uint32_t g_lb_conntrack = 262144;
bool g_bpf_stats = false;  // --bpf_stats

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

// The programs on the load balancer namespace's client-facing interface: ingress (XDP or tcx) and egress (tcx).
struct HookPrograms {
  std::vector<ebpf::Program> ingress;
  std::vector<ebpf::Program> egress;
  bool empty() const { return ingress.empty() && egress.empty(); }
};
ebpf::Result<HookPrograms> attached_programs(const std::string& netns) {
  auto guard = EBPF_TRY(ebpf::netlink::NetnsGuard::enter(Topology::path(netns)));
  const auto ifindex = EBPF_TRY(ebpf::netlink::interface_index(Topology::kIngressInterface));
  HookPrograms programs;
  if (auto xdp = EBPF_TRY(ebpf::query_xdp(ifindex)); xdp.prog_id != 0)
    programs.ingress.push_back(EBPF_TRY(ebpf::Program::from_id(xdp.prog_id)));
  for (auto direction : {ebpf::TcDirection::ingress, ebpf::TcDirection::egress}) {
    auto& into = direction == ebpf::TcDirection::ingress ? programs.ingress : programs.egress;
    for (auto id : EBPF_TRY(ebpf::query_tcx(ifindex, direction)).prog_ids)
      into.push_back(EBPF_TRY(ebpf::Program::from_id(id)));
  }
  return programs;
}

// Packets the load balancer namespace's interfaces (loopback aside) received, summed from /proc/net/dev read
// inside the namespace; -1 when unreadable.
double lb_rx_packets(const std::string& netns) {
  auto text = run_command({"cat", "/proc/net/dev"}, Topology::path(netns));
  if (!text) return -1;
  std::istringstream in(*text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.find("lo:") != std::string::npos) continue;
    std::istringstream fields(line.substr(colon + 1));
    double bytes = 0, packets = 0;
    if (fields >> bytes >> packets) sum += packets;
  }
  return sum;
}
// TCP segments the client and the backends retransmitted (Tcp RetransSegs of /proc/net/snmp); -1 when unreadable.
double tcp_retransmits(const Topology& topology) {
  double sum = static_cast<double>(topology.snmp_counter(topology.client_netns(), "Tcp", "RetransSegs"));
  for (int i = 0; i < g_lb_backends && sum >= 0; ++i) {
    const auto backend = topology.snmp_counter(topology.backend_netns(i), "Tcp", "RetransSegs");
    sum = backend < 0 ? -1 : sum + static_cast<double>(backend);
  }
  return sum;
}

// Run time and runs summed over `programs` (non-zero only while run stats are on).
struct RunStats {
  double ns = 0;
  double runs = 0;
};
RunStats run_stats(const std::vector<ebpf::Program>& programs) {
  RunStats sum;
  for (const auto& p : programs)
    if (auto info = p.info()) {
      sum.ns += static_cast<double>(info->run_time_ns);
      sum.runs += static_cast<double>(info->run_count);
    }
  return sum;
}

// Gives the client a source address no earlier run used (within the last 240 runs) and routes its traffic
// from it. Without this, one connection per request makes runs interfere: the backends hold each closed
// connection in TIME_WAIT for 60 s, wrk cycles through the client's 28k ports in ~2 s, and a SYN that meets
// a TIME_WAIT socket of a run that spoke to another destination (the backend itself when routed, the VIP
// otherwise: another TCP timestamp offset) fails the timestamp check and is retransmitted. Measured: ~0.13
// retransmissions per request in every run right after a change of destination, none otherwise, so the
// routed ceiling and the mode after it ran ~20% slower and with 4% more packets.
ebpf::Result<void> use_fresh_client_address(const Topology& topology) {
  static int runs = 0;
  const std::string address = "10.77.0." + std::to_string(10 + runs++ % 240);
  const std::string netns = Topology::path(topology.client_netns());
  EBPF_TRY(run_command({"ip", "addr", "replace", address + "/24", "dev", "c0"}, netns));
  EBPF_TRY(run_command({"ip", "route", "replace", "default", "via", Topology::kLbClientAddress, "src", address}, netns));
  return ebpf::ok();
}

// Runs wrk against `address` and sets the counters; an error message or empty. `programs`: the balancer's
// programs to report run time for (--bpf_stats).
std::string run_wrk(benchmark::State& state, const std::string& address, bool keep_alive,
                    const HookPrograms& programs) {
  auto& b = bench();
  std::vector<std::string> argv{"wrk", "-t1", "-c32", "-d" + std::to_string(g_seconds) + "s"};
  if (!keep_alive) argv.insert(argv.end(), {"-H", "Connection: close"});
  argv.push_back("http://" + address + "/");
  if (auto fresh = use_fresh_client_address(*b.topology); !fresh) return fresh.error().to_string();
  const double rx_before = lb_rx_packets(b.topology->lb_netns());
  const double retrans_before = tcp_retransmits(*b.topology);
  const RunStats in_before = run_stats(programs.ingress), out_before = run_stats(programs.egress);
  const double before = softirq_seconds();
  auto out = run_command(argv, Topology::path(b.topology->client_netns()), std::chrono::seconds(g_seconds + 30));
  const double after = softirq_seconds();
  const RunStats in_after = run_stats(programs.ingress), out_after = run_stats(programs.egress);
  const double rx_after = lb_rx_packets(b.topology->lb_netns());
  const double retrans_after = tcp_retransmits(*b.topology);
  if (!out) return out.error().to_string();
  const auto rps_at = out->find("Requests/sec:");
  const auto total_at = out->find(" requests in ");
  if (rps_at == std::string::npos || total_at == std::string::npos) return "cannot parse wrk output: " + *out;
  const double rps = std::strtod(out->c_str() + rps_at + 13, nullptr);
  const double requests = std::strtod(out->c_str() + out->rfind('\n', total_at) + 1, nullptr);
  for (const char* marker : {"Non-2xx", "Socket errors"})
    if (const auto at = out->find(marker); at != std::string::npos) {
      state.counters["errors_reported"] = 1;
      std::fprintf(stderr, "wrk (%s) reported %s\n", keep_alive ? "keep-alive" : "one connection per request",
                   out->substr(at, out->find('\n', at) - at).c_str());
    }
  state.counters["requests_per_s"] = rps;
  state.counters["softirq_us_per_req"] = requests > 0 ? (after - before) * 1e6 / requests : 0;
  if (requests > 0 && rx_before >= 0 && rx_after >= 0)
    state.counters["lb_rx_pkts_per_req"] = (rx_after - rx_before) / requests;
  if (requests > 0 && retrans_before >= 0 && retrans_after >= 0)
    state.counters["tcp_retrans_per_req"] = (retrans_after - retrans_before) / requests;
  if (!programs.empty()) {
    const double in_ns = in_after.ns - in_before.ns, in_runs = in_after.runs - in_before.runs;
    const double out_ns = out_after.ns - out_before.ns, out_runs = out_after.runs - out_before.runs;
    state.counters["bpf_ns_per_req"] = requests > 0 ? (in_ns + out_ns) / requests : 0;
    state.counters["bpf_in_ns_per_run"] = in_runs > 0 ? in_ns / in_runs : 0;
    state.counters["bpf_out_ns_per_run"] = out_runs > 0 ? out_ns / out_runs : 0;
    if (in_runs == 0 || out_runs == 0) return "run stats on, but a hook's programs never ran: traffic bypassed ebpf-lb";
  }
  return {};
}

void run_mode(benchmark::State& state, const std::string& address, bool keep_alive,
              const HookPrograms& programs = {}) {
  for (auto _ : state) {
    if (auto e = run_wrk(state, address, keep_alive, programs); !e.empty()) {
      state.SkipWithError(e.c_str());
      return;
    }
  }
}

void BM_Routed(benchmark::State& state) {
  if (!bench().error.empty()) return state.SkipWithError(bench().error.c_str());
  run_mode(state, Topology::backend_address(0), state.range(0) != 0);
}

// Routed, with programs that only say "pass" on the hooks ebpf-lb uses on the LB's client-facing interface
// (XDP in the kernel's default mode, generic XDP, or tcx ingress; and tcx egress): what the hooks themselves
// cost, before any program work. On a veth the default XDP mode is native, which queues the peer's skbs to a
// NAPI poller and copies every cloned one (TCP transmits clones) into a page-pool buffer before the program
// sees it. ebpf-lb's excess over its hook's floor is its own.
enum class Hook { xdp, xdp_generic, tc };
ebpf::Result<ebpf::Program> pass_program(ebpf::ProgType type, std::int32_t verdict) {
  using namespace ebpf::isa;
  ebpf::Assembler a;
  a.mov(r0, verdict).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ebpf::ProgramLoadOptions options;
  options.name = "lbbench_pass";
  return ebpf::Program::load(type, code.span(), options);
}
ebpf::Result<std::vector<ebpf::Link>> attach_pass_hooks(const std::string& netns, Hook hook) {
  constexpr std::int32_t kXdpPass = 2, kTcxNext = -1;
  auto guard = EBPF_TRY(ebpf::netlink::NetnsGuard::enter(Topology::path(netns)));
  const auto ifindex = EBPF_TRY(ebpf::netlink::interface_index(Topology::kIngressInterface));
  const auto tc = EBPF_TRY(pass_program(ebpf::ProgType::sched_cls, kTcxNext));
  std::vector<ebpf::Link> links;
  if (hook == Hook::tc) {
    links.push_back(EBPF_TRY(ebpf::attach_tcx(tc, ifindex, ebpf::TcDirection::ingress)));
  } else {
    ebpf::XdpOptions options;
    options.mode = hook == Hook::xdp_generic ? ebpf::XdpMode::generic : ebpf::XdpMode::unspecified;
    links.push_back(EBPF_TRY(ebpf::attach_xdp(EBPF_TRY(pass_program(ebpf::ProgType::xdp, kXdpPass)), ifindex, options)));
  }
  links.push_back(EBPF_TRY(ebpf::attach_tcx(tc, ifindex, ebpf::TcDirection::egress)));
  return links;
}
void run_routed_with_pass_hooks(benchmark::State& state, Hook hook) {
  auto& b = bench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  auto links = attach_pass_hooks(b.topology->lb_netns(), hook);
  if (!links) return state.SkipWithError(links.error().to_string().c_str());
  run_mode(state, Topology::backend_address(0), state.range(0) != 0);
}
void BM_RoutedPassXdp(benchmark::State& state) { run_routed_with_pass_hooks(state, Hook::xdp); }
void BM_RoutedPassXdpGeneric(benchmark::State& state) { run_routed_with_pass_hooks(state, Hook::xdp_generic); }
void BM_RoutedPassTc(benchmark::State& state) { run_routed_with_pass_hooks(state, Hook::tc); }

void BM_NftablesDnat(benchmark::State& state) {
  auto& b = bench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  const std::string rules = b.work + "/dnat.nft";
  std::ofstream out(rules);
  out << "table ip lbbench {\n  chain pre {\n    type nat hook prerouting priority dstnat;\n"
      << "    ip daddr " << Topology::kVip << " tcp dport 80 dnat to numgen inc mod " << g_lb_backends << " map { ";
  for (int i = 0; i < g_lb_backends; ++i) out << (i ? ", " : "") << i << " : " << Topology::backend_address(i);
  out << " }\n  }\n}\n";
  out.close();
  const std::string lb = Topology::path(b.topology->lb_netns());
  if (auto loaded = run_command({"nft", "-f", rules}, lb); !loaded) return state.SkipWithError(loaded.error().to_string().c_str());
  run_mode(state, Topology::kVip, state.range(0) != 0);
  (void)run_command({"nft", "delete", "table", "ip", "lbbench"}, lb);
}

void run_ebpf_lb(benchmark::State& state, std::vector<std::string> extra_args) {
  auto& b = bench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  BalancerSettings s;
  s.pin_dir = "/sys/fs/bpf/" + b.topology->lb_netns();
  s.conntrack_max = g_lb_conntrack;
  DemoService web{.name = "web", .vip = Topology::kVip, .port = 80, .protocol = "tcp", .scheduler = "maglev",
                  .health_check = "none", .backends = {}};
  for (int i = 0; i < g_lb_backends; ++i) web.backends.push_back({b.topology->backend_name(i), Topology::backend_address(i), 80, 1});
  s.services = {web};
  const std::string binary = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ebpf-lb").string();
  auto balancer = Balancer::start(s, {.binary = binary, .netns = b.topology->lb_netns(), .work_dir = b.work,
                                      .extra_args = std::move(extra_args), .ready_timeout = std::chrono::seconds(20)});
  if (!balancer) return state.SkipWithError(balancer.error().to_string().c_str());
  std::optional<ebpf::Fd> stats_on;
  HookPrograms programs;
  if (g_bpf_stats) {
    auto on = ebpf::enable_run_stats();
    if (!on) return state.SkipWithError(on.error().to_string().c_str());
    auto found = attached_programs(b.topology->lb_netns());
    if (!found) return state.SkipWithError(found.error().to_string().c_str());
    if (found->empty()) return state.SkipWithError("ebpf-lb attached no program to its ingress interface");
    stats_on = std::move(*on);
    programs = std::move(*found);
  }
  run_mode(state, Topology::kVip, state.range(0) != 0, programs);
}

void BM_EbpfLbXdp(benchmark::State& state) { run_ebpf_lb(state, {}); }
void BM_EbpfLbXdpGeneric(benchmark::State& state) { run_ebpf_lb(state, {"--xdp-mode", "generic"}); }
void BM_EbpfLbTc(benchmark::State& state) { run_ebpf_lb(state, {"--ingress-hook", "tc"}); }

// Every mode, keep-alive (arg 1) and one connection per request (arg 0), `rounds` times round-robin. Google
// Benchmark runs benchmarks in registration order, so round r of every mode runs before round r + 1 of any.
void register_rounds(int rounds) {
  const std::pair<const char*, void (*)(benchmark::State&)> modes[] = {
      {"BM_Routed", BM_Routed},
      {"BM_RoutedPassXdp", BM_RoutedPassXdp},
      {"BM_RoutedPassXdpGeneric", BM_RoutedPassXdpGeneric},
      {"BM_RoutedPassTc", BM_RoutedPassTc},
      {"BM_NftablesDnat", BM_NftablesDnat},
      {"BM_EbpfLbXdp", BM_EbpfLbXdp},
      {"BM_EbpfLbXdpGeneric", BM_EbpfLbXdpGeneric},
      {"BM_EbpfLbTc", BM_EbpfLbTc}};
  constexpr int kModes = static_cast<int>(std::size(modes));
  for (int round = 0; round < rounds; ++round)
    for (int keep_alive : {1, 0})
      for (int m = 0; m < kModes; ++m) {
        // Each round starts one mode later: a mode's figures depend on what ran just before it (TIME_WAIT
        // sockets, freed maps), and rotating spreads that over every mode instead of always the same pairs.
        const auto& [name, fn] = modes[(m + round) % kModes];
        const std::string full = std::string(name) + (rounds > 1 ? "/round:" + std::to_string(round) : "");
        benchmark::RegisterBenchmark(full.c_str(), fn)
            ->ArgName("keepalive")->Arg(keep_alive)->Iterations(1)->Unit(benchmark::kMillisecond);
      }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 1;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    // A smoke run: 1-second wrk runs, and --bpf_stats on, so the smoke run also checks that the traffic went
    // through both of ebpf-lb's hooks (its figures mean nothing at that length anyway).
    if (arg.rfind("--benchmark_min_time=", 0) == 0 && std::strtod(arg.c_str() + 21, nullptr) < 0.5) {
      g_seconds = 1;
      g_bpf_stats = true;
    }
    if (arg.rfind("--rounds=", 0) == 0) {
      rounds = std::max(1, std::atoi(arg.c_str() + 9));
      continue;  // ours, not Google Benchmark's
    }
    if (arg.rfind("--lb_backends=", 0) == 0) {
      g_lb_backends = std::clamp(std::atoi(arg.c_str() + 14), 1, 3);
      continue;
    }
    if (arg.rfind("--lb_conntrack=", 0) == 0) {
      g_lb_conntrack = static_cast<std::uint32_t>(std::max(1024L, std::atol(arg.c_str() + 15)));
      continue;
    }
    if (arg == "--bpf_stats") {
      g_bpf_stats = true;
      continue;
    }
    if (arg.rfind("--seconds=", 0) == 0) {  // wrk duration per run (default 3)
      g_seconds = std::max(1, std::atoi(arg.c_str() + 10));
      continue;
    }
    argv[kept++] = argv[i];
  }
  argc = kept;
  register_rounds(rounds);
  if (geteuid() != 0) {
    std::fprintf(stderr, "lb_bench_e2e needs root (network namespaces); skipping\n");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
