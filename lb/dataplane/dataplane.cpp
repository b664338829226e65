// Data plane: program loading, attachment and restart adoption (see dataplane.hpp).
#include "lb/dataplane/dataplane.hpp"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <vector>

#include "ebpf/attach/tc.hpp"
#include "ebpf/netlink.hpp"
#include "ebpf/pin.hpp"
#include "lb/dataplane/interface_hooks.hpp"
#include "lb/dataplane/tc_egress.hpp"
#include "lb/dataplane/xdp_ingress.hpp"

namespace lb {
namespace {

constexpr const char* kXdpName = "ebpf_lb_xdp";
constexpr const char* kTcInName = "ebpf_lb_tc_in";  // the DNAT program built for TC ingress
constexpr const char* kTcName = "ebpf_lb_tc";
constexpr std::size_t kVerifierLinesQuoted = 12;

std::string last_lines(std::string_view text, std::size_t count) {
  std::size_t pos = text.size();
  while (pos > 0 && text[pos - 1] == '\n') --pos;
  const std::size_t end = pos;
  for (std::size_t lines = 0; pos > 0 && lines < count; --pos)
    if (text[pos - 1] == '\n') ++lines;
  return std::string(text.substr(pos, end - pos));
}

// Every "link_*" pin in `dir` (links of earlier runs).
std::vector<std::string> link_pins(const std::string& dir) {
  std::vector<std::string> pins;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return pins;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.starts_with("link_")) pins.push_back(dir + "/" + name);
  }
  ::closedir(d);
  return pins;
}

// Detaches and unpins the pinned links of `dir` except `keep` (those are updated in place instead).
void remove_stale_links(const std::string& dir, const std::vector<std::string>& keep, Logger* log) {
  for (const auto& pin : link_pins(dir)) {
    if (std::find(keep.begin(), keep.end(), pin) != keep.end()) continue;
    if (auto link = ebpf::Link::open_pinned(pin)) (void)link->detach();
    (void)ebpf::unpin(pin);
    if (log != nullptr) log->info("removed a pinned link of a previous run", {{"pin", pin}});
  }
}

struct Target {
  std::string interface;
  std::uint32_t ifindex = 0;
  std::string pin;  // empty: no pinning
};

ebpf::Result<Target> resolve_target(const std::string& interface, const std::string& pin_dir, std::string_view kind) {
  if (interface.empty())
    return ebpf::Error::invalid("data plane", "no interface for the " + std::string(kind) + " program");
  auto ifindex = ebpf::netlink::interface_index(interface);
  if (!ifindex) return std::move(ifindex.error().context("interface '" + interface + "'"));
  return Target{interface, *ifindex, pin_dir.empty() ? "" : pin_dir + "/link_" + std::string(kind) + "_" + interface};
}

// The pinned link of a previous run at `target.pin`, if it is still attached to that interface.
std::optional<ebpf::Link> pinned_link(const Target& target, Logger* log) {
  if (target.pin.empty()) return std::nullopt;
  auto link = ebpf::Link::open_pinned(target.pin);
  if (!link) return std::nullopt;
  auto info = link->info();
  if (info && info->ifindex == target.ifindex) return std::move(*link);
  // The interface went away (ifindex 0) or was recreated: the pin is useless.
  (void)link->detach();
  (void)ebpf::unpin(target.pin);
  if (log != nullptr) log->warn("pinned link no longer on its interface, replaced", {{"pin", target.pin}});
  return std::nullopt;
}

// Records what is attached: program id, link id.
void describe(const ebpf::Program& program, const ebpf::Link& link, HookState& state) {
  if (auto info = program.info()) state.prog_id = info->id;
  state.mechanism = link.mechanism();
  if (auto info = link.info()) state.link_id = info->id;
}

// Adopts the pinned link (swapping the program in) or attaches anew with `attach`, then pins bpf_links.
ebpf::Result<ebpf::Link> adopt_or_attach(const ebpf::Program& program, const Target& target, HookState& state,
                                         const std::function<ebpf::Result<ebpf::Link>()>& attach, Logger* log) {
  state.interface = target.interface;
  state.ifindex = target.ifindex;
  if (auto link = pinned_link(target, log)) {
    EBPF_TRY(link->update(program));
    state.replaced = true;
    state.pin = target.pin;
    return std::move(*link);
  }
  auto link = EBPF_TRY(attach());
  if (!target.pin.empty() && link.mechanism() == ebpf::AttachMechanism::bpf_link) {
    EBPF_TRY(link.pin(target.pin));
    state.pin = target.pin;
  }
  return link;
}

// A previous run's netlink XDP program on this interface, recognised by its name.
bool our_netlink_xdp_present(std::uint32_t ifindex) {
  auto state = ebpf::query_xdp(ifindex);
  if (!state || state->prog_id == 0) return false;
  auto prog = ebpf::Program::from_id(state->prog_id);
  return prog && prog->name() == kXdpName;
}

