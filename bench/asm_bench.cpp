// Assembler throughput: a 4096-instruction program with labels (goal: under 100 µs), built from C++ calls and
// from text, plus disassembly of the same program.
#include <benchmark/benchmark.h>

#include <string>

#include "ebpf/assembler.hpp"
#include "ebpf/disasm.hpp"
#include "ebpf/text_asm.hpp"

namespace {

using namespace ebpf::isa;

// 512 blocks of 8 instructions: a label, a forward conditional jump, ALU work, a backward-reaching jump.
void build(ebpf::Assembler& a) {
  constexpr int kBlocks = 512;
  for (int b = 0; b < kBlocks; ++b) {
    const std::string here = "b" + std::to_string(b);
    const std::string next = "b" + std::to_string(b + 1 < kBlocks ? b + 1 : 0);
    a.label(here)
        .jeq(r1, b, next)
        .add(r0, b)
        .ldx(W, r2, r1, 4)
        .xor_(w2, w3)
        .stx(DW, r10, -8, r2)
        .lsh(r2, 3)
        .jsgt(r2, r3, here)
        .mov(r3, r2);
  }
  a.exit();
}

void BM_AssembleWithLabels(benchmark::State& state) {
  for (auto _ : state) {
    ebpf::Assembler a;
    build(a);
    auto code = std::move(a).finish();
    if (!code) state.SkipWithError(code.error().to_string().c_str());
    benchmark::DoNotOptimize(code);
  }
  state.SetItemsProcessed(state.iterations() * 4097);
}
BENCHMARK(BM_AssembleWithLabels)->Unit(benchmark::kMicrosecond);

std::string program_text() {
  ebpf::Assembler a;
  build(a);
  return ebpf::disassemble(*std::move(a).finish());
}

void BM_AssembleText(benchmark::State& state) {
  const std::string text = program_text();
  for (auto _ : state) {
    auto code = ebpf::assemble_text(text);
    benchmark::DoNotOptimize(code);
  }
  state.SetItemsProcessed(state.iterations() * 4097);
}
BENCHMARK(BM_AssembleText)->Unit(benchmark::kMicrosecond);

void BM_Disassemble(benchmark::State& state) {
  ebpf::Assembler a;
  build(a);
  const auto code = *std::move(a).finish();
  for (auto _ : state) benchmark::DoNotOptimize(ebpf::disassemble(code));
  state.SetItemsProcessed(state.iterations() * 4097);
}
BENCHMARK(BM_Disassemble)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
