// ebpf/attach/trampoline.hpp — BPF trampoline programs: fentry, fexit, fmod_ret (tracing), LSM hooks and
// freplace (ext) of a BPF program's global function.
//
// These programs are verified against their target, so the target's BTF id is part of the load:
//   load_trampoline_program() resolves it — a kernel FUNC in vmlinux BTF (fentry/fexit/fmod_ret), the LSM
//   hook's bpf_lsm_<hook> FUNC (lsm), or a FUNC in the target program's own BTF (freplace, attach_prog_fd) —
//   and loads with the matching expected attach type;
//   attach_trampoline() attaches the loaded program (BPF_LINK_CREATE with its attach type, bpf_cookie).
// Kernels under lockdown refuse every trampoline program at load with EPERM and an empty verifier log; the
// error then says so (Errc::permission, the lockdown mode when readable) instead of a bare errno.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/insn.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"

namespace ebpf {

enum class TrampolineKind { fentry, fexit, fmod_ret, lsm, freplace };
std::string_view name(TrampolineKind kind) noexcept;

// BTF id of kernel function `function` (fentry/fexit/fmod_ret) or LSM hook `hook` (bpf_lsm_<hook>).
Result<std::uint32_t> kernel_function_btf_id(std::string_view function);
Result<std::uint32_t> lsm_hook_btf_id(std::string_view hook);
// BTF id of global function `function` in a loaded program's BTF (freplace target).
Result<std::uint32_t> program_function_btf_id(const Program& target, std::string_view function);

struct TrampolineOptions {
  ProgramLoadOptions load = {};           // name, license, log level ... (attach fields are filled in)
  const Program* target_program = nullptr;  // freplace: the program whose function is replaced
};

// Loads `insns` as a `kind` program on `target` (kernel function, LSM hook name, or the target program's
// function for freplace).
Result<Program> load_trampoline_program(TrampolineKind kind, std::string_view target, std::span<const Insn> insns,
                                        const TrampolineOptions& options = {});

// Attaches a loaded trampoline program to the target it was loaded for.
Result<Link> attach_trampoline(const Program& program, std::uint64_t cookie = 0);

}  // namespace ebpf
