// ebpf/dsl/usdt.hpp — the BPF side of USDT probes: a program attached with attach_usdt (ebpf/attach/usdt.hpp)
// finds the spec of the site that fired through bpf_get_attach_cookie() and decodes argument N of the probe
// from the pt_regs in its context (registers) and from user memory (bpf_probe_read_user), the way libbpf's
// usdt.bpf.h does for C programs.
//
//   dsl::UsdtRegs u;                                // ctx in r6, spec pointer in r7, 16 bytes at fp-16
//   a.mov(r6, r1);
//   EBPF_TRY(dsl::usdt_load_spec(a, "usdt_specs", u, "out"));   // r7 = &specs[cookie] or goto out
//   EBPF_TRY(dsl::usdt_arg(a, 0, r8, u, "out"));                // r8 = first argument
//   EBPF_TRY(dsl::usdt_arg(a, 1, r9, u, "out"));                // r9 = second argument
//
// The value comes out zero- or sign-extended to 64 bits as the argument's size and sign say. Helper calls
// clobber r0..r5; the context and spec registers must be callee-saved (r6..r9) and are left unchanged.
#pragma once

#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/usdt.hpp"
#include "ebpf/dsl/maps.hpp"
#include "ebpf/error.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

struct UsdtRegs {
  isa::Reg ctx = isa::r6;    // the program's context (pt_regs), saved from r1
  isa::Reg spec = isa::r7;   // &UsdtSpec of the site that fired, set by usdt_load_spec
  std::int16_t stack = -16;  // 16 bytes of scratch stack at [fp+stack, fp+stack+16), 8-byte aligned
};

// spec = &spec_map[bpf_get_attach_cookie(ctx)], or goto `fail` when the map has no such entry.
Result<void> usdt_load_spec(Assembler& a, const MapRef& spec_map, const UsdtRegs& regs, Assembler::Label fail);
// dst = argument n (0-based) of the site; goto `fail` when the site has no argument n or its memory cannot
// be read. dst may be any of r0..r9 other than regs.ctx and regs.spec.
Result<void> usdt_arg(Assembler& a, int n, isa::Reg dst, const UsdtRegs& regs, Assembler::Label fail);
// dst = the number of arguments of the site / the UsdtOptions::cookie it was attached with.
Assembler& usdt_arg_count(Assembler& a, isa::Reg dst, const UsdtRegs& regs);
Assembler& usdt_cookie(Assembler& a, isa::Reg dst, const UsdtRegs& regs);

}  // namespace ebpf::dsl
