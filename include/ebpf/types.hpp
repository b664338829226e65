// ebpf/types.hpp — the kernel's enumerations, as the library's own typed enums.
//
// Defined here rather than taken from <linux/bpf.h> because Debian 12 ships 6.1 UAPI headers, which lack
// newer values (ARENA, TCX, UPROBE_MULTI, NETKIT, ...). Values are the kernel's ABI and never change.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ebpf {

enum class MapType : std::uint32_t {
  unspec = 0, hash = 1, array = 2, prog_array = 3, perf_event_array = 4, percpu_hash = 5, percpu_array = 6,
  stack_trace = 7, cgroup_array = 8, lru_hash = 9, lru_percpu_hash = 10, lpm_trie = 11, array_of_maps = 12,
  hash_of_maps = 13, devmap = 14, sockmap = 15, cpumap = 16, xskmap = 17, sockhash = 18, cgroup_storage = 19,
  reuseport_sockarray = 20, percpu_cgroup_storage = 21, queue = 22, stack = 23, sk_storage = 24,
  devmap_hash = 25, struct_ops = 26, ringbuf = 27, inode_storage = 28, task_storage = 29, bloom_filter = 30,
  user_ringbuf = 31, cgrp_storage = 32, arena = 33,
};
inline constexpr std::uint32_t kMapTypeCount = 34;

enum class ProgType : std::uint32_t {
  unspec = 0, socket_filter = 1, kprobe = 2, sched_cls = 3, sched_act = 4, tracepoint = 5, xdp = 6,
  perf_event = 7, cgroup_skb = 8, cgroup_sock = 9, lwt_in = 10, lwt_out = 11, lwt_xmit = 12, sock_ops = 13,
  sk_skb = 14, cgroup_device = 15, sk_msg = 16, raw_tracepoint = 17, cgroup_sock_addr = 18,
  lwt_seg6local = 19, lirc_mode2 = 20, sk_reuseport = 21, flow_dissector = 22, cgroup_sysctl = 23,
  raw_tracepoint_writable = 24, cgroup_sockopt = 25, tracing = 26, struct_ops = 27, ext = 28, lsm = 29,
  sk_lookup = 30, syscall = 31, netfilter = 32,
};
inline constexpr std::uint32_t kProgTypeCount = 33;

enum class AttachType : std::uint32_t {
  cgroup_inet_ingress = 0, cgroup_inet_egress = 1, cgroup_inet_sock_create = 2, cgroup_sock_ops = 3,
  sk_skb_stream_parser = 4, sk_skb_stream_verdict = 5, cgroup_device = 6, sk_msg_verdict = 7,
  cgroup_inet4_bind = 8, cgroup_inet6_bind = 9, cgroup_inet4_connect = 10, cgroup_inet6_connect = 11,
  cgroup_inet4_post_bind = 12, cgroup_inet6_post_bind = 13, cgroup_udp4_sendmsg = 14, cgroup_udp6_sendmsg = 15,
  lirc_mode2 = 16, flow_dissector = 17, cgroup_sysctl = 18, cgroup_udp4_recvmsg = 19, cgroup_udp6_recvmsg = 20,
  cgroup_getsockopt = 21, cgroup_setsockopt = 22, trace_raw_tp = 23, trace_fentry = 24, trace_fexit = 25,
  modify_return = 26, lsm_mac = 27, trace_iter = 28, cgroup_inet4_getpeername = 29,
  cgroup_inet6_getpeername = 30, cgroup_inet4_getsockname = 31, cgroup_inet6_getsockname = 32,
  xdp_devmap = 33, cgroup_inet_sock_release = 34, xdp_cpumap = 35, sk_lookup = 36, xdp = 37,
  sk_skb_verdict = 38, sk_reuseport_select = 39, sk_reuseport_select_or_migrate = 40, perf_event = 41,
  trace_kprobe_multi = 42, lsm_cgroup = 43, struct_ops = 44, netfilter = 45, tcx_ingress = 46,
  tcx_egress = 47, trace_uprobe_multi = 48, cgroup_unix_connect = 49, cgroup_unix_sendmsg = 50,
  cgroup_unix_recvmsg = 51, cgroup_unix_getpeername = 52, cgroup_unix_getsockname = 53, netkit_primary = 54,
  netkit_peer = 55, trace_kprobe_session = 56, trace_uprobe_session = 57,
};
inline constexpr std::uint32_t kAttachTypeCount = 58;

