// Program introspection: struct bpf_prog_info (layout of Linux 6.18, defined here and checked below).
#include <cerrno>
#include <cstring>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

struct alignas(8) KernelProgInfo {
  std::uint32_t type;
  std::uint32_t id;
  std::uint8_t tag[8];
  std::uint32_t jited_prog_len;
  std::uint32_t xlated_prog_len;
  std::uint64_t jited_prog_insns;
  std::uint64_t xlated_prog_insns;
  std::uint64_t load_time;
  std::uint32_t created_by_uid;
  std::uint32_t nr_map_ids;
  std::uint64_t map_ids;
  char name[16];
  std::uint32_t ifindex;
  std::uint32_t gpl_compatible_bits;  // bit 0: gpl_compatible
  std::uint64_t netns_dev;
  std::uint64_t netns_ino;
  std::uint32_t nr_jited_ksyms;
  std::uint32_t nr_jited_func_lens;
  std::uint64_t jited_ksyms;
  std::uint64_t jited_func_lens;
  std::uint32_t btf_id;
  std::uint32_t func_info_rec_size;
  std::uint64_t func_info;
  std::uint32_t nr_func_info;
  std::uint32_t nr_line_info;
  std::uint64_t line_info;
  std::uint64_t jited_line_info;
  std::uint32_t nr_jited_line_info;
  std::uint32_t line_info_rec_size;
  std::uint32_t jited_line_info_rec_size;
  std::uint32_t nr_prog_tags;
  std::uint64_t prog_tags;
  std::uint64_t run_time_ns;
  std::uint64_t run_cnt;
  std::uint64_t recursion_misses;
  std::uint32_t verified_insns;
  std::uint32_t attach_btf_obj_id;
  std::uint32_t attach_btf_id;
  std::uint32_t pad;
};
static_assert(offsetof(KernelProgInfo, tag) == 8 && offsetof(KernelProgInfo, load_time) == 40 &&
              offsetof(KernelProgInfo, name) == 64 && offsetof(KernelProgInfo, netns_dev) == 88 &&
              offsetof(KernelProgInfo, btf_id) == 128 && offsetof(KernelProgInfo, prog_tags) == 184 &&
              offsetof(KernelProgInfo, run_time_ns) == 192 && offsetof(KernelProgInfo, verified_insns) == 216 &&
              offsetof(KernelProgInfo, attach_btf_id) == 224 && sizeof(KernelProgInfo) == 232,
              "struct bpf_prog_info layout");

constexpr const char* kInfoOp = "BPF_OBJ_GET_INFO_BY_FD";

Result<void> query(int fd, KernelProgInfo& info) {
  if (fd < 0) return Error::invalid(kInfoOp, "not a valid program file descriptor");
  std::uint32_t len = sizeof info;
  auto r = sys::obj_get_info_by_fd(fd, &info, len);
  if (!r) {
    auto err = std::move(r).error();
    if (err.sys_errno() == EBADF || err.sys_errno() == EBADFD)
      return Error(Errc::invalid_argument, kInfoOp, "fd " + std::to_string(fd) + " is not an open descriptor",
                   err.sys_errno());
    return err.context("program info of fd " + std::to_string(fd));
  }
  return ok();
}

}  // namespace

std::string ProgramInfo::tag_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : tag) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

Result<ProgramInfo> program_info(int prog_fd) {
  KernelProgInfo k{};
  EBPF_TRY(query(prog_fd, k));
  // Second call to fetch the map ids, now that their number is known.
  std::vector<std::uint32_t> map_ids(k.nr_map_ids);
  if (!map_ids.empty()) {
    KernelProgInfo again{};
    again.nr_map_ids = static_cast<std::uint32_t>(map_ids.size());
    again.map_ids = sys::ptr(map_ids.data());
    EBPF_TRY(query(prog_fd, again));
    map_ids.resize(std::min<std::size_t>(map_ids.size(), again.nr_map_ids));
    k = again;
  }
  ProgramInfo out;
  out.type = static_cast<ProgType>(k.type);
  out.id = k.id;
  out.name.assign(k.name, ::strnlen(k.name, sizeof k.name));
  std::memcpy(out.tag.data(), k.tag, sizeof k.tag);
  out.jited_size = k.jited_prog_len;
  out.xlated_size = k.xlated_prog_len;
  out.load_time_ns = k.load_time;
  out.created_by_uid = k.created_by_uid;
  out.map_ids = std::move(map_ids);
  out.ifindex = k.ifindex;
  out.gpl_compatible = (k.gpl_compatible_bits & 1U) != 0;
  out.btf_id = k.btf_id;
  out.func_info_count = k.nr_func_info;
  out.line_info_count = k.nr_line_info;
  out.run_count = k.run_cnt;
  out.run_time_ns = k.run_time_ns;
  out.recursion_misses = k.recursion_misses;
  out.verified_insns = k.verified_insns;
  out.attach_btf_obj_id = k.attach_btf_obj_id;
  out.attach_btf_id = k.attach_btf_id;
  return out;
}

Result<ProgramInfo> Program::info() const { return program_info(fd_.get()); }

Result<std::vector<Insn>> Program::xlated_insns() const {
  KernelProgInfo k{};
  EBPF_TRY(query(fd_.get(), k));
  if (k.xlated_prog_len == 0)
    return Error(Errc::permission, kInfoOp,
                 "the kernel did not report translated instructions (needs CAP_SYS_ADMIN / bpf_jit_kallsyms)", 0);
  std::vector<Insn> insns(k.xlated_prog_len / sizeof(Insn));
  KernelProgInfo again{};
  again.xlated_prog_len = static_cast<std::uint32_t>(insns.size() * sizeof(Insn));
  again.xlated_prog_insns = sys::ptr(insns.data());
  EBPF_TRY(query(fd_.get(), again));
  insns.resize(std::min<std::size_t>(insns.size(), again.xlated_prog_len / sizeof(Insn)));
  return insns;
}

}  // namespace ebpf
