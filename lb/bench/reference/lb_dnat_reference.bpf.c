// The comparator of lb/bench/datapath_bench.cpp: ebpf-lb's XDP DNAT (lb/dataplane/xdp_ingress.cpp) for IPv4
// TCP/UDP written the way one would in C, compiled by clang-19 -O2 at build time. Same maps (layouts in
// lb_dnat_reference.h, checked against lb/common/abi.hpp), same logic on the paths the benchmark times:
//   parse eth/IPv4/TCP|UDP -> service lookup -> per-CPU service counters -> conntrack lookup;
//   hit: idle-timeout check, last_seen/packets/bytes, TCP state from flags;
//   miss: SYN only, Maglev slot = offset + flow_hash % size (lb/common/flow_hash.hpp), up to 4 probes for a
//   usable backend, forward + reverse conntrack entries inserted once (BPF_NOEXIST), new-flow counters;
//   then per-CPU backend counters, DNAT with incremental IP and L4 checksums, XDP_PASS.
// What it leaves out (not exercised by the benchmark): IPv6, VLAN, rate limits, source routes, the random
// scheduler, ring-buffer events, redirect.
#include <linux/bpf.h>
#include <linux/types.h>

#include "lb_dnat_reference.h"

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define INLINE static inline __attribute__((always_inline))

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) =
    (void *)BPF_FUNC_map_update_elem;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_delete_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct ref_service_key);
  __type(value, struct ref_service_value);
} ref_services SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, struct ref_backend_value);
} ref_backends SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 65536);  // resized by the benchmark to lb_maglev's size before load
  __type(key, __u32);
  __type(value, __u32);
} ref_maglev SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);  // resized by the benchmark to lb_conntrack's size before load
  __type(key, struct ref_ct_key);
  __type(value, struct ref_ct_value);
} ref_conntrack SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct ref_service_counters);
} ref_svc_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, struct ref_backend_counters);
} ref_be_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ref_global_counters);
} ref_global_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ref_config);
} ref_config SEC(".maps");

#define ETH_HLEN 14
#define ETH_P_IP_BE 0x0008  // htons(0x0800)
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define STATE_NONE 0
#define STATE_SYN_SENT 1
#define STATE_ESTABLISHED 2
#define STATE_FIN_WAIT 3
#define STATE_CLOSING 4
#define CT_REVERSE 1
#define CT_FIN_CLIENT 2
#define CT_FIN_BACKEND 4
#define BE_IN_USE 0x80
#define BE_UNUSABLE 0x03
#define DROP_NO_BACKEND 0
#define DROP_CT_FULL 3
#define DROP_UNSUPPORTED 5
#define PICK_ATTEMPTS 4

#define HASH_SEED 0x6c62666c6f776831ULL
#define HASH_MUL 0x9e3779b97f4a7c15ULL
#define HASH_FINAL_MUL 0xff51afd7ed558ccdULL

struct iphdr_min {
  __u8 ver_ihl, tos;
  __u16 tot_len, id, frag_off;
  __u8 ttl, protocol;
  __u16 check;
  __u32 saddr, daddr;
};

INLINE void set_mapped(__u8 *out, __u32 v4) {
  *(__u64 *)out = 0;
  *(__u32 *)(out + 8) = 0xffff0000U;
  *(__u32 *)(out + 12) = v4;
}

INLINE __u64 flow_hash(const struct ref_ct_key *key) {
  const __u64 *w = (const __u64 *)key;
  __u64 h = HASH_SEED;
#pragma unroll
  for (int i = 0; i < 5; i++) h = (h ^ w[i]) * HASH_MUL;
  h ^= h >> 32;
  h *= HASH_FINAL_MUL;
  h ^= h >> 29;
  return h;
}

