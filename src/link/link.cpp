// Link: the owning handle for any attachment, and the bpf_link mechanism (a kernel object with an fd).
#include "ebpf/link.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr std::uint32_t kReplaceFlag = 1U << 2;  // BPF_F_REPLACE

// A bpf_link fd: detach() is BPF_LINK_DETACH, dropping just closes the fd.
class BpfLinkAttachment final : public Attachment {
 public:
  BpfLinkAttachment(Fd fd, std::string description) : fd_(std::move(fd)), description_(std::move(description)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::bpf_link; }
  int fd() const noexcept override { return fd_.get(); }
  std::string describe() const override { return description_; }
  void drop() noexcept override { fd_.reset(); }

  Result<void> detach() override {
    auto r = sys::link_detach(fd_.get());
    // Link types without a detach operation go away when their last reference (this fd) closes.
    if (!r && r.error().code() == Errc::not_supported) r = ok();
    fd_.reset();
    if (!r) return std::move(r.error().context(description_));
    return ok();
  }

  Result<void> update(int new_prog_fd, int old_prog_fd) override {
    auto r = old_prog_fd >= 0 ? sys::link_update(fd_.get(), new_prog_fd, kReplaceFlag, old_prog_fd)
                              : sys::link_update(fd_.get(), new_prog_fd);
    if (!r) {
      auto error = std::move(r).error();
      if (error.sys_errno() == EPERM && old_prog_fd >= 0)
        return Error(Errc::invalid_argument, "BPF_LINK_UPDATE",
                     description_ + ": the attached program is not the expected one", EPERM);
      return std::move(error.context(description_));
    }
    return ok();
  }

 private:
  Fd fd_;
  std::string description_;
};

// True when `fd` is a bpf_link. The kernel names its anon inode "bpf_link" for new links and "bpf-link" for
// fds re-opened from a pin or an id.
bool is_bpf_link(int fd) {
  std::array<char, 64> target{};
  auto path = "/proc/self/fd/" + std::to_string(fd);
  auto n = ::readlink(path.c_str(), target.data(), target.size() - 1);
  std::string_view name(target.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  return name == "anon_inode:bpf_link" || name == "anon_inode:bpf-link";
}

template <class T>
T read_at(const std::array<std::byte, 256>& raw, std::size_t offset) {
  T value;
  std::memcpy(&value, raw.data() + offset, sizeof value);
  return value;
}

}  // namespace

std::string_view name(AttachMechanism mechanism) noexcept {
  switch (mechanism) {
    case AttachMechanism::bpf_link: return "bpf_link";
    case AttachMechanism::netlink_xdp: return "netlink xdp";
    case AttachMechanism::tc_filter: return "tc filter";
    case AttachMechanism::prog_attach: return "prog_attach";
    case AttachMechanism::socket_option: return "socket option";
    case AttachMechanism::perf_event_ioctl: return "perf event ioctl";
  }
  return "unknown";
}

Result<void> Attachment::update(int, int) {
  return Error(Errc::not_supported, "update", describe() + ": this attachment cannot swap its program in place");
}

namespace detail {

Result<Fd> dup_fd(int fd, std::string_view what) {
  if (fd < 0) return Error::invalid("dup", std::string(what) + ": no file descriptor");
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC)", std::string(what));
  return Fd(copy);
}

std::string program_label(const Program& program) {
  std::string out = std::string(name(program.type())) + " program";
  if (!program.name().empty()) out += " '" + program.name() + "'";
  return out;
}

}  // namespace detail

Link Link::from_fd(Fd link_fd, std::string description) {
  return Link(std::make_unique<BpfLinkAttachment>(std::move(link_fd), std::move(description)));
}

Result<Link> Link::open_pinned(const std::string& path) {
  auto fd = sys::obj_get(path.c_str());
  if (!fd) {
    auto error = std::move(fd).error();
    if (error.sys_errno() == ENOENT)
      return Error(Errc::not_found, "BPF_OBJ_GET", "no pinned object at " + path, ENOENT);
    return std::move(error.context(path));
  }
  if (!is_bpf_link(fd->get()))
    return Error::invalid("BPF_OBJ_GET", path + " is a pinned BPF object but not a link");
  return from_fd(std::move(*fd), "bpf_link pinned at " + path);
}

Result<Link> Link::from_id(std::uint32_t id) {
  if (id == 0) return Error::invalid("BPF_LINK_GET_FD_BY_ID", "link id 0 does not exist");
  auto fd = sys::get_fd_by_id(sys::ObjKind::link, id);
  if (!fd) {
    auto error = std::move(fd).error();
    if (error.sys_errno() == ENOENT)
      return Error(Errc::not_found, "BPF_LINK_GET_FD_BY_ID", "no link with id " + std::to_string(id), ENOENT);
    return error;
  }
  return from_fd(std::move(*fd), "bpf_link " + std::to_string(id));
}

