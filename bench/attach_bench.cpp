// Attach + detach cycles per second for each network attachment mechanism: XDP bpf_link vs netlink IFLA_XDP,
// tcx link vs classic clsact/cls_bpf filter. Everything happens on a veth pair inside a network namespace this
// benchmark creates (named "et<pid>x0bench", so the test suite's sweeper recognises a leftover) and deletes
// before exiting. Iterations are bounded so a slow kernel cannot make the run take long. Rates are per wall-clock
// second (UseRealTime): much of a cycle is the kernel waiting for RCU grace periods, not CPU time.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "ebpf/attach/tc.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/insn.hpp"
#include "ebpf/link.hpp"
#include "ebpf/netlink.hpp"
#include "ebpf/program.hpp"

namespace {

constexpr int kIterations = 300;

// A namespace with a veth pair; the benchmark attaches to "etbv0" inside it.
struct BenchNetns {
  std::string name = "et" + std::to_string(::getpid() % 100000) + "x0bench";
  ebpf::Fd fd;
  std::uint32_t ifindex = 0;
  bool ok = false;

  BenchNetns() {
    std::string ns = name;
    std::string cmd = "ip netns add " + ns + " && ip -n " + ns + " link add etbv0 type veth peer name etbv1 && ip -n " +
                      ns + " link set etbv0 up && ip -n " + ns + " link set etbv1 up";
    if (std::system(cmd.c_str()) != 0) return;
    auto opened = ebpf::netlink::NetnsGuard::enter("/var/run/netns/" + ns);
    if (!opened) return;
    auto index = ebpf::netlink::interface_index("etbv0");
    if (!index) return;
    ifindex = *index;
    fd = ebpf::Fd(::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
    ok = fd.valid();
  }
  ~BenchNetns() { std::system(("ip netns delete " + name + " 2>/dev/null").c_str()); }
};

BenchNetns* env = nullptr;

// r0 = verdict; exit
std::optional<ebpf::Program> trivial(ebpf::ProgType type, int verdict) {
  ebpf::Insn insns[2];
  insns[0].code = 0xb7;  // ALU64 | MOV | K
  insns[0].imm = verdict;
  insns[1].code = 0x95;  // JMP | EXIT
  auto p = ebpf::Program::load(type, insns);
  if (!p) return std::nullopt;
  return std::move(*p);
}

template <class Attach>
void cycle(benchmark::State& state, ebpf::ProgType type, int verdict, Attach attach) {
  if (env == nullptr || !env->ok) return state.SkipWithError("no benchmark namespace (needs root and iproute2)");
  auto program = trivial(type, verdict);
  if (!program) return state.SkipWithError("cannot load the program (needs root)");
  for (auto _ : state) {
    auto link = attach(*program);
    if (!link) return state.SkipWithError(link.error().to_string().c_str());
    auto detached = link->detach();
    if (!detached) return state.SkipWithError(detached.error().to_string().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("attach+detach cycles");
}

void BM_XdpLink(benchmark::State& state) {
  ebpf::XdpOptions o{ebpf::XdpMode::generic, ebpf::XdpMethod::link, false, env ? env->fd.get() : -1};
  cycle(state, ebpf::ProgType::xdp, 2, [&](const ebpf::Program& p) { return ebpf::attach_xdp(p, env->ifindex, o); });
}

void BM_XdpNetlink(benchmark::State& state) {
  ebpf::XdpOptions o{ebpf::XdpMode::generic, ebpf::XdpMethod::netlink, false, env ? env->fd.get() : -1};
  cycle(state, ebpf::ProgType::xdp, 2, [&](const ebpf::Program& p) { return ebpf::attach_xdp(p, env->ifindex, o); });
}

void BM_XdpLinkDriverMode(benchmark::State& state) {
  ebpf::XdpOptions o{ebpf::XdpMode::driver, ebpf::XdpMethod::link, false, env ? env->fd.get() : -1};
  cycle(state, ebpf::ProgType::xdp, 2, [&](const ebpf::Program& p) { return ebpf::attach_xdp(p, env->ifindex, o); });
}

void BM_TcxLink(benchmark::State& state) {
  ebpf::TcxOptions o;
  o.netns_fd = env ? env->fd.get() : -1;
  cycle(state, ebpf::ProgType::sched_cls, 0, [&](const ebpf::Program& p) {
    return ebpf::attach_tcx(p, env->ifindex, ebpf::TcDirection::ingress, o);
  });
}

void BM_ClsactFilter(benchmark::State& state) {
  ebpf::TcOptions o;
  o.netns_fd = env ? env->fd.get() : -1;
  o.create_qdisc = false;  // set up once: the cycle is filter add + delete
  if (env && env->ok) (void)ebpf::setup_tc_qdisc(env->ifindex, env->fd.get());
  cycle(state, ebpf::ProgType::sched_cls, 0, [&](const ebpf::Program& p) {
    return ebpf::attach_tc(p, env->ifindex, ebpf::TcDirection::ingress, o);
  });
}

// Two mechanisms alternately in one loop (the same load on this shared machine for both): one attach+detach
// cycle of each per iteration, timed separately; cycles/s of each and ratio = first / second (> 1: first faster).
template <class First, class Second>
void alternate(benchmark::State& state, ebpf::ProgType type, int verdict, First first, Second second) {
  using clock = std::chrono::steady_clock;
  if (env == nullptr || !env->ok) return state.SkipWithError("no benchmark namespace (needs root and iproute2)");
  auto program = trivial(type, verdict);
  if (!program) return state.SkipWithError("cannot load the program (needs root)");
  double seconds[2] = {0, 0};
  for (auto _ : state) {
    const auto t0 = clock::now();
    auto a = first(*program);
    if (!a) return state.SkipWithError(a.error().to_string().c_str());
    if (auto d = a->detach(); !d) return state.SkipWithError(d.error().to_string().c_str());
    const auto t1 = clock::now();
    auto b = second(*program);
    if (!b) return state.SkipWithError(b.error().to_string().c_str());
    if (auto d = b->detach(); !d) return state.SkipWithError(d.error().to_string().c_str());
    const auto t2 = clock::now();
    seconds[0] += std::chrono::duration<double>(t1 - t0).count();
    seconds[1] += std::chrono::duration<double>(t2 - t1).count();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["first_cycles_per_s"] = n / seconds[0];
  state.counters["second_cycles_per_s"] = n / seconds[1];
  state.counters["ratio"] = seconds[1] / seconds[0];
}

void BM_XdpLinkVsNetlink(benchmark::State& state) {
  ebpf::XdpOptions link{ebpf::XdpMode::generic, ebpf::XdpMethod::link, false, env ? env->fd.get() : -1};
  ebpf::XdpOptions nl{ebpf::XdpMode::generic, ebpf::XdpMethod::netlink, false, env ? env->fd.get() : -1};
  state.SetLabel("first: XDP link, second: netlink (generic mode)");
  alternate(
      state, ebpf::ProgType::xdp, 2, [&](const ebpf::Program& p) { return ebpf::attach_xdp(p, env->ifindex, link); },
      [&](const ebpf::Program& p) { return ebpf::attach_xdp(p, env->ifindex, nl); });
}

void BM_TcxVsClsact(benchmark::State& state) {
  ebpf::TcxOptions tcx;
  tcx.netns_fd = env ? env->fd.get() : -1;
  ebpf::TcOptions tc;
  tc.netns_fd = env ? env->fd.get() : -1;
  tc.create_qdisc = false;  // set up once (BM_ClsactFilter may have done it already)
  if (env && env->ok) (void)ebpf::setup_tc_qdisc(env->ifindex, env->fd.get());
  state.SetLabel("first: tcx link, second: clsact cls_bpf filter (ingress)");
  alternate(
      state, ebpf::ProgType::sched_cls, 0,
      [&](const ebpf::Program& p) { return ebpf::attach_tcx(p, env->ifindex, ebpf::TcDirection::ingress, tcx); },
      [&](const ebpf::Program& p) { return ebpf::attach_tc(p, env->ifindex, ebpf::TcDirection::ingress, tc); });
}

BENCHMARK(BM_XdpLink)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_XdpNetlink)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_XdpLinkDriverMode)->Iterations(kIterations / 4)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TcxLink)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ClsactFilter)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_XdpLinkVsNetlink)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TcxVsClsact)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  BenchNetns netns;  // deleted when main returns, whatever the benchmarks did
  env = &netns;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  env = nullptr;
  return 0;
}
