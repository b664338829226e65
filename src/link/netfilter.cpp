// Netfilter hooks via bpf_link (BPF_LINK_CREATE with pf / hooknum / priority / flags).
#include "ebpf/attach/netfilter.hpp"

#include <climits>
#include <cstddef>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {
namespace {

constexpr std::string_view kOp = "attach netfilter";

// struct bpf_link_info up to its netfilter member (the union starts at byte 16).
struct NetfilterLinkInfo {
  std::uint32_t type = 0, id = 0, prog_id = 0, pad = 0;
  std::uint32_t pf = 0, hooknum = 0;
  std::int32_t priority = 0;
  std::uint32_t flags = 0;
};
static_assert(offsetof(NetfilterLinkInfo, pf) == 16);

std::string describe(const NetfilterOptions& o) {
  return std::string(o.family == netfilter::Family::ipv4 ? "ipv4" : "ipv6") + " hook " +
         std::to_string(static_cast<std::uint32_t>(o.hook)) + " priority " + std::to_string(o.priority);
}

Result<void> validate(const Program& program, const NetfilterOptions& o) {
  if (!program.valid()) return Error::invalid(std::string(kOp), "the program is not loaded");
  if (program.type() != ProgType::netfilter)
    return Error::invalid(std::string(kOp), detail::program_label(program) +
                                                " cannot attach to a netfilter hook: it needs a netfilter program");
  if (o.family != netfilter::Family::ipv4 && o.family != netfilter::Family::ipv6)
    return Error::invalid(std::string(kOp), "family must be ipv4 (2) or ipv6 (10)");
  if (static_cast<std::uint32_t>(o.hook) > static_cast<std::uint32_t>(netfilter::Hook::post_routing))
    return Error::invalid(std::string(kOp), "hook must be one of NF_INET_PRE_ROUTING .. NF_INET_POST_ROUTING (0-4)");
  if (o.priority == INT_MIN || o.priority == INT_MAX)
    return Error::invalid(std::string(kOp), "priorities INT_MIN and INT_MAX are reserved by netfilter");
  return ok();
}

}  // namespace

Result<Link> attach_netfilter(const Program& program, const NetfilterOptions& options) {
  EBPF_TRY(validate(program, options));
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(AttachType::netfilter);
  auto& nf = attr.as<sys::LinkCreateAttr::Netfilter>();
  nf.pf = static_cast<std::uint32_t>(options.family);
  nf.hooknum = static_cast<std::uint32_t>(options.hook);
  nf.priority = options.priority;
  nf.flags = options.ip_defrag ? netfilter::kFlagIpDefrag : 0;
  std::string what = "netfilter " + describe(options);
  auto link = sys::link_create(attr);
  if (!link) {
    auto error = std::move(link).error();
    if (error.sys_errno() == EBUSY)  // another BPF hook holds this priority
      return Error(Errc::busy, std::string(kOp), what + ": another BPF program already uses this priority", EBUSY);
    if (error.sys_errno() == EOPNOTSUPP && options.ip_defrag)
      return Error(Errc::not_supported, std::string(kOp), what + ": IP defragmentation is not available", EOPNOTSUPP);
    return std::move(error.context(what + " for " + detail::program_label(program)));
  }
  return Link::from_fd(std::move(*link), what);
}

Result<NetfilterOptions> netfilter_link_info(const Link& link) {
  if (link.fd() < 0) return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "not an attached bpf_link");
  NetfilterLinkInfo info;
  std::uint32_t len = sizeof info;
  EBPF_TRY(sys::obj_get_info_by_fd(link.fd(), &info, len));
  if (info.type != static_cast<std::uint32_t>(LinkType::netfilter))
    return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "link " + std::to_string(info.id) + " is not a netfilter link");
  NetfilterOptions out;
  out.family = static_cast<netfilter::Family>(info.pf);
  out.hook = static_cast<netfilter::Hook>(info.hooknum);
  out.priority = info.priority;
  out.ip_defrag = (info.flags & netfilter::kFlagIpDefrag) != 0;
  return out;
}

}  // namespace ebpf
