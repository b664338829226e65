// Interface-owned XDP and cls_bpf attachments (see interface_hooks.hpp).
#include "lb/dataplane/interface_hooks.hpp"

#include <fcntl.h>

#include <algorithm>

#include "ebpf/attach/tc.hpp"
#include "ebpf/netlink.hpp"

namespace lb::dataplane {
namespace {

std::uint32_t mode_flags(ebpf::XdpMode mode) {
  switch (mode) {
    case ebpf::XdpMode::generic: return ebpf::netlink::xdp_flags::skb_mode;
    case ebpf::XdpMode::driver: return ebpf::netlink::xdp_flags::drv_mode;
    case ebpf::XdpMode::offload: return ebpf::netlink::xdp_flags::hw_mode;
    case ebpf::XdpMode::unspecified: break;
  }
  return 0;
}

// A private copy of a program fd, for replace-only-if-still-ours checks.
ebpf::Result<ebpf::Fd> dup_program(int fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return ebpf::Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC)", "program fd");
  return ebpf::Fd(copy);
}

class InterfaceXdp final : public ebpf::Attachment {
 public:
  InterfaceXdp(std::uint32_t ifindex, std::uint32_t flags, ebpf::Fd prog) : ifindex_(ifindex), flags_(flags), prog_(std::move(prog)) {}
  ebpf::AttachMechanism mechanism() const noexcept override { return ebpf::AttachMechanism::netlink_xdp; }
  std::string describe() const override { return "xdp on ifindex " + std::to_string(ifindex_) + " via netlink (interface-owned)"; }
  void drop() noexcept override {}  // stays attached: the interface owns it

  ebpf::Result<void> detach() override {
    auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
    return ebpf::netlink::set_xdp(socket, ifindex_, -1, {flags_ | ebpf::netlink::xdp_flags::replace, prog_.get()});
  }
  ebpf::Result<void> update(int new_prog_fd, int old_prog_fd) override {
    auto copy = EBPF_TRY(dup_program(new_prog_fd));
    auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
    EBPF_TRY(ebpf::netlink::set_xdp(socket, ifindex_, new_prog_fd,
                                    {flags_ | ebpf::netlink::xdp_flags::replace, old_prog_fd >= 0 ? old_prog_fd : prog_.get()}));
    prog_ = std::move(copy);
    return ebpf::ok();
  }

 private:
  std::uint32_t ifindex_;
  std::uint32_t flags_;
  ebpf::Fd prog_;
};

const char* direction_name(ebpf::TcDirection direction) {
  return direction == ebpf::TcDirection::ingress ? "ingress" : "egress";
}

// The filter's name tells our filters apart from others at the same place (tc filter show prints it).
const char* filter_name(ebpf::TcDirection direction) {
  return direction == ebpf::TcDirection::ingress ? "ebpf_lb_tc_in" : "ebpf_lb_tc";
}

class InterfaceTcFilter final : public ebpf::Attachment {
 public:
  InterfaceTcFilter(std::uint32_t ifindex, ebpf::TcDirection direction) : ifindex_(ifindex), direction_(direction) {}
  ebpf::AttachMechanism mechanism() const noexcept override { return ebpf::AttachMechanism::tc_filter; }
  std::string describe() const override {
    return std::string("tc ") + direction_name(direction_) + " filter on ifindex " + std::to_string(ifindex_) + " (interface-owned)";
  }
  void drop() noexcept override {}

  ebpf::Result<void> detach() override {
    auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
    return ebpf::netlink::detach_tc_filter(socket, ifindex_, direction_, kTcFilterPriority, kTcFilterHandle);
  }
  ebpf::Result<void> update(int new_prog_fd, int /*old_prog_fd*/) override { return place(ifindex_, direction_, new_prog_fd); }

  // Adds or replaces the filter at our (priority, handle).
  static ebpf::Result<void> place(std::uint32_t ifindex, ebpf::TcDirection direction, int prog_fd) {
    EBPF_TRY(ebpf::setup_tc_qdisc(ifindex));
    auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
    ebpf::netlink::TcFilterOptions options{kTcFilterPriority, kTcFilterHandle, filter_name(direction), true, true, 0x0003};
    EBPF_TRY(ebpf::netlink::attach_tc_filter(socket, ifindex, direction, prog_fd, options));
    return ebpf::ok();
  }

 private:
  std::uint32_t ifindex_;
  ebpf::TcDirection direction_;
};

}  // namespace

ebpf::Result<ebpf::Link> attach_interface_xdp(const ebpf::Program& program, std::uint32_t ifindex, ebpf::XdpMode mode,
                                              bool replace) {
  auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
  const auto flags = mode_flags(mode);
  // Without update_if_noexist the kernel replaces a netlink program in the same mode atomically.
  const auto guard = replace ? 0U : ebpf::netlink::xdp_flags::update_if_noexist;
  auto set = ebpf::netlink::set_xdp(socket, ifindex, program.fd(), {flags | guard, -1});
  if (!set) return std::move(set.error().context("xdp on ifindex " + std::to_string(ifindex)));
  return ebpf::Link(std::make_unique<InterfaceXdp>(ifindex, flags, EBPF_TRY(dup_program(program.fd()))));
}

ebpf::Result<ebpf::Link> attach_interface_tc(const ebpf::Program& program, std::uint32_t ifindex, ebpf::TcDirection direction) {
  auto placed = InterfaceTcFilter::place(ifindex, direction, program.fd());
  if (!placed)
    return std::move(placed.error().context(std::string("tc ") + direction_name(direction) + " on ifindex " + std::to_string(ifindex)));
  return ebpf::Link(std::make_unique<InterfaceTcFilter>(ifindex, direction));
}

ebpf::Result<bool> remove_interface_tc(std::uint32_t ifindex, ebpf::TcDirection direction) {
  auto filters = EBPF_TRY(ebpf::query_tc(ifindex, direction));
  const bool ours = std::any_of(filters.begin(), filters.end(), [direction](const ebpf::netlink::TcFilter& f) {
    return f.priority == kTcFilterPriority && f.handle == kTcFilterHandle && f.name == filter_name(direction);
  });
  if (!ours) return false;
  auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
  EBPF_TRY(ebpf::netlink::detach_tc_filter(socket, ifindex, direction, kTcFilterPriority, kTcFilterHandle));
  return true;
}

ebpf::Result<bool> remove_interface_xdp(std::uint32_t ifindex, std::uint32_t prog_id) {
  if (prog_id == 0) return false;
  auto state = EBPF_TRY(ebpf::query_xdp(ifindex));
  std::uint32_t flags = 0;
  if (state.driver_prog_id == prog_id) flags = ebpf::netlink::xdp_flags::drv_mode;
  else if (state.generic_prog_id == prog_id) flags = ebpf::netlink::xdp_flags::skb_mode;
  else return false;
  auto prog = EBPF_TRY(ebpf::Program::from_id(prog_id));
  auto socket = EBPF_TRY(ebpf::netlink::Socket::open());
  // Guarded by the program we saw: one someone attached meanwhile is left alone.
  EBPF_TRY(ebpf::netlink::set_xdp(socket, ifindex, -1, {flags | ebpf::netlink::xdp_flags::replace, prog.fd()}));
  return true;
}

}  // namespace lb::dataplane
