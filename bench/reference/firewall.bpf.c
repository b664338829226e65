// The XDP "basic firewall" of include/ebpf/dsl/firewall.hpp written in C, compiled by clang-19 -O2 at build time:
// the comparator bench/firewall_bench.cpp times the DSL-built program against. Same logic, same maps: drop IPv4
// frames whose source address (network byte order) is a key of `blocklist`, pass everything else, count
// passed/dropped frames in the per-CPU `counters` array. One 802.1Q/802.1ad tag is followed, IPv4 options are
// skipped by IHL, short or malformed frames pass, as in the DSL program.
#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u8);
} blocklist SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

enum { kPassed = 0, kDropped = 1 };

SEC("xdp")
int firewall(struct xdp_md *ctx) {
  const __u8 *data = (const __u8 *)(long)ctx->data;
  const __u8 *data_end = (const __u8 *)(long)ctx->data_end;
  __u32 index = kPassed;
  const __u8 *cursor = data + 14;
  if (cursor > data_end) goto count;
  __u16 ethertype = __builtin_bswap16(*(const __u16 *)(data + 12));
  if (ethertype == 0x8100 || ethertype == 0x88a8) {
    if (cursor + 4 > data_end) goto count;
    ethertype = __builtin_bswap16(*(const __u16 *)(cursor + 2));
    cursor += 4;
  }
  if (ethertype != 0x0800) goto count;
  if (cursor + 20 > data_end) goto count;
  __u32 ihl = (cursor[0] & 0x0f) * 4;
  if (ihl < 20 || cursor + ihl > data_end) goto count;
  __u32 source = *(const __u32 *)(cursor + 12);
  if (bpf_map_lookup_elem(&blocklist, &source)) index = kDropped;
count:;
  __u64 *counter = bpf_map_lookup_elem(&counters, &index);
  if (counter) *counter += 1;
  return index == kDropped ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
