// cgroup attachment: bpf_links, and BPF_PROG_ATTACH in exclusive / override / multi mode.
#include "ebpf/attach/cgroup.hpp"

#include <fcntl.h>

#include <cerrno>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr std::uint32_t kAllowOverride = 1U << 0, kAllowMulti = 1U << 1, kReplace = 1U << 2;

std::uint32_t mode_flags(CgroupAttachMode mode) {
  switch (mode) {
    case CgroupAttachMode::override: return kAllowOverride;
    case CgroupAttachMode::multi: return kAllowMulti;
    default: return 0;
  }
}

std::string where(AttachType type, CgroupAttachMode mode) {
  return "cgroup " + std::string(name(type)) + " (" + std::string(name(mode)) + ")";
}

Error explain(Error error, AttachType type, CgroupAttachMode mode) {
  auto place = where(type, mode);
  switch (error.sys_errno()) {
    case EPERM:
      return Error(Errc::permission, error.operation(),
                   place + ": the cgroup (or an ancestor) already has programs for this hook attached in a "
                           "different mode, or an exclusive one that forbids it",
                   EPERM);
    case EEXIST:
      return Error(Errc::key_exists, error.operation(), place + ": this program is already attached there", EEXIST);
    case ENOENT:
      return Error(Errc::not_found, error.operation(), place + ": the program to replace is not attached", ENOENT);
    case EBADF:
    case ENOTDIR:
      return Error(Errc::invalid_argument, error.operation(), place + ": the target is not a cgroup v2 directory",
                   error.sys_errno());
    default: return std::move(error.context(place));
  }
}

// A BPF_PROG_ATTACH attachment: keeps the cgroup and the program open so detach can name both.
class CgroupProgAttachment final : public Attachment {
 public:
  CgroupProgAttachment(Fd cgroup, Fd prog, AttachType type, CgroupAttachMode mode)
      : cgroup_(std::move(cgroup)), prog_(std::move(prog)), type_(type), mode_(mode) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::prog_attach; }
  std::string describe() const override { return where(type_, mode_); }

  Result<void> detach() override {
    sys::ProgAttachAttr attr;
    attr.target_fd = static_cast<std::uint32_t>(cgroup_.get());
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_.get());
    attr.attach_type = static_cast<std::uint32_t>(type_);
    auto r = sys::prog_detach(attr);
    if (!r) {
      auto error = std::move(r).error();
      if (error.sys_errno() == ENOENT)
        return Error(Errc::not_found, error.operation(), describe() + ": the program is no longer attached", ENOENT);
      return std::move(error.context(describe()));
    }
    return ok();
  }

  Result<void> update(int new_prog_fd, int old_prog_fd) override {
    auto copy = EBPF_TRY(detail::dup_fd(new_prog_fd, describe()));
    sys::ProgAttachAttr attr;
    attr.target_fd = static_cast<std::uint32_t>(cgroup_.get());
    attr.attach_bpf_fd = static_cast<std::uint32_t>(new_prog_fd);
    attr.attach_type = static_cast<std::uint32_t>(type_);
    attr.attach_flags = mode_flags(mode_);
    if (mode_ == CgroupAttachMode::multi) {
      attr.attach_flags |= kReplace;
      attr.replace_bpf_fd = static_cast<std::uint32_t>(old_prog_fd >= 0 ? old_prog_fd : prog_.get());
    } else if (old_prog_fd >= 0) {
      auto expected = EBPF_TRY(program_info(old_prog_fd));
      auto current = EBPF_TRY(program_info(prog_.get()));
      if (expected.id != current.id)
        return Error(Errc::invalid_argument, "BPF_PROG_ATTACH", describe() + ": the attached program is not the expected one");
    }
    auto r = sys::prog_attach(attr);
    if (!r) {
      if (r.error().sys_errno() == ENOENT && old_prog_fd >= 0)
        return Error(Errc::invalid_argument, "BPF_PROG_ATTACH", describe() + ": the attached program is not the expected one", ENOENT);
      return explain(std::move(r).error(), type_, mode_);
    }
    prog_ = std::move(copy);
    return ok();
  }

 private:
  Fd cgroup_;
  Fd prog_;
  AttachType type_;
  CgroupAttachMode mode_;
};

Result<void> check(const Program& program, AttachType type, const CgroupOptions& options) {
  constexpr std::string_view op = "attach cgroup";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  auto needed = cgroup_program_type(type);
  if (!needed) return Error::invalid(std::string(op), std::string(name(type)) + " is not a cgroup attach type");
  if (program.type() != *needed)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to " +
                                               std::string(name(type)) + ": it needs a " +
                                               std::string(name(*needed)) + " program");
  if (options.replace_prog_fd >= 0 && options.mode != CgroupAttachMode::multi)
    return Error::invalid(std::string(op), "replace_prog_fd is only meaningful in multi mode");
  return ok();
}

}  // namespace

std::string_view name(CgroupAttachMode mode) noexcept {
  switch (mode) {
    case CgroupAttachMode::link: return "link";
    case CgroupAttachMode::exclusive: return "exclusive";
    case CgroupAttachMode::override: return "override";
    case CgroupAttachMode::multi: return "multi";
  }
  return "unknown";
}