Link::~Link() {
  if (impl_) impl_->drop();
}

Link& Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->drop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

AttachMechanism Link::mechanism() const { return impl_ ? impl_->mechanism() : AttachMechanism::bpf_link; }

std::string Link::describe() const { return impl_ ? impl_->describe() : "detached link"; }

Result<void> Link::detach() {
  if (!impl_) return Error::invalid("detach", "the link is already detached");
  // Whatever detach() reports, the attachment is gone or beyond this Link's reach: never detach twice.
  auto impl = std::move(impl_);
  return impl->detach();
}

Result<void> Link::update(const Program& new_program) {
  if (!impl_) return Error::invalid("update", "the link is detached");
  if (!new_program.valid()) return Error::invalid("update", "the new program is not loaded");
  return impl_->update(new_program.fd(), -1);
}

Result<void> Link::update(const Program& new_program, const Program& expected_old) {
  if (!impl_) return Error::invalid("update", "the link is detached");
  if (!new_program.valid() || !expected_old.valid())
    return Error::invalid("update", "the new or the expected program is not loaded");
  return impl_->update(new_program.fd(), expected_old.fd());
}

Result<const Attachment*> Link::require_link(std::string_view op) const {
  if (!impl_) return Error::invalid(std::string(op), "the link is detached");
  if (impl_->fd() < 0)
    return Error(Errc::not_supported, std::string(op),
                 impl_->describe() + " is not a bpf_link (attached via " + std::string(name(impl_->mechanism())) +
                     "), so it has no kernel object to " + (op == "BPF_OBJ_PIN" ? "pin" : "describe"));
  return impl_.get();
}

Result<void> Link::pin(const std::string& path) const {
  auto impl = EBPF_TRY(require_link("BPF_OBJ_PIN"));
  if (path.empty()) return Error::invalid("BPF_OBJ_PIN", "empty pin path");
  auto r = sys::obj_pin(impl->fd(), path.c_str());
  if (!r) return std::move(r.error().context("pinning " + impl->describe() + " at " + path));
  return ok();
}

Result<LinkInfo> Link::info() const {
  auto impl = EBPF_TRY(require_link("BPF_OBJ_GET_INFO_BY_FD"));
  return link_info(impl->fd());
}

Result<Fd> Link::release_fd() {
  auto impl = EBPF_TRY(require_link("release"));
  auto fd = EBPF_TRY(detail::dup_fd(impl->fd(), impl->describe()));
  impl_->drop();
  impl_.reset();
  return fd;
}

Result<std::vector<Link>> attach_each(std::span<const std::uint32_t> ifindexes,
                                      const std::function<Result<Link>(std::uint32_t ifindex)>& attach_one) {
  std::vector<Link> links;
  links.reserve(ifindexes.size());
  for (auto ifindex : ifindexes) {
    auto link = attach_one(ifindex);
    // Returning drops `links`, which detaches everything attached so far.
    if (!link) return std::move(link.error().context("interface " + std::to_string(ifindex)));
    links.push_back(std::move(*link));
  }
  return links;
}

Result<LinkInfo> link_info(int link_fd) {
  std::array<std::byte, 256> raw{};
  auto len = static_cast<std::uint32_t>(raw.size());
  EBPF_TRY(sys::obj_get_info_by_fd(link_fd, raw.data(), len));
  LinkInfo info;
  info.type = static_cast<LinkType>(read_at<std::uint32_t>(raw, 0));
  info.id = read_at<std::uint32_t>(raw, 4);
  info.prog_id = read_at<std::uint32_t>(raw, 8);
  // The type-specific union starts at byte 16 (it holds 64-bit members).
  switch (info.type) {
    case LinkType::xdp: info.ifindex = read_at<std::uint32_t>(raw, 16); break;
    case LinkType::tcx:
    case LinkType::netkit:
      info.ifindex = read_at<std::uint32_t>(raw, 16);
      info.attach_type = static_cast<AttachType>(read_at<std::uint32_t>(raw, 20));
      break;
    case LinkType::cgroup:
      info.cgroup_id = read_at<std::uint64_t>(raw, 16);
      info.attach_type = static_cast<AttachType>(read_at<std::uint32_t>(raw, 24));
      break;
    case LinkType::netns:
      info.netns_ino = read_at<std::uint32_t>(raw, 16);
      info.attach_type = static_cast<AttachType>(read_at<std::uint32_t>(raw, 20));
      break;
    case LinkType::tracing: info.attach_type = static_cast<AttachType>(read_at<std::uint32_t>(raw, 16)); break;
    default: break;
  }
  return info;
}

}  // namespace ebpf
