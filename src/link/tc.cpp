// TC attachment: tcx links (BPF_LINK_CREATE) and classic clsact + cls_bpf filters (netlink).
#include "ebpf/attach/tc.hpp"

#include <cerrno>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "netns_scope.hpp"

namespace ebpf {

namespace {

// mprog flags (BPF_F_*), beyond Debian's 6.1 headers.
constexpr std::uint32_t kBefore = 1U << 3, kAfter = 1U << 4, kById = 1U << 5, kIsLink = 1U << 13;

AttachType tcx_attach_type(TcDirection direction) {
  return direction == TcDirection::ingress ? AttachType::tcx_ingress : AttachType::tcx_egress;
}

std::string where(std::string_view what, std::uint32_t ifindex, TcDirection direction) {
  return std::string(what) + " " + std::string(netlink::name(direction)) + " on ifindex " + std::to_string(ifindex);
}

Result<void> check_program(const Program& program, std::string_view op) {
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::sched_cls)
    return Error::invalid(std::string(op), detail::program_label(program) +
                                               " cannot attach to TC: it needs a sched_cls program");
  return ok();
}

Error interface_missing(const Error& error, std::uint32_t ifindex) {
  return Error(Errc::not_found, error.operation(),
               "no interface with index " + std::to_string(ifindex) + " in this network namespace", ENODEV);
}

// --- tcx --------------------------------------------------------------------------------------------------

Result<std::uint32_t> tcx_flags(const TcxOptions& o, sys::LinkCreateAttr::Relative& relative) {
  bool anchored = o.position == TcxPosition::before || o.position == TcxPosition::after;
  bool has_anchor = o.relative_fd >= 0 || o.relative_id != 0;
  if (anchored && !has_anchor)
    return Error::invalid("attach tcx", "before/after needs an anchor: relative_fd or relative_id");
  if (!anchored && has_anchor)
    return Error::invalid("attach tcx", "an anchor is only used with TcxPosition::before or ::after");
  if (o.relative_fd >= 0 && o.relative_id != 0)
    return Error::invalid("attach tcx", "give the anchor as relative_fd or relative_id, not both");
  std::uint32_t flags = 0;
  switch (o.position) {
    case TcxPosition::append: break;
    case TcxPosition::first:
    case TcxPosition::before: flags = kBefore; break;
    case TcxPosition::last:
    case TcxPosition::after: flags = kAfter; break;
  }
  if (o.relative_is_link) flags |= kIsLink;
  if (o.relative_id != 0) {
    flags |= kById;
    relative.relative_fd_or_id = o.relative_id;
  } else if (o.relative_fd >= 0) {
    relative.relative_fd_or_id = static_cast<std::uint32_t>(o.relative_fd);
  }
  relative.expected_revision = o.expected_revision;
  return flags;
}

Error explain_tcx(Error error, std::uint32_t ifindex, TcDirection direction) {
  auto place = where("tcx", ifindex, direction);
  switch (error.sys_errno()) {
    case ENODEV: return interface_missing(error, ifindex);
    case ESTALE:
      return Error(Errc::busy, error.operation(),
                   place + ": the hook changed since the expected revision was read; query it again", ESTALE);
    case EEXIST:
      return Error(Errc::key_exists, error.operation(), place + ": this program is already attached there", EEXIST);
    case ENOENT:
      return Error(Errc::not_found, error.operation(),
                   place + ": the relative program or link is not attached to this hook", ENOENT);
    default: return std::move(error.context(place));
  }
}

// --- classic cls_bpf ----------------------------------------------------------------------------------------

class TcFilterAttachment final : public Attachment {
 public:
  TcFilterAttachment(netlink::Socket socket, netlink::TcFilter filter)
      : socket_(std::move(socket)), filter_(std::move(filter)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::tc_filter; }
  std::string describe() const override {
    return where("tc filter", filter_.ifindex, filter_.direction) + " (priority " +
           std::to_string(filter_.priority) + ", handle " + std::to_string(filter_.handle) + ")";
  }

