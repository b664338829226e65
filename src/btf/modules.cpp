// Module BTF: /sys/kernel/btf/<module> files are split BTF on top of vmlinux; lookups go vmlinux first.
#include "ebpf/btf/modules.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace ebpf::btf {

Result<std::vector<ModuleBtf>> load_module_btfs(const Btf& vmlinux, const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name != "vmlinux" && entry.is_regular_file(ec)) names.push_back(name);
  }
  if (ec) return Error::from_errno(ec.value(), "opendir", dir);
  std::sort(names.begin(), names.end());
  std::vector<ModuleBtf> out;
  for (const auto& name : names) {
    auto btf = Btf::load_file(dir + "/" + name, vmlinux);
    if (!btf) return Error(btf.error()).context("module BTF '" + name + "'");
    out.push_back({name, std::move(*btf)});
  }
  return out;
}

KernelTypes::KernelTypes(Btf vmlinux, std::vector<ModuleBtf> modules)
    : vmlinux_(std::move(vmlinux)), modules_(std::move(modules)) {}

Result<KernelTypes> KernelTypes::load(const std::string& dir) {
  auto vmlinux = EBPF_TRY(Btf::load_file(dir + "/vmlinux"));
  auto modules = EBPF_TRY(load_module_btfs(vmlinux, dir));
  return KernelTypes(std::move(vmlinux), std::move(modules));
}

std::vector<const Btf*> KernelTypes::search_order() const {
  std::vector<const Btf*> out{&vmlinux_};
  for (const auto& m : modules_) out.push_back(&m.btf);
  return out;
}

Result<KernelTypes::Found> KernelTypes::find(std::string_view name, Kind kind) const {
  if (auto t = vmlinux_.find(name, kind)) return Found{&vmlinux_, {}, *t};
  for (const auto& m : modules_) {
    // A module's find() also sees vmlinux types; only its own ids count here (vmlinux was searched).
    if (auto t = m.btf.find(name, kind); t && t->id() >= m.btf.start_id()) return Found{&m.btf, m.name, *t};
  }
  return Error(Errc::not_found, "BTF lookup",
               std::string(kind_name(kind)) + " '" + std::string(name) + "' is in neither vmlinux nor " +
                   std::to_string(modules_.size()) + " module BTF(s)");
}

}  // namespace ebpf::btf
