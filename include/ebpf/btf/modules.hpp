// ebpf/btf/modules.hpp — the kernel's types as a whole: vmlinux BTF plus every module's split BTF.
//
// A type a BPF program needs (a CO-RE candidate, a kfunc, a ksym) may live in a module rather than in vmlinux;
// modules publish split BTF at /sys/kernel/btf/<module> whose ids continue after vmlinux's. KernelTypes loads
// them all (none on a kernel built without modules) and answers lookups vmlinux first, then module by module,
// the order libbpf uses for CO-RE candidates.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ebpf/btf.hpp"

namespace ebpf::btf {

struct ModuleBtf {
  std::string name;  // file name under the BTF directory ("nf_conntrack")
  Btf btf;           // split on top of vmlinux
};

// Every file under `dir` except "vmlinux", parsed as split BTF on `vmlinux`, in name order.
Result<std::vector<ModuleBtf>> load_module_btfs(const Btf& vmlinux, const std::string& dir = "/sys/kernel/btf");

class KernelTypes {
 public:
  KernelTypes(Btf vmlinux, std::vector<ModuleBtf> modules);
  // dir/vmlinux and every module in dir.
  static Result<KernelTypes> load(const std::string& dir = "/sys/kernel/btf");

  const Btf& vmlinux() const noexcept { return vmlinux_; }
  std::span<const ModuleBtf> modules() const noexcept { return modules_; }
  // vmlinux first, then each module: the CO-RE target order.
  std::vector<const Btf*> search_order() const;

  struct Found {
    const Btf* btf = nullptr;   // where the type is (its ids are valid there)
    std::string module;         // empty for vmlinux
    Type type;
  };
  // First type named `name` of `kind`, vmlinux first; Errc::not_found naming how many BTFs were searched.
  Result<Found> find(std::string_view name, Kind kind) const;

 private:
  Btf vmlinux_;
  std::vector<ModuleBtf> modules_;
};

}  // namespace ebpf::btf
