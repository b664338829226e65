// ebpf/link.hpp — one owning type for "a program attached to a hook", whatever the hook's mechanism.
//
// The kernel has several attachment mechanisms: bpf_link file descriptors (BPF_LINK_CREATE, raw tracepoints,
// perf events), per-interface state set over netlink (XDP via IFLA_XDP, cls_bpf filters in clsact), per-target
// lists managed with BPF_PROG_ATTACH/DETACH (cgroups, flow dissector) and socket options (SO_ATTACH_BPF).
// `Link` owns any of them with the same semantics:
//   - destruction detaches (for a bpf_link: closes the fd, which detaches unless the link was pinned or its fd
//     shared — the kernel's rule, and what pinning is for);
//   - detach() detaches now (BPF_LINK_DETACH for bpf_links, which also cuts pinned links loose); a second
//     detach() is an error (Errc::invalid_argument, "already detached");
//   - update() swaps the program in place (BPF_LINK_UPDATE; netlink XDP and tc filters replace in place too);
//   - pin()/open_pinned() and info() for bpf_links (other mechanisms have no kernel object: Errc::not_supported).
// Hook-specific attach functions live in ebpf/attach/*.hpp and all return Result<Link>.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

class Program;

// BPF_OBJ_GET_INFO_BY_FD on a link (struct bpf_link_info), decoded for the common link types.
struct LinkInfo {
  LinkType type = LinkType::unspec;
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t ifindex = 0;  // xdp, tcx, netkit (0 once the interface is gone)
  std::optional<AttachType> attach_type;  // tcx, cgroup, netns, netkit, tracing
  std::uint64_t cgroup_id = 0;            // cgroup
  std::uint32_t netns_ino = 0;            // netns
};
Result<LinkInfo> link_info(int link_fd);

// How an attachment is held, for messages and tests.
enum class AttachMechanism { bpf_link, netlink_xdp, tc_filter, prog_attach, socket_option, perf_event_ioctl };
std::string_view name(AttachMechanism mechanism) noexcept;

// The interface every attachment mechanism implements (one per hook family, in src/link/).
class Attachment {
 public:
  virtual ~Attachment() = default;
  virtual AttachMechanism mechanism() const noexcept = 0;
  // Removes the attachment. Called at most once, by Link.
  virtual Result<void> detach() = 0;
  // Called instead of detach() when the Link is destroyed. Default: detach, ignoring errors. bpf_links just
  // close their fd, so that a pinned link stays attached.
  virtual void drop() noexcept { (void)detach(); }
  // Swaps the program. `old_prog_fd` >= 0 makes it conditional on the current program.
  virtual Result<void> update(int new_prog_fd, int old_prog_fd);
  // The bpf_link fd, -1 for mechanisms without one.
  virtual int fd() const noexcept { return -1; }
  // What is attached where, for error messages ("xdp on ifindex 4 (netlink, generic mode)").
  virtual std::string describe() const = 0;
};

class Link {
 public:
  Link() = default;
  explicit Link(std::unique_ptr<Attachment> attachment) : impl_(std::move(attachment)) {}
  // Adopts a bpf_link fd (from BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN, BPF_OBJ_GET, ...).
  static Link from_fd(Fd link_fd, std::string description = "bpf_link");
  // A pinned bpf_link (BPF_OBJ_GET); Errc::invalid_argument if the pin is not a link.
  static Result<Link> open_pinned(const std::string& path);
  // A bpf_link by id (BPF_LINK_GET_FD_BY_ID).
  static Result<Link> from_id(std::uint32_t id);

  ~Link();
  Link(Link&& other) noexcept = default;
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  bool attached() const noexcept { return impl_ != nullptr; }
  AttachMechanism mechanism() const;
  std::string describe() const;
  // The bpf_link fd, or -1 (not a bpf_link, or detached).
  int fd() const noexcept { return impl_ ? impl_->fd() : -1; }

  Result<void> detach();
  // Replaces the attached program; with `expected_old`, only if that program is the one attached.
  Result<void> update(const Program& new_program);
  Result<void> update(const Program& new_program, const Program& expected_old);
  Result<void> pin(const std::string& path) const;
  Result<LinkInfo> info() const;
  // Gives up ownership of the attachment: it stays in place after this Link is gone (a bpf_link then lives
  // only as long as its pin or the returned fd).
  Result<Fd> release_fd();

 private:
  Result<const Attachment*> require_link(std::string_view op) const;
  std::unique_ptr<Attachment> impl_;
};

// Attaches to several interfaces at once (the load balancer's "attach to interfaces"), all or nothing: on the
// first failure the links made so far are detached and the error names the interface that failed.
//   attach_each(ifindexes, [&](std::uint32_t i) { return attach_xdp(prog, i, options); });
Result<std::vector<Link>> attach_each(std::span<const std::uint32_t> ifindexes,
                                      const std::function<Result<Link>(std::uint32_t ifindex)>& attach_one);

namespace detail {
// A duplicate of `fd` (CLOEXEC, above 2), for attachments that must outlive the caller's descriptor.
Result<Fd> dup_fd(int fd, std::string_view what);
// "the xdp program 'name'" style description of a program fd for messages.
std::string program_label(const Program& program);
}  // namespace detail

}  // namespace ebpf