std::optional<ProgType> cgroup_program_type(AttachType type) noexcept {
  using A = AttachType;
  switch (type) {
    case A::cgroup_inet_ingress:
    case A::cgroup_inet_egress: return ProgType::cgroup_skb;
    case A::cgroup_inet_sock_create:
    case A::cgroup_inet_sock_release:
    case A::cgroup_inet4_post_bind:
    case A::cgroup_inet6_post_bind: return ProgType::cgroup_sock;
    case A::cgroup_inet4_bind: case A::cgroup_inet6_bind:
    case A::cgroup_inet4_connect: case A::cgroup_inet6_connect:
    case A::cgroup_udp4_sendmsg: case A::cgroup_udp6_sendmsg:
    case A::cgroup_udp4_recvmsg: case A::cgroup_udp6_recvmsg:
    case A::cgroup_inet4_getpeername: case A::cgroup_inet6_getpeername:
    case A::cgroup_inet4_getsockname: case A::cgroup_inet6_getsockname:
    case A::cgroup_unix_connect: case A::cgroup_unix_sendmsg: case A::cgroup_unix_recvmsg:
    case A::cgroup_unix_getpeername: case A::cgroup_unix_getsockname: return ProgType::cgroup_sock_addr;
    case A::cgroup_sock_ops: return ProgType::sock_ops;
    case A::cgroup_device: return ProgType::cgroup_device;
    case A::cgroup_sysctl: return ProgType::cgroup_sysctl;
    case A::cgroup_getsockopt:
    case A::cgroup_setsockopt: return ProgType::cgroup_sockopt;
    case A::lsm_cgroup: return ProgType::lsm;
    default: return std::nullopt;
  }
}

Result<Link> attach_cgroup(const Program& program, int cgroup_fd, AttachType type, const CgroupOptions& options) {
  EBPF_TRY(check(program, type, options));
  if (cgroup_fd < 0) return Error::invalid("attach cgroup", "no cgroup descriptor given");
  if (options.mode == CgroupAttachMode::link) {
    sys::LinkCreateAttr attr;
    attr.prog_fd = static_cast<std::uint32_t>(program.fd());
    attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
    attr.attach_type = static_cast<std::uint32_t>(type);
    auto fd = sys::link_create(attr);
    if (!fd) return explain(std::move(fd).error(), type, options.mode);
    return Link::from_fd(std::move(*fd), where(type, options.mode) + " via bpf_link");
  }
  auto cgroup = EBPF_TRY(detail::dup_fd(cgroup_fd, "cgroup"));
  auto prog = EBPF_TRY(detail::dup_fd(program.fd(), "cgroup program"));
  sys::ProgAttachAttr attr;
  attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(type);
  attr.attach_flags = mode_flags(options.mode);
  if (options.replace_prog_fd >= 0) {
    attr.attach_flags |= kReplace;
    attr.replace_bpf_fd = static_cast<std::uint32_t>(options.replace_prog_fd);
  }
  auto r = sys::prog_attach(attr);
  if (!r) return explain(std::move(r).error(), type, options.mode);
  return Link(std::make_unique<CgroupProgAttachment>(std::move(cgroup), std::move(prog), type, options.mode));
}

Result<Link> attach_cgroup(const Program& program, const std::string& cgroup_path, AttachType type,
                           const CgroupOptions& options) {
  EBPF_TRY(check(program, type, options));
  Fd cgroup(::open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) {
    int err = errno;
    if (err == ENOENT) return Error(Errc::not_found, "open(" + cgroup_path + ")", "no such cgroup directory", err);
    return Error::from_errno(err, "open(" + cgroup_path + ")", "cannot open the cgroup directory");
  }
  return attach_cgroup(program, cgroup.get(), type, options);
}

Result<CgroupQuery> query_cgroup(int cgroup_fd, AttachType type, bool effective) {
  if (cgroup_fd < 0) return Error::invalid("BPF_PROG_QUERY", "no cgroup descriptor given");
  if (!cgroup_program_type(type))
    return Error::invalid("BPF_PROG_QUERY", std::string(name(type)) + " is not a cgroup attach type");
  CgroupQuery out;
  for (std::uint32_t capacity = 16;; capacity *= 4) {
    out.prog_ids.assign(capacity, 0);
    sys::ProgQueryAttr attr;
    attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
    attr.attach_type = static_cast<std::uint32_t>(type);
    attr.query_flags = effective ? 1U /* BPF_F_QUERY_EFFECTIVE */ : 0U;
    attr.prog_ids = sys::ptr(out.prog_ids.data());
    attr.count = capacity;
    auto r = sys::prog_query(attr);
    if (!r && r.error().sys_errno() == ENOSPC && capacity < (1U << 16)) continue;
    if (!r) return std::move(r.error().context("cgroup " + std::string(name(type))));
    out.prog_ids.resize(attr.count);
    out.attach_flags = attr.attach_flags;
    out.revision = attr.revision;
    return out;
  }
}

}  // namespace ebpf