ebpf::Result<ebpf::Link> attach_xdp_hook(const ebpf::Program& program, const Target& target,
                                         const DataPlaneOptions& options) {
  const bool ours_on_netlink = our_netlink_xdp_present(target.ifindex);
  if (!options.force_netlink && !ours_on_netlink) {
    auto link = ebpf::attach_xdp(program, target.ifindex,
                                 {.mode = options.xdp_mode, .method = ebpf::XdpMethod::link, .replace = false, .netns_fd = -1});
    if (link || link.error().code() != ebpf::Errc::not_supported) return link;
  }
  return dataplane::attach_interface_xdp(program, target.ifindex, options.xdp_mode, ours_on_netlink);
}

ebpf::Result<ebpf::Link> attach_tc_hook(const ebpf::Program& program, const Target& target, ebpf::TcDirection direction,
                                        const DataPlaneOptions& options) {
  if (!options.force_netlink) {
    auto link = ebpf::attach_tcx(program, target.ifindex, direction);
    if (link || link.error().code() != ebpf::Errc::not_supported) return link;
  }
  return dataplane::attach_interface_tc(program, target.ifindex, direction);
}

// After the ingress program is attached: what a previous run left on the other ingress hook or mechanism
// (pinned links are remove_stale_links' business). Both DNAT programs on one interface would be harmless —
// the second sees backend addresses, no service — but a stopped balancer must leave nothing behind.
void remove_other_ingress(const Target& target, IngressHook hook, ebpf::AttachMechanism mechanism, Logger* log) {
  auto removed_note = [&](const ebpf::Result<bool>& removed, std::string_view what) {
    if (log == nullptr) return;
    if (!removed) log->warn("cannot remove a previous run's ingress program", {{"what", what}, {"error", removed.error().to_string()}});
    else if (*removed) log->info("removed a previous run's ingress program", {{"what", what}, {"interface", target.interface}});
  };
  if (hook == IngressHook::tc) {
    if (auto state = ebpf::query_xdp(target.ifindex); state && state->prog_id != 0) {
      auto prog = ebpf::Program::from_id(state->prog_id);
      if (prog && prog->name() == kXdpName) removed_note(dataplane::remove_interface_xdp(target.ifindex, state->prog_id), "netlink xdp");
    }
  }
  if (hook == IngressHook::xdp || mechanism != ebpf::AttachMechanism::tc_filter)
    removed_note(dataplane::remove_interface_tc(target.ifindex, ebpf::TcDirection::ingress), "tc ingress filter");
}

// The clsact qdisc the classic fallback added, once no filter is left in it (tcx links do not need it).
void remove_empty_clsact(std::uint32_t ifindex) {
  auto egress = ebpf::query_tc(ifindex, ebpf::TcDirection::egress);
  auto ingress = ebpf::query_tc(ifindex, ebpf::TcDirection::ingress);
  if (egress && ingress && egress->empty() && ingress->empty()) (void)ebpf::teardown_tc_qdisc(ifindex);
}

void warn_without_forwarding(Logger* log) {
  if (log != nullptr && !ipv4_forwarding_enabled())
    log->warn("net.ipv4.ip_forward is 0 in this namespace: DNATed packets will not be forwarded to backends");
}

}  // namespace

bool ipv4_forwarding_enabled() {
  std::ifstream file("/proc/sys/net/ipv4/ip_forward");
  int value = 0;
  return static_cast<bool>(file >> value) && value == 1;
}

ebpf::Result<ebpf::Program> load_lb_program(ebpf::ProgType type, ebpf::Bytecode code, DataPathMaps& maps,
                                            const std::string& name) {
  EBPF_TRY(code.resolve([&maps, &name](std::string_view map) -> ebpf::Result<int> {
    auto* found = maps.find(map);
    if (found == nullptr)
      return ebpf::Error::invalid("load " + name, "the program uses map '" + std::string(map) + "', not in the catalogue");
    return found->fd();
  }));
  ebpf::ProgramLoadOptions load_options;
  load_options.name = name;
  auto program = ebpf::Program::load(type, code.span(), load_options);
  if (program || program.error().code() != ebpf::Errc::verifier) return program;
  auto error = std::move(program).error();
  ebpf::Error readable(error.code(), error.operation(),
                       name + " rejected by the verifier (" + std::to_string(code.insns.size()) +
                           " instructions); last lines of its log:\n" + last_lines(error.verifier_log(), kVerifierLinesQuoted),
                       error.sys_errno());
  readable.with_verifier_log(std::string(error.verifier_log()));
  return readable;
}