// RFC 1624 incremental update of a one's complement checksum for a 32-bit and a 16-bit field change.
INLINE __u16 csum_replace(__u16 check, __u32 old32, __u32 new32, __u16 old16, __u16 new16) {
  __u32 sum = (__u16)~check;
  sum += (__u16)~old32 + (__u16)(~old32 >> 16) + (new32 & 0xffff) + (new32 >> 16);
  sum += (__u16)~old16 + new16;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

INLINE void count_drop(__u32 *svc_id, int reason) {
  struct ref_service_counters *c = bpf_map_lookup_elem(&ref_svc_stats, svc_id);
  if (c) c->drops[reason]++;
}

INLINE void reverse_key(struct ref_ct_key *rev, const struct ref_ct_key *key, const __u8 *nat_addr, __u16 nat_port) {
  __builtin_memcpy(rev->src, nat_addr, 16);
  __builtin_memcpy(rev->dst, key->src, 16);
  rev->sport = nat_port;
  rev->dport = key->sport;
  rev->proto = key->proto;
  rev->family = key->family;
  rev->pad = 0;
}

static inline __attribute__((always_inline)) int lb_dnat(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u32 zero = 0;
  __u8 *eth = data;
  if ((void *)(eth + ETH_HLEN) > data_end || *(__u16 *)(eth + 12) != ETH_P_IP_BE) goto not_service;
  struct iphdr_min *ip = (void *)(eth + ETH_HLEN);
  if ((void *)(ip + 1) > data_end || (ip->ver_ihl >> 4) != 4 || (ip->ver_ihl & 0xf) < 5) goto not_service;
  __u16 frag = __builtin_bswap16(ip->frag_off);
  if (frag & 0x1fff) goto not_service;
  __u8 *l4 = (__u8 *)ip + (ip->ver_ihl & 0xf) * 4;
  __u8 proto = ip->protocol, tcp_flags = 0;
  if (proto == PROTO_TCP) {
    if ((void *)(l4 + 20) > data_end) goto not_service;
    tcp_flags = l4[13];
  } else if (proto == PROTO_UDP) {
    if ((void *)(l4 + 8) > data_end) goto not_service;
  } else {
    goto not_service;
  }
  __u64 len = data_end - data;

  struct ref_ct_key key __attribute__((aligned(8)));
  set_mapped(key.src, ip->saddr);
  set_mapped(key.dst, ip->daddr);
  key.sport = *(__u16 *)l4;
  key.dport = *(__u16 *)(l4 + 2);
  key.proto = proto;
  key.family = 4;
  key.pad = 0;

  struct ref_service_key skey __attribute__((aligned(8)));
  __builtin_memcpy(skey.vip, key.dst, 16);
  skey.port = key.dport;
  skey.proto = proto;
  skey.family = 4;
  struct ref_service_value *svc = bpf_map_lookup_elem(&ref_services, &skey);
  if (!svc) goto not_service;
  __u32 svc_id = svc->id;
  struct ref_service_counters *sc = bpf_map_lookup_elem(&ref_svc_stats, &svc_id);
  if (sc) {
    sc->packets++;
    sc->bytes += len;
  }
  if (frag & 0x2000) {
    count_drop(&svc_id, DROP_UNSUPPORTED);
    return XDP_DROP;
  }
  struct ref_config *cfg = bpf_map_lookup_elem(&ref_config, &zero);
  if (!cfg) return XDP_PASS;
  __u64 now = bpf_ktime_get_ns();

  __u8 nat_addr[16] __attribute__((aligned(8)));
  __u16 nat_port;
  __u32 backend_id;
  struct ref_ct_key rev __attribute__((aligned(8)));
  struct ref_ct_value *ct = bpf_map_lookup_elem(&ref_conntrack, &key);
  if (ct) {
    __u64 timeout = proto == PROTO_UDP ? cfg->udp_idle_ns
                    : ct->state == STATE_ESTABLISHED ? cfg->tcp_idle_ns : cfg->tcp_transitory_ns;
    __builtin_memcpy(nat_addr, ct->nat_addr, 16);
    nat_port = ct->nat_port;
    backend_id = ct->backend_id;
    if (now > ct->last_seen_ns && now - ct->last_seen_ns > timeout) {
      reverse_key(&rev, &key, nat_addr, nat_port);
      bpf_map_delete_elem(&ref_conntrack, &key);
      bpf_map_delete_elem(&ref_conntrack, &rev);
      struct ref_global_counters *g = bpf_map_lookup_elem(&ref_global_stats, &zero);
      if (g) g->ct_expired++;
      goto new_flow;
    }
    ct->last_seen_ns = now;
    __sync_fetch_and_add(&ct->packets, 1);
    __sync_fetch_and_add(&ct->bytes, len);
    if (proto == PROTO_TCP) {
      if (tcp_flags & TCP_RST) {
        reverse_key(&rev, &key, nat_addr, nat_port);
        bpf_map_delete_elem(&ref_conntrack, &key);
        bpf_map_delete_elem(&ref_conntrack, &rev);
        struct ref_global_counters *g = bpf_map_lookup_elem(&ref_global_stats, &zero);
        if (g) g->ct_closed++;
      } else if (tcp_flags & TCP_FIN) {
        __u8 f = ct->flags | CT_FIN_CLIENT;
        ct->flags = f;
        ct->state = (f & CT_FIN_BACKEND) ? STATE_CLOSING : STATE_FIN_WAIT;
      } else if (!(tcp_flags & TCP_SYN) && ct->state < STATE_ESTABLISHED) {
        ct->state = STATE_ESTABLISHED;
      }
    }
    goto forward;
  }

new_flow:
  if (proto == PROTO_TCP && (tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) return XDP_PASS;
  {
    __u32 size = svc->maglev_size, offset = svc->maglev_offset;
    if (size == 0) goto no_backend;
    __u32 idx = flow_hash(&key) % size;
    struct ref_backend_value *be = 0;
#pragma unroll
    for (int i = 0; i < PICK_ATTEMPTS; i++) {
      __u32 slot = offset + idx;
      __u32 *id = bpf_map_lookup_elem(&ref_maglev, &slot);
      if (id) {
        backend_id = *id;
        be = bpf_map_lookup_elem(&ref_backends, &backend_id);
        if (be && (be->flags & (BE_IN_USE | BE_UNUSABLE)) == BE_IN_USE) break;
        be = 0;
      }
      idx = idx + 1 < size ? idx + 1 : 0;
    }
    if (!be) goto no_backend;
    __builtin_memcpy(nat_addr, be->addr, 16);
    nat_port = be->port;

    struct ref_ct_value v __attribute__((aligned(8)));
    __builtin_memcpy(v.nat_addr, nat_addr, 16);
    v.nat_port = nat_port;
    v.state = proto == PROTO_TCP ? STATE_SYN_SENT : STATE_NONE;
    v.flags = 0;
    v.backend_id = backend_id;
    v.service_id = svc_id;
    v.pad = 0;
    v.created_ns = now;
    v.last_seen_ns = now;
    v.packets = 1;
    v.bytes = len;
    if (bpf_map_update_elem(&ref_conntrack, &key, &v, BPF_NOEXIST) != 0) goto ct_full;
    reverse_key(&rev, &key, nat_addr, nat_port);
    __builtin_memcpy(v.nat_addr, key.dst, 16);
    v.nat_port = key.dport;
    v.flags = CT_REVERSE;
    v.packets = 0;
    v.bytes = 0;
    if (bpf_map_update_elem(&ref_conntrack, &rev, &v, BPF_NOEXIST) != 0) {
      bpf_map_delete_elem(&ref_conntrack, &key);
      goto ct_full;
    }
    struct ref_global_counters *g = bpf_map_lookup_elem(&ref_global_stats, &zero);
    if (g) g->ct_created++;
    if (sc) sc->new_flows++;
    struct ref_backend_counters *bn = bpf_map_lookup_elem(&ref_be_stats, &backend_id);
    if (bn) bn->new_flows++;
  }

forward: {
  struct ref_backend_counters *bc = bpf_map_lookup_elem(&ref_be_stats, &backend_id);
  if (bc) {
    bc->packets++;
    bc->bytes += len;
  }
  // Packet pointers survive map helpers in XDP, but the verifier needs the bounds again after the joins.
  data = (void *)(long)ctx->data;
  data_end = (void *)(long)ctx->data_end;
  ip = (void *)((__u8 *)data + ETH_HLEN);
  if ((void *)(ip + 1) > data_end) return XDP_PASS;
  l4 = (__u8 *)ip + (ip->ver_ihl & 0xf) * 4;
  __u32 new_addr = *(__u32 *)(nat_addr + 12), old_addr = ip->daddr;
  if (proto == PROTO_TCP) {
    if ((void *)(l4 + 20) > data_end) return XDP_PASS;
    __u16 *check = (__u16 *)(l4 + 16);
    *check = csum_replace(*check, old_addr, new_addr, *(__u16 *)(l4 + 2), nat_port);
  } else {
    if ((void *)(l4 + 8) > data_end) return XDP_PASS;
    __u16 *check = (__u16 *)(l4 + 6);
    if (*check) {
      __u16 c = csum_replace(*check, old_addr, new_addr, *(__u16 *)(l4 + 2), nat_port);
      *check = c ? c : 0xffff;
    }
  }
  *(__u16 *)(l4 + 2) = nat_port;
  ip->check = csum_replace(ip->check, old_addr, new_addr, 0, 0);
  ip->daddr = new_addr;
  return XDP_PASS;
}

no_backend:
  count_drop(&svc_id, DROP_NO_BACKEND);
  return XDP_DROP;
ct_full:
  count_drop(&svc_id, DROP_CT_FULL);
  return XDP_DROP;
not_service: {
  struct ref_global_counters *g = bpf_map_lookup_elem(&ref_global_stats, &zero);
  if (g) g->not_service++;
  return XDP_PASS;
}
}

SEC("xdp")
int lb_dnat_reference(struct xdp_md *ctx) { return lb_dnat(ctx); }

// ---- benchmark harness (see lb/bench/datapath_bench.cpp) --------------------------------------------------
// BPF_PROG_TEST_RUN's repeat runs on one buffer, so the frame is restored from ref_harness before each run.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ref_harness_state);
} ref_harness SEC(".maps");

INLINE int restore(struct xdp_md *ctx) {
  __u32 zero = 0;
  struct ref_harness_state *st = bpf_map_lookup_elem(&ref_harness, &zero);
  if (!st) return -1;
  __u64 *data = (void *)(long)ctx->data;
  if ((void *)((__u8 *)data + REF_HARNESS_FRAME) > (void *)(long)ctx->data_end) return -1;
  const __u64 *from = (const __u64 *)st->frame;
#pragma unroll
  for (int i = 0; i < REF_HARNESS_FRAME / 8; i++) data[i] = from[i];
  if (st->mode & REF_HARNESS_CYCLE) {
    __u32 i = st->next;
    st->next = i + 1 < st->flows ? i + 1 : 0;
    *(__u32 *)((__u8 *)data + ETH_HLEN + 12) = __builtin_bswap32(st->cycle_base + i);
  }
  if (st->mode & REF_HARNESS_DELETE) {
    bpf_map_delete_elem(&ref_conntrack, &st->forward);
    bpf_map_delete_elem(&ref_conntrack, &st->reverse);
  }
  return 0;
}

SEC("xdp")
int lb_dnat_reference_restored(struct xdp_md *ctx) {
  if (restore(ctx)) return XDP_PASS;
  return lb_dnat(ctx);
}

SEC("xdp")
int lb_harness_only(struct xdp_md *ctx) {
  restore(ctx);
  return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