  Result<void> detach() override {
    auto r = netlink::detach_tc_filter(socket_, filter_.ifindex, filter_.direction, filter_.priority,
                                       filter_.handle, filter_.protocol);
    if (!r) {
      auto error = std::move(r).error();
      if (error.code() == Errc::not_found || error.sys_errno() == EINVAL)
        return Error(Errc::not_found, error.operation(),
                     describe() + ": the filter no longer exists (interface, qdisc or filter was removed)",
                     error.sys_errno());
      return std::move(error.context(describe()));
    }
    return ok();
  }

  Result<void> update(int new_prog_fd, int old_prog_fd) override {
    if (old_prog_fd >= 0) {
      // cls_bpf has no conditional replace: compare the current program first.
      auto expected = EBPF_TRY(program_info(old_prog_fd));
      auto current = EBPF_TRY(current_prog_id());
      if (current != expected.id)
        return Error(Errc::invalid_argument, "netlink RTM_NEWTFILTER",
                     describe() + ": the attached program is not the expected one", EEXIST);
    }
    netlink::TcFilterOptions options{filter_.priority, filter_.handle, filter_.name, true, true, filter_.protocol};
    auto replaced = netlink::attach_tc_filter(socket_, filter_.ifindex, filter_.direction, new_prog_fd, options);
    if (!replaced) return std::move(replaced.error().context(describe()));
    filter_ = std::move(*replaced);
    return ok();
  }

 private:
  Result<std::uint32_t> current_prog_id() {
    auto filters = EBPF_TRY(netlink::list_tc_filters(socket_, filter_.ifindex, filter_.direction));
    for (const auto& f : filters)
      if (f.priority == filter_.priority && f.handle == filter_.handle) return f.prog_id;
    return Error(Errc::not_found, "netlink RTM_GETTFILTER", describe() + ": the filter no longer exists");
  }

  netlink::Socket socket_;
  netlink::TcFilter filter_;
};

Error explain_tc(Error error, std::uint32_t ifindex, TcDirection direction) {
  auto place = where("tc filter", ifindex, direction);
  if (error.sys_errno() == ENODEV) return interface_missing(error, ifindex);
  if (error.sys_errno() == EEXIST)
    return Error(Errc::key_exists, error.operation(),
                 place + ": a filter already exists at this priority and handle (set replace to take it over)" +
                     (error.message().empty() ? "" : " [" + error.message() + "]"),
                 EEXIST);
  return std::move(error.context(place));
}

Result<std::uint32_t> resolve(std::string_view ifname, int netns_fd) {
  auto netns = EBPF_TRY(detail::enter_netns(netns_fd));
  return netlink::interface_index(ifname);
}

}  // namespace

Result<Link> attach_tcx(const Program& program, std::uint32_t ifindex, TcDirection direction,
                        const TcxOptions& options) {
  EBPF_TRY(check_program(program, "attach tcx"));
  if (ifindex == 0) return Error::invalid("attach tcx", "interface index 0 is not an interface");
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.target_fd = ifindex;
  attr.attach_type = static_cast<std::uint32_t>(tcx_attach_type(direction));
  attr.flags = EBPF_TRY(tcx_flags(options, attr.as<sys::LinkCreateAttr::Relative>()));
  auto netns = EBPF_TRY(detail::enter_netns(options.netns_fd));
  auto fd = sys::link_create(attr);
  if (!fd) return explain_tcx(std::move(fd).error(), ifindex, direction);
  return Link::from_fd(std::move(*fd), where("tcx", ifindex, direction) + " via bpf_link");
}

Result<Link> attach_tcx(const Program& program, std::string_view ifname, TcDirection direction,
                        const TcxOptions& options) {
  EBPF_TRY(check_program(program, "attach tcx"));
  auto ifindex = EBPF_TRY(resolve(ifname, options.netns_fd));
  return attach_tcx(program, ifindex, direction, options);
}

