// ebpf/dsl/tc_seeds.hpp — seed TC (sched_cls) programs built with the DSL: pass-all, and an IPv4-only filter
// that passes IPv4 frames (after at most one VLAN tag in the packet data) and drops everything else (IPv6,
// ARP, short frames). Attach them with ebpf/attach/tc.hpp (TCX links or cls_bpf).
#pragma once

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl {

// Appends the seed to `a` (a complete program: it ends with exit). r1 is the __sk_buff on entry.
Assembler& tc_pass_all(Assembler& a);    // TC_ACT_OK for every packet
Assembler& tc_ipv4_only(Assembler& a);   // TC_ACT_OK for IPv4, TC_ACT_SHOT for the rest

enum class TcSeed { pass_all, ipv4_only };

// Assembles and loads a seed as a SCHED_CLS program (name defaults to "tc_pass_all" / "tc_ipv4_only").
Result<Program> load_tc_seed(TcSeed seed, ProgramLoadOptions opts = {});

}  // namespace ebpf::dsl
