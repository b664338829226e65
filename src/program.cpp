// Program loading: argument checks, the verifier-log policy and the classification of failures.
#include "ebpf/program.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr const char* kLoadOp = "BPF_PROG_LOAD";

std::string describe(ProgType type, const std::string& name) {
  std::string out = "program";
  if (!name.empty()) out += " '" + name + "'";
  out += " (" + std::string(ebpf::name(type)) + ")";
  return out;
}

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

Result<void> check_options(std::span<const Insn> insns, const ProgramLoadOptions& o, const std::string& what) {
  auto bad = [&](std::string msg) { return Error::invalid(kLoadOp, what + ": " + msg); };
  if (insns.empty()) return bad("the program has no instructions");
  if (insns.size() > kMaxProgramInsns)
    return bad(std::to_string(insns.size()) + " instructions exceed the kernel's limit of " +
               std::to_string(kMaxProgramInsns));
  for (char c : o.name)
    if (!valid_name_char(c)) return bad("name may only contain letters, digits, '_' and '.'");
  if (o.license.find('\0') != std::string::npos) return bad("license contains a NUL byte");
  if (o.attach_prog_fd >= 0 && o.attach_btf_obj_fd >= 0)
    return bad("attach_prog_fd and attach_btf_obj_fd are exclusive (they share one kernel field)");
  if ((!o.func_info.empty() || !o.line_info.empty()) && o.btf_fd < 0)
    return bad("func_info / line_info need the program's BTF (btf_fd)");
  if (!o.func_info.empty() && (o.func_info_rec_size == 0 || o.func_info.size() % o.func_info_rec_size != 0))
    return bad("func_info size is not a multiple of func_info_rec_size");
  if (!o.line_info.empty() && (o.line_info_rec_size == 0 || o.line_info.size() % o.line_info_rec_size != 0))
    return bad("line_info size is not a multiple of line_info_rec_size");
  if (o.initial_log_size < 128 || o.max_log_size < o.initial_log_size || o.max_log_size > UINT32_MAX / 2)
    return bad("log sizes must satisfy 128 <= initial_log_size <= max_log_size <= 2 GiB");
  if ((o.log_level & ~7U) != 0) return bad("log_level takes only bits 1 (basic), 2 (verbose), 4 (stats)");
  return ok();
}

sys::ProgLoadAttr make_attr(ProgType type, std::span<const Insn> insns, const ProgramLoadOptions& o) {
  sys::ProgLoadAttr a;
  a.prog_type = static_cast<std::uint32_t>(type);
  a.insn_cnt = static_cast<std::uint32_t>(insns.size());
  a.insns = sys::ptr(insns.data());
  a.license = sys::ptr(o.license.c_str());
  a.kern_version = o.kernel_version;
  a.prog_flags = o.flags;
  std::memcpy(a.prog_name, o.name.data(), std::min<std::size_t>(o.name.size(), sizeof a.prog_name - 1));
  a.prog_ifindex = o.ifindex;
  if (o.expected_attach_type) a.expected_attach_type = static_cast<std::uint32_t>(*o.expected_attach_type);
  if (o.btf_fd >= 0) a.prog_btf_fd = static_cast<std::uint32_t>(o.btf_fd);
  if (!o.func_info.empty()) {
    a.func_info_rec_size = o.func_info_rec_size;
    a.func_info = sys::ptr(o.func_info.data());
    a.func_info_cnt = static_cast<std::uint32_t>(o.func_info.size() / o.func_info_rec_size);
  }
  if (!o.line_info.empty()) {
    a.line_info_rec_size = o.line_info_rec_size;
    a.line_info = sys::ptr(o.line_info.data());
    a.line_info_cnt = static_cast<std::uint32_t>(o.line_info.size() / o.line_info_rec_size);
  }
  a.attach_btf_id = o.attach_btf_id;
  if (o.attach_prog_fd >= 0) a.attach_prog_fd = static_cast<std::uint32_t>(o.attach_prog_fd);
  if (o.attach_btf_obj_fd >= 0) a.attach_prog_fd = static_cast<std::uint32_t>(o.attach_btf_obj_fd);
  if (!o.fd_array.empty()) a.fd_array = sys::ptr(o.fd_array.data());
  if (o.token_fd >= 0) {
    a.prog_token_fd = o.token_fd;
    a.prog_flags |= prog_flags::token_fd;
  }
  return a;
}

// One load with a log buffer, growing the buffer while the kernel says the log did not fit (ENOSPC).
struct LoggedAttempt {
  Result<Fd> fd;
  std::string log;
  bool truncated = false;
};

LoggedAttempt load_with_log(sys::ProgLoadAttr attr, std::uint32_t level, const ProgramLoadOptions& o) {
  std::size_t size = o.initial_log_size;
  for (;;) {
    std::string buf(size, '\0');
    attr.log_level = level;
    attr.log_size = static_cast<std::uint32_t>(size);
    attr.log_buf = sys::ptr(buf.data());
    attr.log_true_size = 0;
    auto fd = sys::prog_load(attr);
    buf.resize(::strnlen(buf.data(), buf.size()));
    bool overflow = !fd && fd.error().sys_errno() == ENOSPC;
    if (!overflow || size >= o.max_log_size) return {std::move(fd), std::move(buf), overflow};
    // log_true_size (6.4+) says exactly how much is needed; older kernels leave it 0, so double.
    std::size_t want = attr.log_true_size > size ? attr.log_true_size + 1 : size * 2;
    size = std::min(want, o.max_log_size);
  }
}