Result<TcxQuery> query_tcx(std::uint32_t ifindex, TcDirection direction, int netns_fd) {
  if (ifindex == 0) return Error::invalid("BPF_PROG_QUERY", "interface index 0 is not an interface");
  auto netns = EBPF_TRY(detail::enter_netns(netns_fd));
  TcxQuery out;
  // The list may grow between calls: ask for the count, then retry until the buffers were big enough.
  for (std::uint32_t capacity = 16;; capacity *= 4) {
    out.prog_ids.assign(capacity, 0);
    out.link_ids.assign(capacity, 0);
    sys::ProgQueryAttr attr;
    attr.target_fd = ifindex;
    attr.attach_type = static_cast<std::uint32_t>(tcx_attach_type(direction));
    attr.prog_ids = sys::ptr(out.prog_ids.data());
    attr.link_ids = sys::ptr(out.link_ids.data());
    attr.count = capacity;
    auto r = sys::prog_query(attr);
    if (!r && r.error().sys_errno() == ENOSPC && capacity < (1U << 16)) continue;
    if (!r) return explain_tcx(std::move(r).error(), ifindex, direction);
    out.prog_ids.resize(attr.count);
    out.link_ids.resize(attr.count);
    out.revision = attr.revision;
    return out;
  }
}

Result<Link> attach_tc(const Program& program, std::uint32_t ifindex, TcDirection direction,
                       const TcOptions& options) {
  EBPF_TRY(check_program(program, "attach tc"));
  if (ifindex == 0) return Error::invalid("attach tc", "interface index 0 is not an interface");
  auto socket = EBPF_TRY(detail::open_netlink(options.netns_fd));
  if (options.create_qdisc) {
    auto added = netlink::add_clsact(socket, ifindex);
    if (!added && added.error().code() != Errc::key_exists) return explain_tc(std::move(added).error(), ifindex, direction);
  }
  netlink::TcFilterOptions filter_options{options.priority, options.handle,
                                          options.name.empty() ? program.name() : options.name,
                                          options.replace, true, 0x0003};
  auto filter = netlink::attach_tc_filter(socket, ifindex, direction, program.fd(), filter_options);
  if (!filter) return explain_tc(std::move(filter).error(), ifindex, direction);
  return Link(std::make_unique<TcFilterAttachment>(std::move(socket), std::move(*filter)));
}

Result<Link> attach_tc(const Program& program, std::string_view ifname, TcDirection direction,
                       const TcOptions& options) {
  EBPF_TRY(check_program(program, "attach tc"));
  auto ifindex = EBPF_TRY(resolve(ifname, options.netns_fd));
  return attach_tc(program, ifindex, direction, options);
}

Result<void> setup_tc_qdisc(std::uint32_t ifindex, int netns_fd) {
  auto socket = EBPF_TRY(detail::open_netlink(netns_fd));
  auto r = netlink::add_clsact(socket, ifindex);
  if (!r && r.error().code() == Errc::key_exists) return ok();
  if (!r && r.error().sys_errno() == ENODEV) return interface_missing(r.error(), ifindex);
  return r;
}

Result<void> teardown_tc_qdisc(std::uint32_t ifindex, int netns_fd) {
  auto socket = EBPF_TRY(detail::open_netlink(netns_fd));
  auto r = netlink::delete_clsact(socket, ifindex);
  if (!r && r.error().sys_errno() == ENODEV) return interface_missing(r.error(), ifindex);
  return r;
}

Result<std::vector<netlink::TcFilter>> query_tc(std::uint32_t ifindex, TcDirection direction, int netns_fd) {
  auto socket = EBPF_TRY(detail::open_netlink(netns_fd));
  return netlink::list_tc_filters(socket, ifindex, direction);
}

}  // namespace ebpf
