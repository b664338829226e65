// Trampoline programs (fentry/fexit/fmod_ret/LSM/freplace): target BTF ids, load with explained refusals,
// and bpf_link attachment.
#include "ebpf/attach/trampoline.hpp"

#include "ebpf/attach/kprobe.hpp"
#include "ebpf/btf.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {
namespace {

struct KindInfo {
  ProgType type;
  AttachType attach;
};

KindInfo info_of(TrampolineKind kind) {
  switch (kind) {
    case TrampolineKind::fentry: return {ProgType::tracing, AttachType::trace_fentry};
    case TrampolineKind::fexit: return {ProgType::tracing, AttachType::trace_fexit};
    case TrampolineKind::fmod_ret: return {ProgType::tracing, AttachType::modify_return};
    case TrampolineKind::lsm: return {ProgType::lsm, AttachType::lsm_mac};
    case TrampolineKind::freplace: return {ProgType::ext, AttachType::trace_fentry};  // unused for ext
  }
  return {ProgType::tracing, AttachType::trace_fentry};
}

Result<std::uint32_t> func_id(const btf::Btf& btf, std::string_view name, std::string_view where) {
  auto t = btf.find(name, btf::Kind::func);
  if (!t)
    return Error(Errc::not_found, "BTF", "no function '" + std::string(name) + "' in " + std::string(where));
  return t->id();
}

}  // namespace

std::string_view name(TrampolineKind kind) noexcept {
  switch (kind) {
    case TrampolineKind::fentry: return "fentry";
    case TrampolineKind::fexit: return "fexit";
    case TrampolineKind::fmod_ret: return "fmod_ret";
    case TrampolineKind::lsm: return "lsm";
    case TrampolineKind::freplace: return "freplace";
  }
  return "?";
}

Result<std::uint32_t> kernel_function_btf_id(std::string_view function) {
  auto vmlinux = EBPF_TRY(btf::Btf::load_vmlinux());
  return func_id(vmlinux, function, "the kernel's BTF");
}

Result<std::uint32_t> lsm_hook_btf_id(std::string_view hook) {
  auto vmlinux = EBPF_TRY(btf::Btf::load_vmlinux());
  auto id = func_id(vmlinux, "bpf_lsm_" + std::string(hook), "the kernel's BTF");
  if (!id) return Error(Errc::not_found, "BTF", "no LSM hook '" + std::string(hook) + "' (bpf_lsm_" +
                                                    std::string(hook) + " is not in the kernel's BTF)");
  return id;
}

Result<std::uint32_t> program_function_btf_id(const Program& target, std::string_view function) {
  if (!target.valid()) return Error::invalid("freplace target", "the target program is not loaded");
  auto info = EBPF_TRY(target.info());
  if (info.btf_id == 0)
    return Error::invalid("freplace target", "program '" + target.name() + "' was loaded without BTF: freplace needs "
                                             "the target's BTF to find '" + std::string(function) + "'");
  auto btf = EBPF_TRY(btf::Btf::from_kernel(info.btf_id));
  return func_id(btf, function, "the BTF of program '" + target.name() + "'");
}

Result<Program> load_trampoline_program(TrampolineKind kind, std::string_view target, std::span<const Insn> insns,
                                        const TrampolineOptions& options) {
  std::string op = "load " + std::string(name(kind)) + " program";
  auto [type, attach] = info_of(kind);
  ProgramLoadOptions load = options.load;
  if (kind == TrampolineKind::freplace) {
    if (options.target_program == nullptr)
      return Error::invalid(op, "freplace needs TrampolineOptions::target_program");
    load.attach_btf_id = EBPF_TRY(program_function_btf_id(*options.target_program, target));
    load.attach_prog_fd = options.target_program->fd();
  } else {
    load.attach_btf_id = EBPF_TRY(kind == TrampolineKind::lsm ? lsm_hook_btf_id(target) : kernel_function_btf_id(target));
    load.expected_attach_type = attach;
  }
  auto program = Program::load(type, insns, load);
  if (!program && program.error().code() == Errc::permission)
    return Error(Errc::permission, program.error().operation(),
                 std::string(name(kind)) + " program on '" + std::string(target) +
                     "' refused by kernel policy, not by the verifier (EPERM with an empty log): " +
                     lockdown_explanation() + "; BPF trampolines (fentry/fexit/fmod_ret/freplace/LSM) are forbidden "
                     "under lockdown",
                 program.error().sys_errno());
  return program;
}

Result<Link> attach_trampoline(const Program& program, std::uint64_t cookie) {
  constexpr std::string_view op = "attach trampoline";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  auto pinfo = EBPF_TRY(program.info());
  if (program.type() != ProgType::lsm && program.type() != ProgType::tracing && program.type() != ProgType::ext)
    return Error::invalid(std::string(op), detail::program_label(program) + " is not a tracing, LSM or ext program");
  std::string what = std::string(name(program.type())) + " " + detail::program_label(program) + " (target BTF id " +
                     std::to_string(pinfo.attach_btf_id) + ")";
  // BPF_RAW_TRACEPOINT_OPEN without a name attaches any trampoline program to the target it was loaded for,
  // whatever its expected attach type.
  auto link = sys::raw_tracepoint_open(nullptr, program.fd(), cookie);
  if (!link) return std::move(Error(link.error()).context(what));
  return Link::from_fd(std::move(*link), what);
}

}  // namespace ebpf