Error classify_failure(Error err, std::string log, bool truncated, const std::string& what) {
  int e = err.sys_errno();
  // Whatever the errno (EACCES, EINVAL, EPROTO, E2BIG ...), a failure the verifier explained in its log is
  // a verifier rejection; only resource exhaustion is reported as what it is.
  if (!log.empty() && e != ENOMEM) {
    Error v(Errc::verifier, kLoadOp, what + " rejected by the verifier", e);
    v.with_verifier_log(std::move(log), truncated);
    return v;
  }
  if ((e == EPERM || e == EACCES) && log.empty())
    return Error(Errc::permission, kLoadOp,
                 what + " refused by kernel policy or missing privileges (empty verifier log: not a verifier "
                        "rejection; e.g. lockdown forbids fentry/fexit/LSM/freplace, or CAP_BPF is missing)",
                 e);
  if (e == EINVAL && log.empty())
    return Error(Errc::invalid_argument, kLoadOp,
                 what + ": the kernel rejected the load attributes (program type, attach type, flags or BTF "
                        "unknown or inconsistent)",
                 e);
  if (e == E2BIG && log.empty())
    return Error(Errc::invalid_argument, kLoadOp,
                 what + ": the kernel refused the load attributes as too big (an attribute newer than this "
                        "kernel, or too many instructions for an unprivileged load)",
                 e);
  err.context(what);
  if (!log.empty()) err.with_verifier_log(std::move(log), truncated);
  return err;
}

}  // namespace

Result<Program> Program::load(ProgType type, std::span<const Insn> insns, const ProgramLoadOptions& opts) {
  const std::string what = describe(type, opts.name);
  EBPF_TRY(check_options(insns, opts, what));
  sys::ProgLoadAttr attr = make_attr(type, insns, opts);

  if (opts.log_level != 0) {
    auto attempt = load_with_log(attr, opts.log_level, opts);
    if (attempt.fd) return Program(std::move(*attempt.fd), type, opts.name, std::move(attempt.log));
    if (attempt.truncated) {
      // The kernel turns a full log into ENOSPC even for a program it would accept, so say only that.
      Error err(Errc::no_space, kLoadOp,
                what + ": the verifier log did not fit in max_log_size (" + std::to_string(opts.max_log_size) +
                    " bytes); raise it or lower log_level",
                ENOSPC);
      err.with_verifier_log(std::move(attempt.log), true);
      return err;
    }
    return classify_failure(std::move(attempt.fd).error(), std::move(attempt.log), false, what);
  }

  auto fd = sys::prog_load(attr);
  if (fd) return Program(std::move(*fd), type, opts.name);
  // Failed: load again with a log to learn why. The first errno is the real verdict (a log that overflows
  // max_log_size turns the second attempt's errno into ENOSPC).
  auto first = std::move(fd).error();
  auto retry = load_with_log(attr, log_level::basic, opts);
  if (retry.fd) return Program(std::move(*retry.fd), type, opts.name);  // transient first failure
  auto err = retry.truncated ? std::move(first) : std::move(retry.fd).error();
  return classify_failure(std::move(err), std::move(retry.log), retry.truncated, what);
}

Result<Program> Program::from_fd(Fd fd) {
  if (!fd.valid()) return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "not a valid program file descriptor");
  auto info = EBPF_TRY(program_info(fd.get()));
  return Program(std::move(fd), info.type, info.name);
}

Result<Program> Program::from_id(std::uint32_t id) {
  auto fd = EBPF_TRY(sys::get_fd_by_id(sys::ObjKind::prog, id));
  return from_fd(std::move(fd));
}

Result<Program> Program::open_pinned(const std::string& path) {
  if (path.empty()) return Error::invalid("BPF_OBJ_GET", "empty pin path");
  auto fd = sys::obj_get(path.c_str());
  if (!fd) {
    auto err = std::move(fd).error();
    if (err.sys_errno() == ENOENT) return Error(Errc::not_found, "BPF_OBJ_GET", "no pinned object at " + path, ENOENT);
    return err.context("open pinned program " + path);
  }
  auto prog = from_fd(std::move(*fd));
  if (!prog) {
    auto err = std::move(prog).error();
    return err.context(path + " is not a pinned program");
  }
  return prog;
}

Result<Program> Program::clone() const {
  if (!fd_.valid()) return Error::invalid("dup", "empty program");
  auto fd = EBPF_TRY(fd_.dup());
  return Program(std::move(fd), type_, name_, log_);
}

Result<void> Program::pin(const std::string& path) const {
  if (!fd_.valid()) return Error::invalid("BPF_OBJ_PIN", "empty program");
  if (path.empty()) return Error::invalid("BPF_OBJ_PIN", "empty pin path");
  auto r = sys::obj_pin(fd_.get(), path.c_str());
  if (!r) {
    auto err = std::move(r).error();
    if (err.sys_errno() == EPERM)
      return err.context("pin " + path + " (the path must be on a bpffs mount such as /sys/fs/bpf)");
    if (err.sys_errno() == ENOENT)
      return Error(Errc::not_found, "BPF_OBJ_PIN", "pin " + path + ": parent directory does not exist", ENOENT);
    return err.context("pin " + path);
  }
  return ok();
}

Result<void> Program::unpin(const std::string& path) {
  if (path.empty()) return Error::invalid("unlink", "empty pin path");
  if (::unlink(path.c_str()) != 0) {
    int e = errno;
    if (e == ENOENT) return Error(Errc::not_found, "unlink", "no pin at " + path, e);
    return Error::from_errno(e, "unlink", "unpin " + path + ": " + std::strerror(e));
  }
  return ok();
}

Result<Fd> enable_run_stats() {
  auto fd = sys::enable_stats(0);
  if (!fd) {
    auto err = std::move(fd).error();
    return err.context("enable BPF run-time statistics");
  }
  return fd;
}

}  // namespace ebpf
