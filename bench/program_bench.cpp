// Program::test_run and Program::load overhead against the raw bpf() syscall (and libbpf when present).
// Each BPF_PROG_TEST_RUN here runs a trivial XDP_PASS program once, so the numbers are the per-call cost of
// the user-space path plus ~1 µs of syscall on this VM; the program itself costs a few ns.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <vector>

#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

#ifdef EBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#endif

namespace {

std::vector<ebpf::Insn> xdp_pass() {
  std::vector<ebpf::Insn> v(2);
  v[0].code = 0xb7;  // r0 = 2 (XDP_PASS)
  v[0].imm = 2;
  v[1].code = 0x95;  // exit
  return v;
}

std::vector<std::uint8_t> frame() {
  using namespace ebpf::packet;
  auto f = Builder().ethernet(Mac{2, 0, 0, 0, 0, 1}, Mac{2, 0, 0, 0, 0, 2})
               .ipv4(Ipv4Addr{10, 0, 0, 1}, Ipv4Addr{10, 0, 0, 2})
               .udp(1, 2)
               .payload(std::string(22, 'x'))
               .build();
  return f ? *f : std::vector<std::uint8_t>(64);
}

ebpf::Result<ebpf::Program> load() {
  ebpf::ProgramLoadOptions o;
  o.name = "bench_pass";
  return ebpf::Program::load(ebpf::ProgType::xdp, xdp_pass(), o);
}

void BM_TestRunLibrary(benchmark::State& state) {
  auto prog = load();
  if (!prog) return state.SkipWithError(prog.error().to_string().c_str());
  auto data = frame();
  ebpf::TestRunOptions opts;
  opts.data_in = data;
  for (auto _ : state) {
    auto r = prog->test_run(opts);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r->retval);
  }
}
BENCHMARK(BM_TestRunLibrary);

void BM_TestRunRawSyscall(benchmark::State& state) {
  auto prog = load();
  if (!prog) return state.SkipWithError(prog.error().to_string().c_str());
  auto data = frame();
  std::vector<std::uint8_t> out(data.size() + ebpf::kDataOutHeadroom);
  for (auto _ : state) {
    ebpf::sys::TestRunAttr a;
    a.prog_fd = static_cast<std::uint32_t>(prog->fd());
    a.data_in = ebpf::sys::ptr(data.data());
    a.data_size_in = static_cast<std::uint32_t>(data.size());
    a.data_out = ebpf::sys::ptr(out.data());
    a.data_size_out = static_cast<std::uint32_t>(out.size());
    a.repeat = 1;
    auto r = ebpf::sys::bpf(ebpf::sys::Cmd::prog_test_run, &a, sizeof a);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(a.retval);
  }
}
BENCHMARK(BM_TestRunRawSyscall);

#ifdef EBPF_HAVE_LIBBPF
void BM_TestRunLibbpf(benchmark::State& state) {
  auto prog = load();
  if (!prog) return state.SkipWithError(prog.error().to_string().c_str());
  auto data = frame();
  std::vector<std::uint8_t> out(data.size() + ebpf::kDataOutHeadroom);
  for (auto _ : state) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = out.data(),
                .data_size_in = static_cast<__u32>(data.size()), .data_size_out = static_cast<__u32>(out.size()),
                .repeat = 1);
    int err = bpf_prog_test_run_opts(prog->fd(), &opts);
    if (err) return state.SkipWithError("bpf_prog_test_run_opts failed");
    benchmark::DoNotOptimize(opts.retval);
  }
}
BENCHMARK(BM_TestRunLibbpf);
#endif

// Amortised in-kernel cost: one syscall, many runs (reported per packet).
void BM_TestRunRepeatPerPacket(benchmark::State& state) {
  auto prog = load();
  if (!prog) return state.SkipWithError(prog.error().to_string().c_str());
  auto data = frame();
  ebpf::TestRunOptions opts;
  opts.data_in = data;
  opts.repeat = 10000;
  for (auto _ : state) {
    auto r = prog->test_run(opts);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r->retval);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * opts.repeat);
}
BENCHMARK(BM_TestRunRepeatPerPacket);

void BM_LoadTrivialXdp(benchmark::State& state) {
  auto insns = xdp_pass();
  ebpf::ProgramLoadOptions o;
  o.name = "bench_load";
  for (auto _ : state) {
    auto prog = ebpf::Program::load(ebpf::ProgType::xdp, insns, o);
    if (!prog) return state.SkipWithError(prog.error().to_string().c_str());
    benchmark::DoNotOptimize(prog->fd());
  }
}
BENCHMARK(BM_LoadTrivialXdp);

#ifdef EBPF_HAVE_LIBBPF
void BM_LoadTrivialXdpLibbpf(benchmark::State& state) {
  auto insns = xdp_pass();
  for (auto _ : state) {
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_load", "GPL", reinterpret_cast<const bpf_insn*>(insns.data()),
                           insns.size(), nullptr);
    if (fd < 0) return state.SkipWithError("bpf_prog_load failed");
    ::close(fd);
  }
}
BENCHMARK(BM_LoadTrivialXdpLibbpf);
#endif

}  // namespace

BENCHMARK_MAIN();
