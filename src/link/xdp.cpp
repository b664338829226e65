// XDP attachment: bpf_link first, netlink IFLA_XDP as the fallback (or on request).
#include "ebpf/attach/xdp.hpp"

#include <cerrno>
#include <optional>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "netns_scope.hpp"

namespace ebpf {

namespace {

std::uint32_t mode_flags(XdpMode mode) {
  switch (mode) {
    case XdpMode::generic: return netlink::xdp_flags::skb_mode;
    case XdpMode::driver: return netlink::xdp_flags::drv_mode;
    case XdpMode::offload: return netlink::xdp_flags::hw_mode;
    case XdpMode::unspecified: break;
  }
  return 0;
}

std::string where(std::uint32_t ifindex, XdpMode mode) {
  return "xdp on ifindex " + std::to_string(ifindex) +
         (mode == XdpMode::unspecified ? std::string() : " (" + std::string(name(mode)) + " mode)");
}

// Turns the kernel's terse errno into a sentence about XDP.
Error explain(Error error, std::uint32_t ifindex, XdpMode mode) {
  auto place = where(ifindex, mode);
  switch (error.sys_errno()) {
    case ENODEV:
      return Error(Errc::not_found, error.operation(),
                   "no interface with index " + std::to_string(ifindex) + " in this network namespace", ENODEV);
    case EBUSY:
      return Error(Errc::busy, error.operation(),
                   place + ": another XDP program is already attached in this mode (by a bpf_link or netlink); "
                           "detach it first or replace it with Link::update" +
                       (error.message().empty() ? "" : " [" + error.message() + "]"),
                   EBUSY);
    case EOPNOTSUPP:
      if (mode == XdpMode::driver || mode == XdpMode::offload)
        return Error(Errc::not_supported, error.operation(),
                     place + ": the interface's driver does not support this XDP mode; use generic mode", EOPNOTSUPP);
      break;
    default: break;
  }
  return std::move(error.context(place));
}

// XDP set over netlink: belongs to the interface; detach removes it only if it is still our program.
class NetlinkXdpAttachment final : public Attachment {
 public:
  NetlinkXdpAttachment(netlink::Socket socket, std::uint32_t ifindex, XdpMode mode, Fd prog)
      : socket_(std::move(socket)), ifindex_(ifindex), mode_(mode), prog_(std::move(prog)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::netlink_xdp; }
  std::string describe() const override { return where(ifindex_, mode_) + " via netlink"; }

  Result<void> detach() override {
    // Conditional on our program: never remove a program someone else attached since.
    netlink::XdpSetOptions options{mode_flags(mode_) | netlink::xdp_flags::replace, prog_.get()};
    auto r = netlink::set_xdp(socket_, ifindex_, -1, options);
    if (!r) {
      auto error = std::move(r).error();
      if (error.sys_errno() == EEXIST)
        return Error(Errc::busy, error.operation(),
                     describe() + ": a different program is attached now; it was left in place", EEXIST);
      if (error.code() == Errc::not_found)
        return Error(Errc::not_found, error.operation(),
                     describe() + ": the interface no longer exists (its XDP program went with it)",
                     error.sys_errno());
      return explain(std::move(error), ifindex_, mode_);
    }
    return ok();
  }

  Result<void> update(int new_prog_fd, int old_prog_fd) override {
    auto copy = EBPF_TRY(detail::dup_fd(new_prog_fd, describe()));
    int expected = old_prog_fd >= 0 ? old_prog_fd : prog_.get();
    netlink::XdpSetOptions options{mode_flags(mode_) | netlink::xdp_flags::replace, expected};
    auto r = netlink::set_xdp(socket_, ifindex_, new_prog_fd, options);
    if (!r) {
      auto error = std::move(r).error();
      if (error.sys_errno() == EEXIST)
        return Error(Errc::invalid_argument, error.operation(),
                     describe() + ": the attached program is not the expected one", EEXIST);
      return explain(std::move(error), ifindex_, mode_);
    }
    prog_ = std::move(copy);
    return ok();
  }

