// The README's example, compiled so it cannot rot: counts one packet with a C++-assembled XDP program.
#include <cstdio>

#include "ebpf/assembler.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
using namespace ebpf::isa;

ebpf::Result<std::uint64_t> count_one_packet() {
  auto counters = EBPF_TRY(ebpf::PerCpuArrayMap<std::uint64_t>::create("counters", 1));
  ebpf::Assembler a;  // an XDP program written in C++, no clang involved
  a.st(W, r10, -4, 0)
      .ld_map(r1, "counters").mov(r2, r10).add(r2, -4)
      .call("map_lookup_elem")
      .jeq(r0, 0, "out")
      .mov(r1, 1).atomic_add(DW, r0, 0, r1)
      .label("out").mov(r0, 2 /* XDP_PASS */).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  EBPF_TRY(code.resolve("counters", counters.fd()));
  auto prog = EBPF_TRY(ebpf::Program::load(ebpf::ProgType::xdp, code.span()));
  auto frame = EBPF_TRY(ebpf::packet::Builder().ethernet({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
                            .ipv4({10, 0, 0, 1}, {10, 0, 0, 2}).udp(1000, 53).build());
  auto run = EBPF_TRY(prog.test_run({.data_in = frame}));  // BPF_PROG_TEST_RUN
  (void)run.retval;                                         // 2
  return EBPF_TRY(counters.lookup(0)).sum();                // 1, summed over possible CPUs
}

int main() {
  auto n = count_one_packet();
  if (!n) {
    std::fprintf(stderr, "%s\n", n.error().to_string().c_str());
    return 1;
  }
  std::printf("packets counted: %llu\n", static_cast<unsigned long long>(*n));
  return *n == 1 ? 0 : 1;
}
