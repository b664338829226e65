// lb/common/abi.hpp — the byte-level contract between ebpf-lb's BPF data path and its control plane.
//
// Every BPF map key and value of the load balancer is one struct below. The future BPF builder (the
// library's assembler/DSL) addresses fields with offsetof() on these very structs, and user space reads and
// writes maps with them, so both sides cannot drift apart. Rules kept by every struct:
//   - standard layout, trivially copyable, no implicit padding (explicit `pad` members, zeroed by users,
//     because hash-map keys are compared byte for byte);
//   - size and every field offset pinned by static_assert;
//   - addresses are 16 bytes: IPv6 as is, IPv4 as v4-mapped (::ffff:a.b.c.d), plus a family field, so one
//     map serves both families and a v4 lookup never matches a v6 entry by accident;
//   - addresses and L4 ports are in network byte order (as read from the packet, no conversion in BPF);
//     every other integer is host order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ebpf/dsl/rate_limit.hpp"

namespace lb {

inline constexpr std::uint8_t kFamilyV4 = 4;
inline constexpr std::uint8_t kFamilyV6 = 6;
inline constexpr std::uint8_t kProtoTcp = 6;   // IPPROTO_TCP
inline constexpr std::uint8_t kProtoUdp = 17;  // IPPROTO_UDP
inline constexpr std::uint8_t kProtoIcmp = 1;     // IPPROTO_ICMP (ICMP errors are translated, never balanced)
inline constexpr std::uint8_t kProtoIcmpv6 = 58;  // IPPROTO_ICMPV6

// An IPv4 (v4-mapped) or IPv6 address as it appears in every key and value.
struct Addr {
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const Addr&, const Addr&) = default;
};
static_assert(sizeof(Addr) == 16 && alignof(Addr) == 1);

// ---- lb_services: which VIP:port/proto is load balanced, and how ----------------------------------------

struct ServiceKey {
  Addr vip;                 // 0
  std::uint16_t port = 0;   // 16, network order
  std::uint8_t proto = 0;   // 18, kProtoTcp / kProtoUdp
  std::uint8_t family = 0;  // 19, kFamilyV4 / kFamilyV6
};
static_assert(sizeof(ServiceKey) == 20);
static_assert(offsetof(ServiceKey, port) == 16 && offsetof(ServiceKey, proto) == 18 &&
              offsetof(ServiceKey, family) == 19);

// ServiceValue::flags
namespace service_flags {
inline constexpr std::uint32_t kSchedRandom = 1U << 0;    // weighted random instead of Maglev (see below)
inline constexpr std::uint32_t kPersistSource = 1U << 1;  // hash the source address only (client affinity)
inline constexpr std::uint32_t kHasSourceRoutes = 1U << 2;  // consult lb_src_routes before the default table
inline constexpr std::uint32_t kRateLimitService = 1U << 3;  // lb_svc_rate bucket is active
inline constexpr std::uint32_t kRateLimitSource = 1U << 4;   // lb_src_rate buckets are active
}  // namespace service_flags

// The backend of a new flow is table[maglev_offset + hash % maglev_size] in lb_maglev. Weighted random
// uses the same weight-proportional table with a random index instead of the flow hash, so both
// schedulers share one structure and one update path. The control plane double-buffers each table (two
// regions per service) and switches by rewriting this value, which the kernel replaces atomically.
struct ServiceValue {
  std::uint32_t id = 0;              // 0: index into lb_svc_stats / lb_svc_rate
  std::uint32_t flags = 0;           // 4: service_flags
  std::uint32_t maglev_offset = 0;   // 8: first slot of the active table in lb_maglev
  std::uint32_t maglev_size = 0;     // 12: prime table size; 0 = no usable backend (drop, no_backend)
  std::uint32_t backend_count = 0;   // 16: backends in the active table
  std::uint32_t svc_rate = 0;        // 20: new connections per second for the whole service (0 = off)
  std::uint32_t svc_burst = 0;       // 24
  std::uint32_t src_rate = 0;        // 28: new connections per second per source address (0 = off)
  std::uint32_t src_burst = 0;       // 32
  std::uint32_t pad = 0;             // 36
};
static_assert(sizeof(ServiceValue) == 40);
static_assert(offsetof(ServiceValue, maglev_offset) == 8 && offsetof(ServiceValue, maglev_size) == 12 &&
              offsetof(ServiceValue, backend_count) == 16 && offsetof(ServiceValue, svc_rate) == 20 &&
              offsetof(ServiceValue, src_burst) == 32);

// ---- lb_backends (array indexed by backend id) and lb_maglev (array of backend ids) -------------------

namespace backend_flags {
inline constexpr std::uint8_t kDraining = 1U << 0;   // existing flows continue, no new flows
inline constexpr std::uint8_t kUnhealthy = 1U << 1;  // failed health checks: no new flows
inline constexpr std::uint8_t kInUse = 1U << 7;      // the slot holds a configured backend
}  // namespace backend_flags

