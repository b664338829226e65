// ebpf/text_asm.hpp — assembling eBPF programs from text.
//
// Two syntaxes, freely mixed line by line:
//   - the LLVM objdump / bpftool syntax printed by ebpf/disasm.hpp: `r0 = *(u32 *)(r1 + 4)`, `w0 += 1`,
//     `if r1 > 0x5 goto +3 <L7>`, `call bpf_map_lookup_elem#1`, `r1 = map[counters]`, `r1 = 0x1234 ll`;
//   - the mnemonic syntax of the eBPF conformance suites and ubpf: `mov r0, r1`, `ldxh r9, [r0+2]`,
//     `stxdw [r1-8], r2`, `be16 r9`, `jeq r1, 5, out`, `lddw r0, 0x123456789`, `call 1`, `exit`.
// Labels are `name:` (alone or before an instruction); jumps take `+N`/`-N` offsets or label names; a
// `<label>` after a numeric offset is a comment. `.insn code, dst, src, off, imm` emits raw bytes.
// Comments start with `;`, `//`, or `#` at the start of a line. Maps named in `map[NAME]` become relocations
// of the resulting Bytecode. Malformed text is Errc::bad_format with "LINE:COLUMN: what" in the message.
#pragma once

#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"

namespace ebpf {

Result<Bytecode> assemble_text(std::string_view source);

}  // namespace ebpf