 private:
  netlink::Socket socket_;
  std::uint32_t ifindex_;
  XdpMode mode_;
  Fd prog_;
};

Result<void> check_program(const Program& program) {
  if (!program.valid()) return Error::invalid("attach xdp", "the program is not loaded");
  if (program.type() != ProgType::xdp)
    return Error::invalid("attach xdp", detail::program_label(program) + " cannot attach to XDP: it needs an xdp program");
  return ok();
}

Result<Link> attach_with_link(const Program& program, std::uint32_t ifindex, XdpMode mode) {
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.target_fd = ifindex;
  attr.attach_type = static_cast<std::uint32_t>(AttachType::xdp);
  attr.flags = mode_flags(mode);
  auto fd = sys::link_create(attr);
  if (!fd) {
    auto error = std::move(fd).error();
    // The XDP link reports a missing interface as EINVAL; say what it really was.
    if (error.sys_errno() == EINVAL && !netlink::interface_name(ifindex))
      return explain(Error(Errc::not_found, error.operation(), "", ENODEV), ifindex, mode);
    return explain(std::move(error), ifindex, mode);
  }
  return Link::from_fd(std::move(*fd), where(ifindex, mode) + " via bpf_link");
}

Result<Link> attach_with_netlink(const Program& program, std::uint32_t ifindex, const XdpOptions& options) {
  auto socket = EBPF_TRY(netlink::Socket::open());
  auto prog = EBPF_TRY(detail::dup_fd(program.fd(), "xdp program"));
  std::uint32_t flags = mode_flags(options.mode);
  if (!options.replace) flags |= netlink::xdp_flags::update_if_noexist;
  auto r = netlink::set_xdp(socket, ifindex, program.fd(), {flags, -1});
  if (!r) return explain(std::move(r).error(), ifindex, options.mode);
  return Link(std::make_unique<NetlinkXdpAttachment>(std::move(socket), ifindex, options.mode, std::move(prog)));
}

}  // namespace

std::string_view name(XdpMode mode) noexcept {
  switch (mode) {
    case XdpMode::unspecified: return "unspecified";
    case XdpMode::generic: return "generic";
    case XdpMode::driver: return "driver";
    case XdpMode::offload: return "offload";
  }
  return "unknown";
}

Result<Link> attach_xdp(const Program& program, std::uint32_t ifindex, const XdpOptions& options) {
  EBPF_TRY(check_program(program));
  if (ifindex == 0) return Error::invalid("attach xdp", "interface index 0 is not an interface");
  if (options.replace && options.method == XdpMethod::link)
    return Error::invalid("attach xdp", "a bpf_link never replaces another attachment; use Link::update");
  auto netns = EBPF_TRY(detail::enter_netns(options.netns_fd));
  // Replacing a netlink-attached program is only possible over netlink.
  if (options.method == XdpMethod::netlink || options.replace) return attach_with_netlink(program, ifindex, options);
  auto link = attach_with_link(program, ifindex, options.mode);
  if (link || options.method == XdpMethod::link || link.error().code() != Errc::not_supported) return link;
  // Kernels before 5.9 have no XDP links: same attachment through netlink.
  return attach_with_netlink(program, ifindex, options);
}

Result<Link> attach_xdp(const Program& program, std::string_view ifname, const XdpOptions& options) {
  EBPF_TRY(check_program(program));
  std::uint32_t ifindex;
  {
    auto netns = EBPF_TRY(detail::enter_netns(options.netns_fd));
    ifindex = EBPF_TRY(netlink::interface_index(ifname));
  }
  return attach_xdp(program, ifindex, options);
}

Result<netlink::XdpState> query_xdp(std::uint32_t ifindex, int netns_fd) {
  auto socket = EBPF_TRY(detail::open_netlink(netns_fd));
  return netlink::query_xdp(socket, ifindex);
}

}  // namespace ebpf