struct BackendValue {
  Addr addr;                            // 0
  std::uint16_t port = 0;               // 16, network order
  std::uint8_t family = 0;              // 18
  std::uint8_t flags = 0;               // 19, backend_flags
  std::uint32_t weight = 0;             // 20
  std::uint32_t service_id = 0;         // 24
  std::uint32_t ifindex = 0;            // 28: egress interface in redirect mode
  std::array<std::uint8_t, 6> mac{};    // 32: next-hop MAC in redirect mode
  std::uint16_t pad = 0;                // 38
};
static_assert(sizeof(BackendValue) == 40);
static_assert(offsetof(BackendValue, port) == 16 && offsetof(BackendValue, family) == 18 &&
              offsetof(BackendValue, flags) == 19 && offsetof(BackendValue, weight) == 20 &&
              offsetof(BackendValue, service_id) == 24 && offsetof(BackendValue, ifindex) == 28 &&
              offsetof(BackendValue, mac) == 32);

using MaglevSlot = std::uint32_t;  // lb_maglev value: a backend id
inline constexpr MaglevSlot kNoBackend = 0xffffffffU;

// ---- lb_src_routes: source CIDR -> backend group (its own Maglev table) -------------------------------

// LPM trie key: prefixlen counts the service id bits too (32 + address prefix), so one trie holds the
// routes of every service and a lookup never crosses services.
struct SourceRouteKey {
  std::uint32_t prefixlen = 0;   // 0: 32 + CIDR prefix length (v4 prefixes are mapped: +96)
  std::uint32_t service_id = 0;  // 4: big-endian, so it is matched as the leading bits
  Addr addr;                     // 8
};
static_assert(sizeof(SourceRouteKey) == 24 && offsetof(SourceRouteKey, addr) == 8);

struct SourceRouteValue {
  std::uint32_t group_id = 0;       // 0
  std::uint32_t maglev_offset = 0;  // 4
  std::uint32_t maglev_size = 0;    // 8
  std::uint32_t backend_count = 0;  // 12
};
static_assert(sizeof(SourceRouteValue) == 16);

// ---- lb_conntrack: LRU hash shared by XDP (client->VIP) and TC (backend->client) ------------------------

// Each flow has two entries: the forward key (client -> VIP, as XDP sees it) and the reverse key
// (backend -> client, as TC egress sees the reply). Ports are those on the wire at that hook.
struct ConntrackKey {
  Addr src;                   // 0
  Addr dst;                   // 16
  std::uint16_t sport = 0;    // 32, network order
  std::uint16_t dport = 0;    // 34, network order
  std::uint8_t proto = 0;     // 36
  std::uint8_t family = 0;    // 37
  std::uint16_t pad = 0;      // 38
};
static_assert(sizeof(ConntrackKey) == 40);
static_assert(offsetof(ConntrackKey, dst) == 16 && offsetof(ConntrackKey, sport) == 32 &&
              offsetof(ConntrackKey, dport) == 34 && offsetof(ConntrackKey, proto) == 36 &&
              offsetof(ConntrackKey, family) == 37);

enum class TcpState : std::uint8_t {
  kNone = 0,         // UDP, or TCP picked up mid-stream
  kSynSent = 1,      // client SYN seen
  kEstablished = 2,  // ACK after SYN (or any non-SYN packet of a known flow)
  kFinWait = 3,      // one side sent FIN
  kClosing = 4,      // both sides sent FIN
  kClosed = 5,       // RST seen: the entry is removed at once
};

namespace ct_flags {
inline constexpr std::uint8_t kReverse = 1U << 0;     // this is the reply-direction entry
inline constexpr std::uint8_t kFinFromClient = 1U << 1;
inline constexpr std::uint8_t kFinFromBackend = 1U << 2;
// Both sides sent FIN and the second FIN acknowledged the first (ConntrackValue::fin_end): the side that sent
// the first one owes only the last ACK, and that packet ends the flow (both entries removed after it is
// translated). Set with kClosing by the hook that saw the second FIN. When the FINs crossed (the second does
// not acknowledge the first), both sides owe an ACK and neither flag is set: the flow stays in kClosing until
// the transitory timeout, or until a SYN reuses its port.
inline constexpr std::uint8_t kLastAckFromClient = 1U << 3;
inline constexpr std::uint8_t kLastAckFromBackend = 1U << 4;
}  // namespace ct_flags

