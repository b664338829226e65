// Loading an object's programs: link each one, resolve its attach target in kernel BTF (struct_ops: the
// kernel struct and member its map slot names), BPF_PROG_LOAD.
#include <cstring>

#include "ebpf/system.hpp"
#include "load_state.hpp"
#include "struct_ops.hpp"

namespace ebpf::detail {
namespace {

// The kernel BTF type a tracing/LSM/iterator program attaches to, from its section's target.
Result<std::uint32_t> attach_btf_id(Object::State& st, const ProgramSpec& prog) {
  const btf::Btf* kbtf = EBPF_TRY(kernel_btf(st));
  std::string name = prog.attach_to;
  btf::Kind kind = btf::Kind::func;
  if (prog.type == ProgType::tracing && prog.expected_attach_type == AttachType::trace_raw_tp) {
    name = "btf_trace_" + name;
    kind = btf::Kind::typedef_;
  } else if (prog.type == ProgType::lsm) {
    name = "bpf_lsm_" + name;
  } else if (prog.expected_attach_type == AttachType::trace_iter) {
    name = "bpf_iter_" + name;
  }
  auto t = kbtf->find(name, kind);
  if (!t)
    return Error(Errc::not_found, "BPF_PROG_LOAD",
                 "attach target " + std::string(btf::kind_name(kind)) + " '" + name + "' of program '" + prog.name +
                     "' is not in the kernel's BTF");
  return t->id();
}

Result<Program> load_one(Object::State& st, const ProgramSpec& prog, const ObjectLoadOptions& options) {
  if (prog.type == ProgType::unspec)
    return Error::invalid("BPF_PROG_LOAD", "program '" + prog.name + "' in section '" + prog.section +
                                               "' has no known program type: set ProgramSpec::type before load");
  if (prog.type == ProgType::ext)
    return Error(Errc::not_supported, "BPF_PROG_LOAD",
                 "program '" + prog.name + "': freplace (ext) programs need a target program: load them with "
                 "Program::load and ProgramLoadOptions::attach_prog_fd (see ebpf/attach/trampoline.hpp)");
  auto linked = EBPF_TRY(link_program(st, prog));
  ProgramLoadOptions opts;
  opts.name = kernel_name(prog.name);
  opts.license = prog.license.empty() ? "GPL" : prog.license;
  opts.expected_attach_type = prog.expected_attach_type;
  opts.flags = prog.flags;
  opts.kernel_version = prog.kernel_version;
  if (opts.kernel_version == 0 && prog.type == ProgType::kprobe)
    if (auto kv = kernel_version()) opts.kernel_version = kv->code();
  opts.log_level = options.log_level;
  bool needs_btf_target = prog.section_info && prog.section_info->attach_btf;
  if (prog.type == ProgType::struct_ops) {
    auto target = EBPF_TRY(struct_ops_target(st, prog));
    opts.attach_btf_id = target.struct_btf_id;
    opts.expected_attach_type = static_cast<AttachType>(target.member_index);  // the kernel's convention
  } else if (needs_btf_target) {
    opts.attach_btf_id = EBPF_TRY(attach_btf_id(st, prog));
  }
  if (st.btf_fd.valid() && !linked.func_info.empty()) {
    opts.btf_fd = st.btf_fd.get();
    opts.func_info = std::as_bytes(std::span(linked.func_info));
    opts.func_info_rec_size = sizeof(btf::FuncInfo);
    opts.line_info = std::as_bytes(std::span(linked.line_info));
    opts.line_info_rec_size = sizeof(btf::LineInfo);
  }
  auto loaded = Program::load(prog.type, linked.insns, opts);
  if (!loaded) return Error(loaded.error()).context("program '" + prog.name + "'");
  return loaded;
}

}  // namespace

Result<void> load_programs(Object::State& st, const ObjectLoadOptions& options) {
  for (const auto& prog : st.spec.programs) {
    if (!prog.autoload) continue;
    auto loaded = load_one(st, prog, options);
    if (loaded) {
      st.programs.emplace(prog.name, std::move(*loaded));
      continue;
    }
    if (!options.per_program) return loaded.error();
    st.program_errors.emplace(prog.name, loaded.error());
  }
  return ok();
}

}  // namespace ebpf::detail