enum class LinkType : std::uint32_t {
  unspec = 0, raw_tracepoint = 1, tracing = 2, cgroup = 3, iter = 4, netns = 5, xdp = 6, perf_event = 7,
  kprobe_multi = 8, struct_ops = 9, netfilter = 10, tcx = 11, uprobe_multi = 12, netkit = 13, sockmap = 14,
};
inline constexpr std::uint32_t kLinkTypeCount = 15;

// Kernel spelling without the prefix, lower case: "lru_hash", "sched_cls", "tcx_ingress", "xdp".
std::string_view name(MapType type) noexcept;
std::string_view name(ProgType type) noexcept;
std::string_view name(AttachType type) noexcept;
std::string_view name(LinkType type) noexcept;
// Inverse of name(); nullopt for unknown names.
std::optional<MapType> map_type_from_name(std::string_view name) noexcept;
std::optional<ProgType> prog_type_from_name(std::string_view name) noexcept;
std::optional<AttachType> attach_type_from_name(std::string_view name) noexcept;

// Map flags (BPF_F_* for BPF_MAP_CREATE).
namespace map_flags {
inline constexpr std::uint32_t no_prealloc = 1U << 0;
inline constexpr std::uint32_t no_common_lru = 1U << 1;
inline constexpr std::uint32_t numa_node = 1U << 2;
inline constexpr std::uint32_t rdonly = 1U << 3;
inline constexpr std::uint32_t wronly = 1U << 4;
inline constexpr std::uint32_t stack_build_id = 1U << 5;
inline constexpr std::uint32_t zero_seed = 1U << 6;
inline constexpr std::uint32_t rdonly_prog = 1U << 7;
inline constexpr std::uint32_t wronly_prog = 1U << 8;
inline constexpr std::uint32_t clone = 1U << 9;
inline constexpr std::uint32_t mmapable = 1U << 10;
inline constexpr std::uint32_t preserve_elems = 1U << 11;
inline constexpr std::uint32_t inner_map = 1U << 12;
inline constexpr std::uint32_t link = 1U << 13;
inline constexpr std::uint32_t path_fd = 1U << 14;
inline constexpr std::uint32_t vtype_btf_obj_fd = 1U << 15;
inline constexpr std::uint32_t token_fd = 1U << 16;
inline constexpr std::uint32_t segv_on_fault = 1U << 17;
inline constexpr std::uint32_t no_user_conv = 1U << 18;
}  // namespace map_flags

// Element update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
enum class UpdateFlag : std::uint64_t { any = 0, noexist = 1, exist = 2, lock = 4 };

// Program load flags (BPF_F_* for BPF_PROG_LOAD).
namespace prog_flags {
inline constexpr std::uint32_t strict_alignment = 1U << 0;
inline constexpr std::uint32_t any_alignment = 1U << 1;
inline constexpr std::uint32_t test_rnd_hi32 = 1U << 2;
inline constexpr std::uint32_t test_state_freq = 1U << 3;
inline constexpr std::uint32_t sleepable = 1U << 4;
inline constexpr std::uint32_t xdp_has_frags = 1U << 5;
inline constexpr std::uint32_t xdp_dev_bound_only = 1U << 6;
inline constexpr std::uint32_t test_reg_invariants = 1U << 7;
inline constexpr std::uint32_t token_fd = 1U << 16;
}  // namespace prog_flags

// Attach flags (BPF_PROG_ATTACH / tcx / mprog).
namespace attach_flags {
inline constexpr std::uint32_t allow_override = 1U << 0;
inline constexpr std::uint32_t allow_multi = 1U << 1;
inline constexpr std::uint32_t replace = 1U << 2;
inline constexpr std::uint32_t before = 1U << 3;
inline constexpr std::uint32_t after = 1U << 4;
inline constexpr std::uint32_t id = 1U << 5;
inline constexpr std::uint32_t link = 1U << 13;
}  // namespace attach_flags

// BPF_PROG_TEST_RUN flags.
namespace test_run_flags {
inline constexpr std::uint32_t run_on_cpu = 1U << 0;
inline constexpr std::uint32_t xdp_live_frames = 1U << 1;
inline constexpr std::uint32_t skb_check_gso_segs = 1U << 2;
}  // namespace test_run_flags

}  // namespace ebpf