struct ConntrackValue {
  Addr nat_addr;                    // 0: forward: backend address (DNAT); reverse: VIP (SNAT)
  std::uint16_t nat_port = 0;       // 16: forward: backend port; reverse: VIP port (network order)
  std::uint8_t state = 0;           // 18: TcpState
  std::uint8_t flags = 0;           // 19: ct_flags
  std::uint32_t backend_id = 0;     // 20
  std::uint32_t service_id = 0;     // 24
  std::uint32_t fin_end = 0;        // 28: forward entry: seq + payload + 1 of the first FIN (the ack that covers it)
  std::uint64_t created_ns = 0;     // 32: CLOCK_MONOTONIC at creation (XDP: bpf_ktime_get_coarse_ns, tick resolution)
  std::uint64_t last_seen_ns = 0;   // 40: idle timeouts compare against this
  std::uint64_t packets = 0;        // 48: this direction (plain adds: approximate if two CPUs race on a flow)
  std::uint64_t bytes = 0;          // 56
};
static_assert(sizeof(ConntrackValue) == 64);
static_assert(offsetof(ConntrackValue, nat_port) == 16 && offsetof(ConntrackValue, state) == 18 &&
              offsetof(ConntrackValue, flags) == 19 && offsetof(ConntrackValue, backend_id) == 20 &&
              offsetof(ConntrackValue, service_id) == 24 && offsetof(ConntrackValue, fin_end) == 28 &&
              offsetof(ConntrackValue, created_ns) == 32 &&
              offsetof(ConntrackValue, last_seen_ns) == 40 && offsetof(ConntrackValue, packets) == 48 &&
              offsetof(ConntrackValue, bytes) == 56);

// ---- lb_persist: source-IP persistence for the random scheduler ---------------------------------------
// (Maglev services get persistence for free by hashing the source address only.)
struct PersistKey {
  Addr src;                      // 0
  std::uint32_t service_id = 0;  // 16
};
static_assert(sizeof(PersistKey) == 20 && offsetof(PersistKey, service_id) == 16);

struct PersistValue {
  std::uint32_t backend_id = 0;    // 0
  std::uint32_t pad = 0;           // 4
  std::uint64_t last_seen_ns = 0;  // 8
};
static_assert(sizeof(PersistValue) == 16 && offsetof(PersistValue, last_seen_ns) == 8);

// ---- lb_svc_rate / lb_src_rate: token buckets for new connections ---------------------------------------

// The library's token bucket (ebpf/dsl/rate_limit.hpp): one record layout and one reference algorithm for
// the BPF block the data path emits and for user space. Tokens are kept in nano-tokens (1 token = 1e9) so
// refilling is elapsed_ns * rate: no division in BPF. Races between CPUs may grant a few extra tokens; the
// limit is approximate by design.
using TokenBucket = ebpf::dsl::TokenBucket;
using ebpf::dsl::kNanoTokensPerToken;
using ebpf::dsl::token_bucket_take;

struct SourceRateKey {
  Addr src;                      // 0
  std::uint32_t service_id = 0;  // 16
};
static_assert(sizeof(SourceRateKey) == 20 && offsetof(SourceRateKey, service_id) == 16);

// ---- lb_svc_stats / lb_be_stats / lb_global_stats: per-CPU counters -------------------------------

enum class DropReason : std::uint32_t {
  kNoBackend = 0,           // service has no healthy backend
  kRateLimitService = 1,    // service new-connection bucket empty
  kRateLimitSource = 2,     // per-source new-connection bucket empty
  kConntrackFull = 3,       // conntrack insert failed
  kMalformed = 4,           // truncated or invalid headers
  kUnsupported = 5,         // IP fragments, IPv6 extension headers we do not walk
  kReserved6 = 6,
  kReserved7 = 7,
};
inline constexpr std::size_t kDropReasonCount = 8;

struct ServiceCounters {
  std::uint64_t packets = 0;                                // 0
  std::uint64_t bytes = 0;                                  // 8
  std::uint64_t new_flows = 0;                              // 16
  std::array<std::uint64_t, kDropReasonCount> drops{};      // 24, indexed by DropReason
};
static_assert(sizeof(ServiceCounters) == 88 && offsetof(ServiceCounters, drops) == 24);

struct BackendCounters {
  std::uint64_t packets = 0;    // 0: client -> backend (XDP)
  std::uint64_t bytes = 0;      // 8
  std::uint64_t new_flows = 0;  // 16
  std::uint64_t reply_packets = 0;  // 24: backend -> client (TC)
  std::uint64_t reply_bytes = 0;    // 32
};
static_assert(sizeof(BackendCounters) == 40 && offsetof(BackendCounters, reply_bytes) == 32);

