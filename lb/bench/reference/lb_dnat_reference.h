/* lb/bench/reference/lb_dnat_reference.h — the map layouts of the clang-built DNAT comparator, in C.
 *
 * They mirror lb/common/abi.hpp (which is C++ and cannot be included by BPF C). lb/bench/datapath_bench.cpp
 * includes this header too and static_asserts every size and offset against the lb:: structs, so the two
 * cannot drift apart. Addresses are 16 bytes (IPv4 v4-mapped), ports in network order, as in abi.hpp. */
#ifndef LB_DNAT_REFERENCE_H
#define LB_DNAT_REFERENCE_H

#include <linux/types.h>

struct ref_service_key {
  __u8 vip[16];
  __u16 port;
  __u8 proto;
  __u8 family;
};

struct ref_service_value {
  __u32 id;
  __u32 flags;
  __u32 maglev_offset;
  __u32 maglev_size;
  __u32 backend_count;
  __u32 svc_rate, svc_burst, src_rate, src_burst, pad;
};

struct ref_backend_value {
  __u8 addr[16];
  __u16 port;
  __u8 family;
  __u8 flags;
  __u32 weight;
  __u32 service_id;
  __u32 ifindex;
  __u8 mac[6];
  __u16 pad;
};

struct ref_ct_key {
  __u8 src[16];
  __u8 dst[16];
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 family;
  __u16 pad;
};

struct ref_ct_value {
  __u8 nat_addr[16];
  __u16 nat_port;
  __u8 state;
  __u8 flags;
  __u32 backend_id;
  __u32 service_id;
  __u32 pad;
  __u64 created_ns;
  __u64 last_seen_ns;
  __u64 packets;
  __u64 bytes;
};

struct ref_service_counters {
  __u64 packets, bytes, new_flows;
  __u64 drops[8];
};

struct ref_backend_counters {
  __u64 packets, bytes, new_flows, reply_packets, reply_bytes;
};

struct ref_global_counters {
  __u64 ct_created, ct_closed, ct_expired, ct_reverse_miss, not_service, events_lost, malformed, icmp_translated;
};

struct ref_config {
  __u64 tcp_idle_ns, tcp_transitory_ns, udp_idle_ns;
  __u32 flags, egress_ifindex;
};

/* The benchmark harness's state (one element of an array map): the frame restored into the packet before
 * every run, and what to vary. Used by the C harness below the reference and by the DSL harness in
 * datapath_bench.cpp alike. */
#define REF_HARNESS_FRAME 64 /* frame bytes restored, as 8 words */
#define REF_HARNESS_CYCLE 1  /* source address = cycle_base + next; next = (next + 1) % flows */
#define REF_HARNESS_DELETE 2 /* delete `forward` and `reverse` from the conntrack map first */

struct ref_harness_state {
  __u8 frame[REF_HARNESS_FRAME];
  struct ref_ct_key forward;
  struct ref_ct_key reverse;
  __u32 next;
  __u32 flows;
  __u32 mode;
  __u32 cycle_base; /* host order */
};

#endif
