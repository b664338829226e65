// lb/dataplane/xdp_emit.hpp — internal to the XDP ingress builder: the stack layout of the program and the
// small emitters its parts share (map lookups, counters, keys, events). Not a public header.
//
// Registers kept for the whole program:
//   r6 = ctx (xdp_md, or __sk_buff for the TC ingress build), r7 = IP header, r8 = L4 header (packet pointers from emit_flow_parse),
//   r9 = lb_services value (ServiceValue*) from the service lookup on; blocks that need r9 spill it to kSvcPtr.
// Everything else lives in the stack slots below (offsets from r10), so helper calls lose nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/isa.hpp"
#include "lb/common/abi.hpp"
#include "lb/dataplane/flow_parse.hpp"
#include "lb/dataplane/xdp_ingress.hpp"

namespace lb::dataplane::xdp {

using ebpf::Assembler;
using ebpf::dsl::Field;
using ebpf::isa::Reg;

// Stack slots (fp offsets). The ParsedFlow sits at the top so flow_parse's default offset applies.
namespace slot {
inline constexpr std::int16_t kFlow = -56;          // ParsedFlow (key at +0)
inline constexpr std::int16_t kSvcKey = -80;        // ServiceKey (20 bytes)
inline constexpr std::int16_t kNow = -88;           // u64 bpf_ktime_get_ns() at entry
inline constexpr std::int16_t kSvcPtr = -96;        // spilled ServiceValue*
inline constexpr std::int16_t kCtPtr = -104;        // spilled ConntrackValue* (hit path)
inline constexpr std::int16_t kIndex = -112;        // u32 array index for lookups
inline constexpr std::int16_t kNat = -136;          // nat address (16) + nat port (2) + pad: what DNAT writes
inline constexpr std::int16_t kIds = -144;          // u32 backend id, u32 service id
inline constexpr std::int16_t kCtValue = -208;      // ConntrackValue being inserted; ICMP errors: IcmpNatScratch
inline constexpr std::int16_t kRevKey = -248;       // reverse ConntrackKey
inline constexpr std::int16_t kAux = -272;          // SourceRouteKey / PersistKey / SourceRateKey / PersistValue
inline constexpr std::int16_t kFib = -336;          // struct bpf_fib_lookup (64 bytes); TC: the DNAT helpers' scratch first

inline constexpr std::int16_t kTable = -344;        // u32 maglev offset, u32 maglev size
inline constexpr std::int16_t kPick = -352;         // u32 index within the table, u32 attempts left
inline constexpr std::int16_t kBackendId = kIds;
inline constexpr std::int16_t kServiceId = kIds + 4;
inline constexpr std::int16_t kNatPort = kNat + 16;
}  // namespace slot
static_assert(slot::kFlow == -static_cast<std::int16_t>(sizeof(ParsedFlow)));

inline constexpr Reg kCtx = ebpf::isa::r6;
inline constexpr Reg kL3 = ebpf::isa::r7;
inline constexpr Reg kL4 = ebpf::isa::r8;
inline constexpr Reg kSvc = ebpf::isa::r9;

// Where the program continues after a part (labels shared by the parts).
namespace label {
inline constexpr std::string_view kPassUntouched = "pass_untouched";  // XDP_PASS, nothing counted
inline constexpr std::string_view kNotService = "not_service";        // XDP_PASS, not_service++
inline constexpr std::string_view kForward = "forward";               // DNAT from kNat, backend in kBackendId
inline constexpr std::string_view kNewFlow = "new_flow";
inline constexpr std::string_view kDropNoBackend = "drop_no_backend";
inline constexpr std::string_view kDropRateService = "drop_rate_service";
inline constexpr std::string_view kDropRateSource = "drop_rate_source";
inline constexpr std::string_view kDropConntrackFull = "drop_conntrack_full";
inline constexpr std::string_view kDropUnsupported = "drop_unsupported";
inline constexpr std::string_view kMalformed = "malformed";          // XDP_PASS, malformed++
inline constexpr std::string_view kIcmp = "icmp";                    // from the parse: ICMP / ICMPv6
}  // namespace label

class Emitter {
 public:
  Emitter(Assembler& a, const XdpIngressOptions& options) : a(a), options(options) {}

  Assembler& a;
  const XdpIngressOptions& options;

  // The hook decides the context layout, the verdict codes and how the DNAT is written (xdp_ingress.hpp).
  bool tc() const { return options.hook == IngressHook::tc; }
  std::int32_t pass_verdict() const;  // XDP_PASS / TC_ACT_OK
  std::int32_t drop_verdict() const;  // XDP_DROP / TC_ACT_SHOT

  // A label name unique in the program.
  std::string unique(std::string_view what);
  // r0 = map_lookup_elem(map, fp + key_slot).
  void lookup(std::string_view map, std::int16_t key_slot);
  // r0 = map_lookup_elem(map, &index) with index = the u32 in `index_reg` (stored to slot::kIndex).
  void lookup_index(std::string_view map, Reg index_reg);
  // r0 = map_update_elem(map, fp + key_slot, fp + value_slot, flags).
  void update(std::string_view map, std::int16_t key_slot, std::int16_t value_slot, std::int32_t flags);
  void remove(std::string_view map, std::int16_t key_slot);
  // Per-CPU counter += value at `field` of element `index_slot` (a u32 on the stack) of `map`; clobbers r0..r5.
  void count(std::string_view map, std::int16_t index_slot, Field field, std::int32_t value);
  void count_global(Field field);
  // Copies `bytes` (multiple of 8) from fp + from to fp + to through r0.
  void copy_stack(std::int16_t from, std::int16_t to, std::int16_t bytes);
  // Reverse ConntrackKey (backend -> client) at slot::kRevKey from the flow key and slot::kNat.
  void build_reverse_key();
  // Open or close event to lb_events when lb_config has kEvents; with_counts copies packets/bytes from the
  // forward ConntrackValue* spilled at slot::kCtPtr (close events). Clobbers r0..r5.
  void emit_event(FlowEventType type, CloseReason reason, bool with_counts);
  // r1 = flow hash (lb/common/flow_hash.hpp) of `words` 8-byte words of the flow key.
  void flow_hash(std::size_t words);

 private:
  int counter_ = 0;
};

// The parts of the program, in the order they are emitted (xdp_ingress.cpp, xdp_new_flow.cpp).
void emit_conntrack_hit(Emitter& e);   // entry: r0 = ConntrackValue*; leaves through kForward / kNewFlow
ebpf::Result<void> emit_new_flow(Emitter& e);  // label kNewFlow; leaves through kForward or a drop
void emit_forward(Emitter& e);         // label kForward: counters, DNAT, verdict
void emit_exits(Emitter& e);           // the drop / pass labels

}  // namespace lb::dataplane::xdp