// Whole-LB counters: conntrack churn lets the control plane estimate silent LRU evictions:
// evicted = created - closed - expired - gc_deleted - live entries.
struct GlobalCounters {
  std::uint64_t ct_created = 0;      // 0: forward entries inserted
  std::uint64_t ct_closed = 0;       // 8: removed by BPF after RST / both FINs
  std::uint64_t ct_expired = 0;      // 16: found idle past the timeout by BPF and replaced
  std::uint64_t ct_reverse_miss = 0; // 24: TC saw a backend reply without an entry (evicted or foreign)
  std::uint64_t not_service = 0;     // 32: packets passed through untouched (not TCP/UDP to a service)
  std::uint64_t events_lost = 0;     // 40: ring buffer reservations that failed
  std::uint64_t malformed = 0;       // 48: truncated or invalid headers, passed through untouched
  std::uint64_t icmp_translated = 0; // 56: ICMP errors about a balanced flow given the flow's NAT
};
static_assert(sizeof(GlobalCounters) == 64 && offsetof(GlobalCounters, icmp_translated) == 56);

// ---- lb_config: single-entry array of run-time settings ------------------------------------------------

namespace config_flags {
inline constexpr std::uint32_t kRedirect = 1U << 0;  // XDP_REDIRECT to backend ifindex instead of XDP_PASS
inline constexpr std::uint32_t kEvents = 1U << 1;    // emit flow open/close events
}  // namespace config_flags

struct DataPathConfig {
  std::uint64_t tcp_idle_ns = 0;        // 0
  std::uint64_t tcp_transitory_ns = 0;  // 8: SYN-only and closing flows
  std::uint64_t udp_idle_ns = 0;        // 16
  std::uint32_t flags = 0;              // 24: config_flags
  std::uint32_t egress_ifindex = 0;     // 28
};
static_assert(sizeof(DataPathConfig) == 32);

// The idle-timeout rule the data path applies on lookup and the control plane's sweeper applies to the
// whole map: UDP flows get udp_idle; TCP flows that are established get tcp_idle; TCP flows that are
// opening or closing (or were never seen opening) get the short tcp_transitory.
constexpr std::uint64_t conntrack_timeout_ns(const ConntrackKey& key, const ConntrackValue& value,
                                             const DataPathConfig& config) {
  if (key.proto == kProtoUdp) return config.udp_idle_ns;
  return static_cast<TcpState>(value.state) == TcpState::kEstablished ? config.tcp_idle_ns : config.tcp_transitory_ns;
}
constexpr bool conntrack_expired(const ConntrackKey& key, const ConntrackValue& value, const DataPathConfig& config,
                                 std::uint64_t now_ns) {
  return now_ns > value.last_seen_ns && now_ns - value.last_seen_ns > conntrack_timeout_ns(key, value, config);
}

// ---- lb_events: ring-buffer records ----------------------------------------------------------------------

enum class FlowEventType : std::uint8_t { kOpen = 1, kClose = 2 };
enum class CloseReason : std::uint8_t { kNone = 0, kFin = 1, kRst = 2, kIdle = 3 };

struct FlowEvent {
  std::uint8_t type = 0;          // 0: FlowEventType
  std::uint8_t family = 0;        // 1
  std::uint8_t proto = 0;         // 2
  std::uint8_t close_reason = 0;  // 3: CloseReason
  std::uint32_t service_id = 0;   // 4
  std::uint32_t backend_id = 0;   // 8
  std::uint16_t sport = 0;        // 12, network order
  std::uint16_t dport = 0;        // 14, network order (the VIP port)
  Addr src;                       // 16: client
  Addr dst;                       // 32: VIP
  std::uint64_t timestamp_ns = 0; // 48
  std::uint64_t packets = 0;      // 56: close only
  std::uint64_t bytes = 0;        // 64: close only
};
static_assert(sizeof(FlowEvent) == 72);
static_assert(offsetof(FlowEvent, service_id) == 4 && offsetof(FlowEvent, sport) == 12 &&
              offsetof(FlowEvent, src) == 16 && offsetof(FlowEvent, dst) == 32 &&
              offsetof(FlowEvent, timestamp_ns) == 48 && offsetof(FlowEvent, bytes) == 64);

// Every struct above can be memcpy'd into and out of maps.
template <class T>
inline constexpr bool kIsMapPod = std::is_standard_layout_v<T> && std::is_trivially_copyable_v<T> &&
                                  std::has_unique_object_representations_v<T>;
static_assert(kIsMapPod<ServiceKey> && kIsMapPod<ServiceValue> && kIsMapPod<BackendValue> &&
              kIsMapPod<SourceRouteKey> && kIsMapPod<SourceRouteValue> && kIsMapPod<ConntrackKey> &&
              kIsMapPod<ConntrackValue> && kIsMapPod<PersistKey> && kIsMapPod<PersistValue> &&
              kIsMapPod<TokenBucket> && kIsMapPod<SourceRateKey> && kIsMapPod<ServiceCounters> &&
              kIsMapPod<BackendCounters> && kIsMapPod<GlobalCounters> && kIsMapPod<DataPathConfig> &&
              kIsMapPod<FlowEvent>);

}  // namespace lb
