// ebpf/dsl/func_info.hpp — the BTF a DSL program needs when it passes a subprogram as a callback.
//
// The verifier refuses a BPF_PSEUDO_FUNC load (ld_func: bpf_loop, bpf_for_each_map_elem, timers) with
// "missing btf func_info" unless the program comes with BTF and one func_info record per function. A clang
// object carries those in .BTF/.BTF.ext; a DSL program gets them from here: one FUNC per subprogram of the
// assembled code (Assembler::function labels) plus one for the main program, all `int f(void)` and static
// (static functions are verified in their caller's context, so their real arguments need no BTF).
//
//   auto code = a.finish();
//   auto btf = EBPF_TRY(dsl::callback_btf(*code));
//   ProgramLoadOptions opts;
//   btf.apply(opts);                                      // btf must outlive the load
//   auto prog = Program::load(ProgType::xdp, code->span(), opts);
#pragma once

#include <cstdint>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl {

struct ProgramBtf {
  Fd btf;
  std::vector<std::uint32_t> func_info;  // struct bpf_func_info records: {insn_off, type_id} pairs

  // Points `opts` at this BTF and its func_info records.
  void apply(ProgramLoadOptions& opts) const;
};

// Builds and loads BTF naming every function of `code` (label characters other than [A-Za-z0-9_] become '_').
Result<ProgramBtf> callback_btf(const Bytecode& code);

}  // namespace ebpf::dsl