ebpf::Result<std::unique_ptr<DataPlane>> DataPlane::start(DataPathMaps& maps, const DataPlaneOptions& options) {
  const IngressHook hook = options.ingress_hook;
  const ProgramBuilder build_xdp = options.build_xdp ? options.build_xdp
                                                     : [hook] { return dataplane::build_xdp_ingress({.hook = hook}); };
  const ProgramBuilder build_tc = options.build_tc ? options.build_tc : [] { return dataplane::build_tc_egress(); };
  const auto egress = options.egress.empty() ? options.ingress : options.egress;
  // Different pin names per ingress hook: a restart that switches hooks finds the other one's pin stale.
  const auto xdp_target = EBPF_TRY(resolve_target(options.ingress, maps.pin_dir(), hook == IngressHook::tc ? "tcin" : "xdp"));
  const auto tc_target = EBPF_TRY(resolve_target(egress, maps.pin_dir(), "tc"));

  std::unique_ptr<DataPlane> plane(new DataPlane());
  plane->log_ = options.log;
  plane->pinning_ = !maps.pin_dir().empty();
  plane->ingress_hook_ = hook;
  // Load both before touching any hook: a program the verifier rejects leaves the running ones in place.
  plane->xdp_.program = EBPF_TRY(load_lb_program(dataplane::ingress_prog_type(hook), EBPF_TRY(build_xdp()), maps,
                                                 hook == IngressHook::tc ? kTcInName : kXdpName));
  plane->tc_.program = EBPF_TRY(load_lb_program(ebpf::ProgType::sched_cls, EBPF_TRY(build_tc()), maps, kTcName));

  // Not adopting: the previous run's links go first (a second XDP link on one interface is refused).
  if (!maps.pin_dir().empty() && !options.adopt) remove_stale_links(maps.pin_dir(), {}, options.log);
  auto& xdp = plane->xdp_;
  xdp.link = EBPF_TRY(adopt_or_attach(xdp.program, xdp_target, xdp.state, [&] {
    return hook == IngressHook::tc ? attach_tc_hook(xdp.program, xdp_target, ebpf::TcDirection::ingress, options)
                                   : attach_xdp_hook(xdp.program, xdp_target, options);
  }, options.log));
  describe(xdp.program, xdp.link, xdp.state);
  auto& tc = plane->tc_;
  tc.link = EBPF_TRY(adopt_or_attach(tc.program, tc_target, tc.state,
                                     [&] { return attach_tc_hook(tc.program, tc_target, ebpf::TcDirection::egress, options); },
                                     options.log));
  describe(tc.program, tc.link, tc.state);
  // Adopting: stale links (other interfaces, the other ingress hook) go only once the new programs run, so a
  // restart that switches hooks never leaves the interface without DNAT.
  if (!maps.pin_dir().empty() && options.adopt) remove_stale_links(maps.pin_dir(), {xdp_target.pin, tc_target.pin}, options.log);
  remove_other_ingress(xdp_target, hook, xdp.state.mechanism, options.log);
  warn_without_forwarding(options.log);
  if (options.log != nullptr)
    for (const HookState* s : {&xdp.state, &tc.state})
      options.log->info(s->replaced ? "program replaced in place" : "program attached",
                        {{"interface", s->interface},
                         {"hook", s == &tc.state ? "tc egress" : hook == IngressHook::tc ? "tc ingress" : "xdp"},
                         {"mechanism", ebpf::name(s->mechanism)}, {"prog_id", s->prog_id}, {"pin", s->pin}});
  return plane;
}

DataPlane::~DataPlane() {
  if (shut_down_) return;
  (void)shutdown(/*keep_pins=*/pinning_);
}

ebpf::Result<void> DataPlane::shutdown(bool keep_pins) {
  if (shut_down_) return ebpf::ok();
  shut_down_ = true;
  ebpf::Result<void> result = ebpf::ok();
  for (Hook* hook : {&xdp_, &tc_}) {
    // Keeping: destroying the Link closes descriptors only (pinned bpf_links and interface-owned
    // netlink attachments stay in place).
    if (keep_pins || !hook->link.attached()) continue;
    const bool classic_tc = hook->link.mechanism() == ebpf::AttachMechanism::tc_filter;
    auto detached = hook->link.detach();
    if (!detached && result) result = std::move(detached);
    if (classic_tc) remove_empty_clsact(hook->state.ifindex);
    if (!hook->state.pin.empty()) {
      auto removed = ebpf::unpin(hook->state.pin);
      if (!removed && removed.error().code() != ebpf::Errc::not_found && result) result = std::move(removed);
    }
  }
  xdp_.link = ebpf::Link();
  tc_.link = ebpf::Link();
  if (log_ != nullptr) log_->info(keep_pins ? "data plane left attached (pins kept)" : "data plane detached");
  return result;
}

}  // namespace lb
