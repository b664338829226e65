// ebpf/dsl/loop.hpp — bounded loops the verifier accepts.
//
// counted_loop emits an ordinary backward-jumping loop over a counter register: `for (i = 0; i < count; i++)
// body`. The verifier (Linux 5.3+) follows it iteration by iteration, so `count` is a constant and the body
// must keep the counter intact; the total (iterations × body) must fit the verifier's 1M-instruction budget.
//   dsl::counted_loop(a, r6, 16, [](Assembler& a) { a.add(r7, r6); });   // r7 += 0 + 1 + ... + 15
//
// bpf_loop (Linux 5.17+) runs a callback subprogram up to `count` times (count may be a run-time value up to
// 2^23); the verifier checks the callback once. The callback is `long cb(u64 index, void *ctx)` defined with
// Assembler::function(name) after the main program's exit: r1 = index, r2 = ctx; it returns 0 to continue
// and 1 to stop early. A program passing a callback must be loaded with BTF func_info: see dsl/func_info.hpp.
//   a.st(DW, r10, -8, 0);
//   dsl::bpf_loop(a, 100, "sum", dsl::Address{r10, -8});              // r0 = iterations run
//   ... a.exit();
//   a.function("sum").ldx(DW, r3, r2, 0).add(r3, r1).stx(DW, r2, 0, r3).mov(r0, 0).exit();
#pragma once

#include <cstdint>
#include <functional>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/checksum.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl {

// for (counter = 0; counter < count; ++counter) body(a). `body` may jump to labels outside (break).
Assembler& counted_loop(Assembler& a, isa::Reg counter, std::int32_t count,
                        const std::function<void(Assembler&)>& body);

// r0 = bpf_loop(count, callback, ctx, 0): the number of iterations run, or a negative errno (-E2BIG above
// 2^23). r1..r5 are clobbered.
Assembler& bpf_loop(Assembler& a, Operand count, Assembler::Label callback, Operand ctx);

}  // namespace ebpf::dsl
