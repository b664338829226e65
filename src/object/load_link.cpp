// Linking one program for BPF_PROG_LOAD: CO-RE on each function, the .text (or other-section) functions it
// calls appended after it, call/address offsets fixed, map fds and global data addresses, kernel externs.
#include <map>

#include "ebpf/btf/core.hpp"
#include "load_state.hpp"

namespace ebpf::detail {
namespace {

constexpr std::uint8_t kPseudoMapFd = 1, kPseudoMapValue = 2, kPseudoBtfId = 3, kPseudoFunc = 4;
constexpr std::uint8_t kPseudoCall = 1, kPseudoKfuncCall = 2;

Error link_error(const ProgramSpec& fn, const Relocation& r, std::string message) {
  return Error(Errc::not_found, "BPF object link",
               "function '" + fn.name + "' insn " + std::to_string(r.insn) + ": " + std::move(message));
}

struct Linker {
  Object::State& st;
  LinkedProgram out;
  std::vector<std::pair<const ProgramSpec*, std::size_t>> placed;  // function, first insn
  std::map<std::string, std::size_t, std::less<>> base_of;

  Result<std::size_t> place(const ProgramSpec& fn) {
    if (auto it = base_of.find(fn.name); it != base_of.end()) return it->second;
    std::size_t base = out.insns.size();
    std::vector<Insn> insns = fn.insns;
    if (!fn.core_relos.empty()) {
      const btf::Btf* target = EBPF_TRY(kernel_btf(st));
      auto report = btf::core::relocate(*st.spec.btf, fn.core_relos, *target, insns);
      if (!report) return Error(report.error()).context("CO-RE in '" + fn.name + "'");
    }
    out.insns.insert(out.insns.end(), insns.begin(), insns.end());
    for (auto rec : fn.func_info) {
      rec.insn_off = static_cast<std::uint32_t>(rec.insn_off / 8 + base);
      out.func_info.push_back(rec);
    }
    for (auto rec : fn.line_info) {
      rec.insn_off = static_cast<std::uint32_t>(rec.insn_off / 8 + base);
      out.line_info.push_back(rec);
    }
    base_of[fn.name] = base;
    placed.emplace_back(&fn, base);
    return base;
  }

  Result<std::uint32_t> kernel_type(const ProgramSpec& fn, const Relocation& r, btf::Kind kind) {
    const btf::Btf* target = EBPF_TRY(kernel_btf(st));
    auto t = target->find(r.symbol, kind);
    if (!t) return link_error(fn, r, "kernel has no " + std::string(btf::kind_name(kind)) + " '" + r.symbol + "'");
    return t->id();
  }

  Result<void> apply(const ProgramSpec& fn, std::size_t base, const Relocation& r) {
    std::size_t at = base + r.insn;
    auto map_fd = [&]() -> Result<int> {
      auto m = st.maps.find(r.symbol);
      if (m == st.maps.end()) return link_error(fn, r, "map '" + r.symbol + "' was not created");
      return m->second.fd();
    };
    switch (r.kind) {
      case RelocationKind::subprog_call:
      case RelocationKind::subprog_addr: {
        const ProgramSpec* callee = st.spec.function(r.symbol);
        if (callee == nullptr) return link_error(fn, r, "no function '" + r.symbol + "'");
        std::size_t callee_base = EBPF_TRY(place(*callee));
        auto rel = static_cast<std::int64_t>(callee_base + r.offset) - static_cast<std::int64_t>(at + 1);
        out.insns[at].imm = static_cast<std::int32_t>(rel);
        out.insns[at].src = r.kind == RelocationKind::subprog_call ? kPseudoCall : kPseudoFunc;
        return ok();
      }
      case RelocationKind::map_fd:
        out.insns[at].src = kPseudoMapFd;
        out.insns[at].imm = EBPF_TRY(map_fd());
        out.insns[at + 1].imm = 0;
        return ok();
      case RelocationKind::map_value:
      case RelocationKind::kconfig:
        out.insns[at].src = kPseudoMapValue;
        if (r.kind == RelocationKind::kconfig) {
          auto m = st.maps.find(".kconfig");
          if (m == st.maps.end()) return link_error(fn, r, "no .kconfig map");
          out.insns[at].imm = m->second.fd();
        } else {
          out.insns[at].imm = EBPF_TRY(map_fd());
        }
        out.insns[at + 1].imm = static_cast<std::int32_t>(r.offset);
        return ok();
      case RelocationKind::ksym: {
        auto id = kernel_type(fn, r, btf::Kind::var);
        if (!id && !r.weak) return id.error();
        out.insns[at].src = id ? kPseudoBtfId : 0;
        out.insns[at].imm = id ? static_cast<std::int32_t>(*id) : 0;
        out.insns[at + 1].imm = 0;
        return ok();
      }
      case RelocationKind::kfunc_call: {
        auto id = kernel_type(fn, r, btf::Kind::func);
        if (!id && !r.weak) return id.error();
        if (!id) {  // a missing weak kfunc: an invalid helper call the verifier rejects only if reachable
          out.insns[at].src = 0;
          out.insns[at].imm = btf::core::kPoisonHelperId;
          return ok();
        }
        out.insns[at].src = kPseudoKfuncCall;
        out.insns[at].imm = static_cast<std::int32_t>(*id);
        out.insns[at].off = 0;
        return ok();
      }
    }
    return ok();
  }
};

}  // namespace

Result<const btf::Btf*> kernel_btf(Object::State& st) {
  if (st.kernel_btf) return st.kernel_btf;
  auto vmlinux = btf::Btf::load_vmlinux();
  if (!vmlinux) return Error(vmlinux.error()).context("kernel BTF for CO-RE / externs");
  st.kernel_btf_storage = std::move(*vmlinux);
  st.kernel_btf = &*st.kernel_btf_storage;
  return st.kernel_btf;
}

Result<LinkedProgram> link_program(Object::State& st, const ProgramSpec& prog) {
  Linker linker{st, {}, {}, {}};
  EBPF_TRY(linker.place(prog));
  for (std::size_t i = 0; i < linker.placed.size(); ++i) {  // placing callees appends to `placed`
    auto [fn, base] = linker.placed[i];
    for (const auto& r : fn->relocations) EBPF_TRY(linker.apply(*fn, base, r));
  }
  return std::move(linker.out);
}

}  // namespace ebpf::detail
