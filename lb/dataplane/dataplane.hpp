// lb/dataplane/dataplane.hpp — ebpf-lb's BPF programs loaded against the data-path maps and attached.
//
// Topology: clients reach the VIP through the load balancer's client-facing interface, where the XDP program
// rewrites client->VIP packets to a backend (DNAT). Backends use the load balancer as their gateway, so their
// replies are routed back out of the client-facing interface — that is where the TC *egress* program must run
// to give them the VIP back as source (SNAT). `egress` is therefore "the interface replies leave through
// toward the clients" (usually the same as `ingress`), not the backend-facing one. The kernel forwards
// between the two sides: net.ipv4.ip_forward (and net.ipv6.conf.all.forwarding for IPv6) must be 1 in the
// load balancer's namespace; start() warns when it is not.
//
// Attachment: XDP by bpf_link, falling back to netlink; TC by tcx link, falling back to clsact + cls_bpf
// (interface_hooks.hpp: those stay in place when the process exits, like pinned links). With ingress_hook tc
// the DNAT program is built for sched_cls and attached at TC ingress the same way (tcx, else cls_bpf).
// Restarts: with a pin directory (DataPathMaps::pin_dir), links are pinned as link_xdp_<if> (or link_tcin_<if>
// for the TC ingress hook) / link_tc_<if>. A
// new DataPlane finds them and swaps in its freshly loaded programs with BPF_LINK_UPDATE (netlink
// attachments: an in-place replace), so there is no moment without a program and live flows keep their
// conntrack entries. Pinned links for other interfaces or the other ingress hook (a changed configuration) are
// detached and unpinned once the new programs are attached, and so is a previous run's netlink XDP program or
// classic TC ingress filter that the new ingress hook does not use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/xdp.hpp"
#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "lb/control/config.hpp"
#include "lb/control/datapath_maps.hpp"
#include "lb/control/log.hpp"

namespace lb {

using ProgramBuilder = std::function<ebpf::Result<ebpf::Bytecode>()>;

struct DataPlaneOptions {
  std::string ingress{};   // client-facing interface: XDP or TC ingress (DNAT)
  std::string egress{};    // where replies leave toward clients: TC egress (SNAT); empty = ingress
  ebpf::XdpMode xdp_mode = ebpf::XdpMode::unspecified;
  IngressHook ingress_hook = IngressHook::xdp;  // where the DNAT program runs (build_xdp must match it)
  bool force_netlink = false;  // classic attachments only (netlink XDP, clsact + cls_bpf)
  bool adopt = true;           // update pinned links of a previous run; false: detach them, attach anew
  Logger* log = nullptr;
  // The programs (their map references are resolved by catalogue name). Defaults: the XDP ingress program
  // and build_tc_egress(); tests substitute their own.
  ProgramBuilder build_xdp{};
  ProgramBuilder build_tc{};
};

// One attached program.
struct HookState {
  std::string interface{};
  std::uint32_t ifindex = 0;
  ebpf::AttachMechanism mechanism = ebpf::AttachMechanism::bpf_link;
  std::uint32_t prog_id = 0;
  std::uint32_t link_id = 0;   // 0 for netlink attachments
  bool replaced = false;       // a previous run's attachment was updated in place
  std::string pin{};           // the link's pin, empty when not pinned
};

class DataPlane {
 public:
  // Builds, loads and attaches both programs (see the file comment for restarts).
  static ebpf::Result<std::unique_ptr<DataPlane>> start(DataPathMaps& maps, const DataPlaneOptions& options = {});
  // Without shutdown(): with pinned maps the programs stay attached (like a crash: a restart adopts them);
  // without pinning they are detached.
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // The ingress (DNAT) program — XDP, or TC ingress with ingress_hook tc — and the egress (SNAT) one.
  IngressHook ingress_hook() const { return ingress_hook_; }
  const HookState& xdp() const { return xdp_.state; }
  const HookState& tc() const { return tc_.state; }
  const ebpf::Program& xdp_program() const { return xdp_.program; }
  const ebpf::Program& tc_program() const { return tc_.program; }

  // Detaches both programs and removes their link pins — or, with keep_pins, leaves them attached and
  // pinned for the next run. Map pins are DataPathMaps::unpin_all()'s business.
  ebpf::Result<void> shutdown(bool keep_pins);

 private:
  struct Hook {
    ebpf::Program program;
    ebpf::Link link;
    HookState state;
  };
  DataPlane() = default;

  Logger* log_ = nullptr;
  Hook xdp_;  // the ingress hook, whichever it is
  Hook tc_;
  IngressHook ingress_hook_ = IngressHook::xdp;
  bool shut_down_ = false;
  bool pinning_ = false;  // maps are pinned: a destroyed DataPlane leaves its programs attached
};

// Resolves `code`'s map references against `maps` and loads it; a verifier rejection keeps the log in the
// error and quotes its last lines in the message.
ebpf::Result<ebpf::Program> load_lb_program(ebpf::ProgType type, ebpf::Bytecode code, DataPathMaps& maps,
                                            const std::string& name);

// True when the kernel forwards IPv4 in the calling thread's network namespace (/proc/sys/net/ipv4/ip_forward).
bool ipv4_forwarding_enabled();

}  // namespace lb
