// Reading BTF back from the kernel by id, and finding a BPF program's function in it (the attach target of
// freplace programs and of fentry/fexit on BPF programs).
#include <linux/bpf.h>

#include <cstring>

#include "ebpf/btf.hpp"
#include "ebpf/btf/program_target.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf::btf {
namespace {

constexpr std::uint32_t kMaxBtfBytes = 512u << 20;

Result<std::vector<std::byte>> fetch(std::uint32_t id) {
  Fd fd = EBPF_TRY(sys::get_fd_by_id(sys::ObjKind::btf, id));
  bpf_btf_info info{};
  std::uint32_t len = sizeof info;
  EBPF_TRY(sys::obj_get_info_by_fd(fd.get(), &info, len));  // first call: the size
  if (info.btf_size == 0 || info.btf_size > kMaxBtfBytes)
    return Error(Errc::bad_format, "BPF_OBJ_GET_INFO_BY_FD", "BTF object " + std::to_string(id) + " reports " +
                                                                 std::to_string(info.btf_size) + " bytes");
  std::vector<std::byte> blob(info.btf_size);
  std::uint32_t size = info.btf_size;
  info = bpf_btf_info{};
  info.btf = reinterpret_cast<std::uintptr_t>(blob.data());
  info.btf_size = size;
  len = sizeof info;
  EBPF_TRY(sys::obj_get_info_by_fd(fd.get(), &info, len));
  if (info.btf_size != size)
    return Error(Errc::bad_format, "BPF_OBJ_GET_INFO_BY_FD", "BTF object " + std::to_string(id) + " changed size");
  return blob;
}

}  // namespace

Result<Btf> Btf::from_kernel(std::uint32_t id) {
  auto blob = EBPF_TRY(fetch(id));
  return parse(blob);
}

Result<Btf> Btf::from_kernel(std::uint32_t id, const Btf& base) {
  auto blob = EBPF_TRY(fetch(id));
  return parse(blob, base);
}

Result<ProgramTarget> program_function(int prog_fd, std::string_view function) {
  if (prog_fd < 0) return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "no target program fd");
  if (function.empty()) return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "no target function name");
  bpf_prog_info info{};
  std::uint32_t len = sizeof info;
  EBPF_TRY(sys::obj_get_info_by_fd(prog_fd, &info, len));
  if (info.btf_id == 0)
    return Error(Errc::not_found, "BPF_OBJ_GET_INFO_BY_FD",
                 "target program " + std::to_string(info.id) + " was loaded without BTF: it has no functions to attach to");
  auto btf = EBPF_TRY(Btf::from_kernel(info.btf_id));
  auto func = btf.find(function, Kind::func);
  if (!func)
    return Error(Errc::not_found, "BPF_OBJ_GET_INFO_BY_FD",
                 "target program " + std::to_string(info.id) + " has no function '" + std::string(function) + "'");
  return ProgramTarget{info.id, info.btf_id, func->id()};
}

}  // namespace ebpf::btf
