// Network-namespace hooks: sk_lookup and flow dissector, as links or (flow dissector) PROG_ATTACH.
#include "ebpf/attach/netns.hpp"

#include <cerrno>

#include "ebpf/netlink.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

std::optional<AttachType> netns_attach_type(ProgType type) {
  if (type == ProgType::sk_lookup) return AttachType::sk_lookup;
  if (type == ProgType::flow_dissector) return AttachType::flow_dissector;
  return std::nullopt;
}

Error explain(Error error, AttachType type) {
  auto place = "netns " + std::string(name(type));
  if (error.sys_errno() == EEXIST)
    return Error(Errc::busy, error.operation(),
                 place + ": the namespace already has a program for this hook attached another way (link vs "
                         "prog_attach, or an exclusive flow dissector)",
                 EEXIST);
  return std::move(error.context(place));
}

// Legacy flow-dissector attachment: detaching needs the thread back in the namespace.
class FlowDissectorAttachment final : public Attachment {
 public:
  FlowDissectorAttachment(Fd netns, Fd prog) : netns_(std::move(netns)), prog_(std::move(prog)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::prog_attach; }
  std::string describe() const override { return "netns flow_dissector (prog_attach)"; }
  Result<void> detach() override {
    auto guard = EBPF_TRY(netlink::NetnsGuard::enter(netns_.get()));
    sys::ProgAttachAttr attr;
    attr.target_fd = 0;
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_.get());
    attr.attach_type = static_cast<std::uint32_t>(AttachType::flow_dissector);
    auto r = sys::prog_detach(attr);
    if (!r) return std::move(r.error().context(describe()));
    return ok();
  }

 private:
  Fd netns_;
  Fd prog_;
};

}  // namespace

Result<Link> attach_netns(const Program& program, int netns_fd, const NetnsAttachOptions& options) {
  constexpr std::string_view op = "attach netns";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  auto type = netns_attach_type(program.type());
  if (!type)
    return Error::invalid(std::string(op), detail::program_label(program) +
                                               " cannot attach to a network namespace: it needs a sk_lookup or "
                                               "flow_dissector program");
  if (netns_fd < 0) return Error::invalid(std::string(op), "no network namespace descriptor given");
  if (options.use_link) {
    sys::LinkCreateAttr attr;
    attr.prog_fd = static_cast<std::uint32_t>(program.fd());
    attr.target_fd = static_cast<std::uint32_t>(netns_fd);
    attr.attach_type = static_cast<std::uint32_t>(*type);
    auto fd = sys::link_create(attr);
    if (!fd) return explain(std::move(fd).error(), *type);
    return Link::from_fd(std::move(*fd), "netns " + std::string(name(*type)) + " via bpf_link");
  }
  if (*type != AttachType::flow_dissector)
    return Error::invalid(std::string(op), "only the flow dissector can attach without a link");
  auto netns = EBPF_TRY(detail::dup_fd(netns_fd, "netns"));
  auto prog = EBPF_TRY(detail::dup_fd(program.fd(), "flow dissector program"));
  {
    auto guard = EBPF_TRY(netlink::NetnsGuard::enter(netns_fd));
    sys::ProgAttachAttr attr;
    attr.target_fd = 0;  // the calling thread's namespace; a namespace fd is EINVAL here
    attr.attach_bpf_fd = static_cast<std::uint32_t>(program.fd());
    attr.attach_type = static_cast<std::uint32_t>(AttachType::flow_dissector);
    auto r = sys::prog_attach(attr);
    if (!r) return explain(std::move(r).error(), *type);
  }
  return Link(std::make_unique<FlowDissectorAttachment>(std::move(netns), std::move(prog)));
}

Result<std::vector<std::uint32_t>> query_netns(int netns_fd, AttachType type) {
  if (netns_fd < 0) return Error::invalid("BPF_PROG_QUERY", "no network namespace descriptor given");
  if (type != AttachType::sk_lookup && type != AttachType::flow_dissector)
    return Error::invalid("BPF_PROG_QUERY", std::string(name(type)) + " is not a network namespace hook");
  std::vector<std::uint32_t> ids(64);
  sys::ProgQueryAttr attr;
  attr.target_fd = static_cast<std::uint32_t>(netns_fd);
  attr.attach_type = static_cast<std::uint32_t>(type);
  attr.prog_ids = sys::ptr(ids.data());
  attr.count = static_cast<std::uint32_t>(ids.size());
  auto r = sys::prog_query(attr);
  if (!r) return std::move(r.error().context("netns " + std::string(name(type))));
  ids.resize(std::min<std::size_t>(attr.count, ids.size()));
  return ids;
}

}  // namespace ebpf
