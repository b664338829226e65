// ebpf/helpers.hpp — the catalogue of kernel helper functions (enum bpf_func_id, ids 0..211 as of Linux 6.18):
// name, return kind and argument kinds, usable at compile time.
//
// `helper::map_lookup_elem` is the id as a constant; `helper_by_name("map_lookup_elem")` (also accepting the
// "bpf_" prefix) and `helper_info(id)` look entries up. The kinds are coarse (derived from the documented C
// signatures); whether a helper is allowed for a program type is the kernel's decision (probe it).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ebpf {

namespace helper {
// Helper ids, named as in the kernel without the BPF_FUNC_ prefix.
enum Id : std::int32_t {
  unspec = 0, map_lookup_elem, map_update_elem, map_delete_elem, probe_read, ktime_get_ns, trace_printk,
  get_prandom_u32, get_smp_processor_id, skb_store_bytes, l3_csum_replace, l4_csum_replace, tail_call,
  clone_redirect, get_current_pid_tgid, get_current_uid_gid, get_current_comm, get_cgroup_classid,
  skb_vlan_push, skb_vlan_pop, skb_get_tunnel_key, skb_set_tunnel_key, perf_event_read, redirect,
  get_route_realm, perf_event_output, skb_load_bytes, get_stackid, csum_diff, skb_get_tunnel_opt,
  skb_set_tunnel_opt, skb_change_proto, skb_change_type, skb_under_cgroup, get_hash_recalc, get_current_task,
  probe_write_user, current_task_under_cgroup, skb_change_tail, skb_pull_data, csum_update, set_hash_invalid,
  get_numa_node_id, skb_change_head, xdp_adjust_head, probe_read_str, get_socket_cookie, get_socket_uid,
  set_hash, setsockopt, skb_adjust_room, redirect_map, sk_redirect_map, sock_map_update, xdp_adjust_meta,
  perf_event_read_value, perf_prog_read_value, getsockopt, override_return, sock_ops_cb_flags_set,
  msg_redirect_map, msg_apply_bytes, msg_cork_bytes, msg_pull_data, bind, xdp_adjust_tail,
  skb_get_xfrm_state, get_stack, skb_load_bytes_relative, fib_lookup, sock_hash_update, msg_redirect_hash,
  sk_redirect_hash, lwt_push_encap, lwt_seg6_store_bytes, lwt_seg6_adjust_srh, lwt_seg6_action, rc_repeat,
  rc_keydown, skb_cgroup_id, get_current_cgroup_id, get_local_storage, sk_select_reuseport,
  skb_ancestor_cgroup_id, sk_lookup_tcp, sk_lookup_udp, sk_release, map_push_elem, map_pop_elem,
  map_peek_elem, msg_push_data, msg_pop_data, rc_pointer_rel, spin_lock, spin_unlock, sk_fullsock, tcp_sock,
  skb_ecn_set_ce, get_listener_sock, skc_lookup_tcp, tcp_check_syncookie, sysctl_get_name,
  sysctl_get_current_value, sysctl_get_new_value, sysctl_set_new_value, strtol, strtoul, sk_storage_get,
  sk_storage_delete, send_signal, tcp_gen_syncookie, skb_output, probe_read_user, probe_read_kernel,
  probe_read_user_str, probe_read_kernel_str, tcp_send_ack, send_signal_thread, jiffies64,
  read_branch_records, get_ns_current_pid_tgid, xdp_output, get_netns_cookie, get_current_ancestor_cgroup_id,
  sk_assign, ktime_get_boot_ns, seq_printf, seq_write, sk_cgroup_id, sk_ancestor_cgroup_id, ringbuf_output,
  ringbuf_reserve, ringbuf_submit, ringbuf_discard, ringbuf_query, csum_level, skc_to_tcp6_sock,
  skc_to_tcp_sock, skc_to_tcp_timewait_sock, skc_to_tcp_request_sock, skc_to_udp6_sock, get_task_stack,
  load_hdr_opt, store_hdr_opt, reserve_hdr_opt, inode_storage_get, inode_storage_delete, d_path,
  copy_from_user, snprintf_btf, seq_printf_btf, skb_cgroup_classid, redirect_neigh, per_cpu_ptr,
  this_cpu_ptr, redirect_peer, task_storage_get, task_storage_delete, get_current_task_btf, bprm_opts_set,
  ktime_get_coarse_ns, ima_inode_hash, sock_from_file, check_mtu, for_each_map_elem, snprintf, sys_bpf,
  btf_find_by_name_kind, sys_close, timer_init, timer_set_callback, timer_start, timer_cancel, get_func_ip,
  get_attach_cookie, task_pt_regs, get_branch_snapshot, trace_vprintk, skc_to_unix_sock,
  kallsyms_lookup_name, find_vma, loop, strncmp, get_func_arg, get_func_ret, get_func_arg_cnt, get_retval,
  set_retval, xdp_get_buff_len, xdp_load_bytes, xdp_store_bytes, copy_from_user_task, skb_set_tstamp,
  ima_file_hash, kptr_xchg, map_lookup_percpu_elem, skc_to_mptcp_sock, dynptr_from_mem,
  ringbuf_reserve_dynptr, ringbuf_submit_dynptr, ringbuf_discard_dynptr, dynptr_read, dynptr_write,
  dynptr_data, tcp_raw_gen_syncookie_ipv4, tcp_raw_gen_syncookie_ipv6, tcp_raw_check_syncookie_ipv4,
  tcp_raw_check_syncookie_ipv6, ktime_get_tai_ns, user_ringbuf_drain, cgrp_storage_get, cgrp_storage_delete,
  count_  // number of known helpers
};
}  // namespace helper

enum class HelperRet : std::uint8_t { integer, none, pointer /* may be NULL */ };
enum class HelperArg : std::uint8_t {
  scalar,         // any integer
  ctx,            // the program's context (skb, xdp_md, ...)
  map,            // a map (LD_IMM64 map pseudo load)
  mem,            // pointer to memory the helper writes
  const_mem,      // pointer to memory the helper only reads (keys, values, strings)
  size,           // byte size of the preceding memory argument
  callback,       // a subprogram (LD_IMM64 func pseudo load)
  socket,         // a socket pointer obtained from a lookup helper
  dynptr,         // struct bpf_dynptr on the stack
  kernel_object,  // a BTF-typed kernel pointer (task, cgroup, file, ...)
};

struct HelperInfo {
  std::string_view name;  // without "bpf_"
  HelperRet ret;
  std::array<HelperArg, 5> args;
  std::uint8_t arg_count;
  std::span<const HelperArg> arguments() const { return {args.data(), arg_count}; }
};

namespace detail {
using R = HelperRet;
using A = HelperArg;
inline constexpr HelperInfo kHelpers[] = {
    {"unspec", R::integer, {}, 0},  // 0
    {"map_lookup_elem", R::pointer, {A::map, A::const_mem}, 2},  // 1
    {"map_update_elem", R::integer, {A::map, A::const_mem, A::const_mem, A::scalar}, 4},  // 2
    {"map_delete_elem", R::integer, {A::map, A::const_mem}, 2},  // 3
    {"probe_read", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 4
    {"ktime_get_ns", R::integer, {}, 0},  // 5
    {"trace_printk", R::integer, {A::const_mem, A::size}, 2},  // 6
    {"get_prandom_u32", R::integer, {}, 0},  // 7
    {"get_smp_processor_id", R::integer, {}, 0},  // 8
    {"skb_store_bytes", R::integer, {A::ctx, A::scalar, A::const_mem, A::size, A::scalar}, 5},  // 9
    {"l3_csum_replace", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar, A::scalar}, 5},  // 10
    {"l4_csum_replace", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar, A::scalar}, 5},  // 11
    {"tail_call", R::integer, {A::ctx, A::map, A::scalar}, 3},  // 12
    {"clone_redirect", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 13
    {"get_current_pid_tgid", R::integer, {}, 0},  // 14
    {"get_current_uid_gid", R::integer, {}, 0},  // 15
    {"get_current_comm", R::integer, {A::mem, A::size}, 2},  // 16
    {"get_cgroup_classid", R::integer, {A::ctx}, 1},  // 17
    {"skb_vlan_push", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 18
    {"skb_vlan_pop", R::integer, {A::ctx}, 1},  // 19
    {"skb_get_tunnel_key", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 20
    {"skb_set_tunnel_key", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 21
    {"perf_event_read", R::integer, {A::map, A::scalar}, 2},  // 22
    {"redirect", R::integer, {A::scalar, A::scalar}, 2},  // 23
    {"get_route_realm", R::integer, {A::ctx}, 1},  // 24
    {"perf_event_output", R::integer, {A::ctx, A::map, A::scalar, A::mem, A::size}, 5},  // 25
    {"skb_load_bytes", R::integer, {A::const_mem, A::scalar, A::mem, A::size}, 4},  // 26
    {"get_stackid", R::integer, {A::ctx, A::map, A::scalar}, 3},  // 27
    {"csum_diff", R::integer, {A::mem, A::size, A::mem, A::size, A::scalar}, 5},  // 28
    {"skb_get_tunnel_opt", R::integer, {A::ctx, A::mem, A::size}, 3},  // 29
    {"skb_set_tunnel_opt", R::integer, {A::ctx, A::mem, A::size}, 3},  // 30
    {"skb_change_proto", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 31
    {"skb_change_type", R::integer, {A::ctx, A::scalar}, 2},  // 32
    {"skb_under_cgroup", R::integer, {A::ctx, A::map, A::scalar}, 3},  // 33
    {"get_hash_recalc", R::integer, {A::ctx}, 1},  // 34
    {"get_current_task", R::integer, {}, 0},  // 35
    {"probe_write_user", R::integer, {A::mem, A::const_mem, A::size}, 3},  // 36
    {"current_task_under_cgroup", R::integer, {A::map, A::scalar}, 2},  // 37
    {"skb_change_tail", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 38
    {"skb_pull_data", R::integer, {A::ctx, A::scalar}, 2},  // 39
    {"csum_update", R::integer, {A::ctx, A::scalar}, 2},  // 40
    {"set_hash_invalid", R::none, {A::ctx}, 1},  // 41
    {"get_numa_node_id", R::integer, {}, 0},  // 42
    {"skb_change_head", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 43
    {"xdp_adjust_head", R::integer, {A::ctx, A::scalar}, 2},  // 44
    {"probe_read_str", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 45
    {"get_socket_cookie", R::integer, {A::ctx}, 1},  // 46
    {"get_socket_uid", R::integer, {A::ctx}, 1},  // 47
    {"set_hash", R::integer, {A::ctx, A::scalar}, 2},  // 48
    {"setsockopt", R::integer, {A::mem, A::scalar, A::scalar, A::mem, A::size}, 5},  // 49
    {"skb_adjust_room", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar}, 4},  // 50
    {"redirect_map", R::integer, {A::map, A::scalar, A::scalar}, 3},  // 51
    {"sk_redirect_map", R::integer, {A::ctx, A::map, A::scalar, A::scalar}, 4},  // 52
    {"sock_map_update", R::integer, {A::ctx, A::map, A::mem, A::scalar}, 4},  // 53
    {"xdp_adjust_meta", R::integer, {A::ctx, A::scalar}, 2},  // 54
    {"perf_event_read_value", R::integer, {A::map, A::scalar, A::mem, A::size}, 4},  // 55
    {"perf_prog_read_value", R::integer, {A::ctx, A::mem, A::size}, 3},  // 56
    {"getsockopt", R::integer, {A::mem, A::scalar, A::scalar, A::mem, A::size}, 5},  // 57
    {"override_return", R::integer, {A::ctx, A::scalar}, 2},  // 58
    {"sock_ops_cb_flags_set", R::integer, {A::ctx, A::scalar}, 2},  // 59
    {"msg_redirect_map", R::integer, {A::ctx, A::map, A::scalar, A::scalar}, 4},  // 60
    {"msg_apply_bytes", R::integer, {A::ctx, A::scalar}, 2},  // 61
    {"msg_cork_bytes", R::integer, {A::ctx, A::scalar}, 2},  // 62
    {"msg_pull_data", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar}, 4},  // 63
    {"bind", R::integer, {A::ctx, A::kernel_object, A::scalar}, 3},  // 64
    {"xdp_adjust_tail", R::integer, {A::ctx, A::scalar}, 2},  // 65
    {"skb_get_xfrm_state", R::integer, {A::ctx, A::scalar, A::mem, A::size, A::scalar}, 5},  // 66
    {"get_stack", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 67
    {"skb_load_bytes_relative", R::integer, {A::const_mem, A::scalar, A::mem, A::size, A::scalar}, 5},  // 68
    {"fib_lookup", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 69
    {"sock_hash_update", R::integer, {A::ctx, A::map, A::mem, A::scalar}, 4},  // 70
    {"msg_redirect_hash", R::integer, {A::ctx, A::map, A::mem, A::scalar}, 4},  // 71
    {"sk_redirect_hash", R::integer, {A::ctx, A::map, A::mem, A::scalar}, 4},  // 72
    {"lwt_push_encap", R::integer, {A::ctx, A::scalar, A::mem, A::size}, 4},  // 73
    {"lwt_seg6_store_bytes", R::integer, {A::ctx, A::scalar, A::const_mem, A::size}, 4},  // 74
    {"lwt_seg6_adjust_srh", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 75
    {"lwt_seg6_action", R::integer, {A::ctx, A::scalar, A::mem, A::size}, 4},  // 76
    {"rc_repeat", R::integer, {A::ctx}, 1},  // 77
    {"rc_keydown", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar}, 4},  // 78
    {"skb_cgroup_id", R::integer, {A::ctx}, 1},  // 79
    {"get_current_cgroup_id", R::integer, {}, 0},  // 80
    {"get_local_storage", R::pointer, {A::map, A::scalar}, 2},  // 81
    {"sk_select_reuseport", R::integer, {A::ctx, A::map, A::mem, A::scalar}, 4},  // 82
    {"skb_ancestor_cgroup_id", R::integer, {A::ctx, A::scalar}, 2},  // 83
    {"sk_lookup_tcp", R::pointer, {A::ctx, A::mem, A::size, A::scalar, A::scalar}, 5},  // 84
    {"sk_lookup_udp", R::pointer, {A::ctx, A::mem, A::size, A::scalar, A::scalar}, 5},  // 85
    {"sk_release", R::integer, {A::mem}, 1},  // 86
    {"map_push_elem", R::integer, {A::map, A::const_mem, A::scalar}, 3},  // 87
    {"map_pop_elem", R::integer, {A::map, A::mem}, 2},  // 88
    {"map_peek_elem", R::integer, {A::map, A::mem}, 2},  // 89
    {"msg_push_data", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar}, 4},  // 90
    {"msg_pop_data", R::integer, {A::ctx, A::scalar, A::scalar, A::scalar}, 4},  // 91
    {"rc_pointer_rel", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 92
    {"spin_lock", R::integer, {A::mem}, 1},  // 93
    {"spin_unlock", R::integer, {A::mem}, 1},  // 94
    {"sk_fullsock", R::pointer, {A::socket}, 1},  // 95
    {"tcp_sock", R::pointer, {A::socket}, 1},  // 96
    {"skb_ecn_set_ce", R::integer, {A::ctx}, 1},  // 97
    {"get_listener_sock", R::pointer, {A::socket}, 1},  // 98
    {"skc_lookup_tcp", R::pointer, {A::ctx, A::mem, A::size, A::scalar, A::scalar}, 5},  // 99
    {"tcp_check_syncookie", R::integer, {A::socket, A::mem, A::size, A::mem, A::size}, 5},  // 100
    {"sysctl_get_name", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 101
    {"sysctl_get_current_value", R::integer, {A::ctx, A::mem, A::size}, 3},  // 102
    {"sysctl_get_new_value", R::integer, {A::ctx, A::mem, A::size}, 3},  // 103
    {"sysctl_set_new_value", R::integer, {A::ctx, A::const_mem, A::size}, 3},  // 104
    {"strtol", R::integer, {A::const_mem, A::size, A::scalar, A::mem}, 4},  // 105
    {"strtoul", R::integer, {A::const_mem, A::size, A::scalar, A::mem}, 4},  // 106
    {"sk_storage_get", R::pointer, {A::map, A::socket, A::mem, A::scalar}, 4},  // 107
    {"sk_storage_delete", R::integer, {A::map, A::socket}, 2},  // 108
    {"send_signal", R::integer, {A::scalar}, 1},  // 109
    {"tcp_gen_syncookie", R::integer, {A::socket, A::mem, A::size, A::mem, A::size}, 5},  // 110
    {"skb_output", R::integer, {A::ctx, A::map, A::scalar, A::mem, A::size}, 5},  // 111
    {"probe_read_user", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 112
    {"probe_read_kernel", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 113
    {"probe_read_user_str", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 114
    {"probe_read_kernel_str", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 115
    {"tcp_send_ack", R::integer, {A::mem, A::scalar}, 2},  // 116
    {"send_signal_thread", R::integer, {A::scalar}, 1},  // 117
    {"jiffies64", R::integer, {}, 0},  // 118
    {"read_branch_records", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 119
    {"get_ns_current_pid_tgid", R::integer, {A::scalar, A::scalar, A::mem, A::size}, 4},  // 120
    {"xdp_output", R::integer, {A::ctx, A::map, A::scalar, A::mem, A::size}, 5},  // 121
    {"get_netns_cookie", R::integer, {A::ctx}, 1},  // 122
    {"get_current_ancestor_cgroup_id", R::integer, {A::scalar}, 1},  // 123
    {"sk_assign", R::integer, {A::ctx, A::socket, A::scalar}, 3},  // 124
    {"ktime_get_boot_ns", R::integer, {}, 0},  // 125
    {"seq_printf", R::integer, {A::kernel_object, A::const_mem, A::size, A::const_mem, A::size}, 5},  // 126
    {"seq_write", R::integer, {A::kernel_object, A::const_mem, A::size}, 3},  // 127
    {"sk_cgroup_id", R::integer, {A::socket}, 1},  // 128
    {"sk_ancestor_cgroup_id", R::integer, {A::socket, A::scalar}, 2},  // 129
    {"ringbuf_output", R::integer, {A::map, A::mem, A::size, A::scalar}, 4},  // 130
    {"ringbuf_reserve", R::pointer, {A::map, A::scalar, A::scalar}, 3},  // 131
    {"ringbuf_submit", R::none, {A::mem, A::scalar}, 2},  // 132
    {"ringbuf_discard", R::none, {A::mem, A::scalar}, 2},  // 133
    {"ringbuf_query", R::integer, {A::map, A::scalar}, 2},  // 134
    {"csum_level", R::integer, {A::ctx, A::scalar}, 2},  // 135
    {"skc_to_tcp6_sock", R::pointer, {A::socket}, 1},  // 136
    {"skc_to_tcp_sock", R::pointer, {A::socket}, 1},  // 137
    {"skc_to_tcp_timewait_sock", R::pointer, {A::socket}, 1},  // 138
    {"skc_to_tcp_request_sock", R::pointer, {A::socket}, 1},  // 139
    {"skc_to_udp6_sock", R::pointer, {A::socket}, 1},  // 140
    {"get_task_stack", R::integer, {A::kernel_object, A::mem, A::size, A::scalar}, 4},  // 141
    {"load_hdr_opt", R::integer, {A::ctx, A::mem, A::size, A::scalar}, 4},  // 142
    {"store_hdr_opt", R::integer, {A::ctx, A::const_mem, A::size, A::scalar}, 4},  // 143
    {"reserve_hdr_opt", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 144
    {"inode_storage_get", R::pointer, {A::map, A::mem, A::mem, A::scalar}, 4},  // 145
    {"inode_storage_delete", R::integer, {A::map, A::mem}, 2},  // 146
    {"d_path", R::integer, {A::kernel_object, A::mem, A::scalar}, 3},  // 147
    {"copy_from_user", R::integer, {A::mem, A::size, A::const_mem}, 3},  // 148
    {"snprintf_btf", R::integer, {A::mem, A::size, A::mem, A::size, A::scalar}, 5},  // 149
    {"seq_printf_btf", R::integer, {A::kernel_object, A::mem, A::size, A::scalar}, 4},  // 150
    {"skb_cgroup_classid", R::integer, {A::ctx}, 1},  // 151
    {"redirect_neigh", R::integer, {A::scalar, A::mem, A::size, A::scalar}, 4},  // 152
    {"per_cpu_ptr", R::pointer, {A::const_mem, A::scalar}, 2},  // 153
    {"this_cpu_ptr", R::pointer, {A::const_mem}, 1},  // 154
    {"redirect_peer", R::integer, {A::scalar, A::scalar}, 2},  // 155
    {"task_storage_get", R::pointer, {A::map, A::kernel_object, A::mem, A::scalar}, 4},  // 156
    {"task_storage_delete", R::integer, {A::map, A::kernel_object}, 2},  // 157
    {"get_current_task_btf", R::pointer, {}, 0},  // 158
    {"bprm_opts_set", R::integer, {A::kernel_object, A::scalar}, 2},  // 159
    {"ktime_get_coarse_ns", R::integer, {}, 0},  // 160
    {"ima_inode_hash", R::integer, {A::kernel_object, A::mem, A::size}, 3},  // 161
    {"sock_from_file", R::pointer, {A::kernel_object}, 1},  // 162
    {"check_mtu", R::integer, {A::ctx, A::scalar, A::mem, A::size, A::scalar}, 5},  // 163
    {"for_each_map_elem", R::integer, {A::map, A::callback, A::callback, A::scalar}, 4},  // 164
    {"snprintf", R::integer, {A::mem, A::size, A::const_mem, A::mem, A::size}, 5},  // 165
    {"sys_bpf", R::integer, {A::scalar, A::mem, A::size}, 3},  // 166
    {"btf_find_by_name_kind", R::integer, {A::mem, A::scalar, A::scalar, A::scalar}, 4},  // 167
    {"sys_close", R::integer, {A::scalar}, 1},  // 168
    {"timer_init", R::integer, {A::mem, A::map, A::scalar}, 3},  // 169
    {"timer_set_callback", R::integer, {A::mem, A::callback}, 2},  // 170
    {"timer_start", R::integer, {A::mem, A::scalar, A::scalar}, 3},  // 171
    {"timer_cancel", R::integer, {A::mem}, 1},  // 172
    {"get_func_ip", R::integer, {A::ctx}, 1},  // 173
    {"get_attach_cookie", R::integer, {A::ctx}, 1},  // 174
    {"task_pt_regs", R::integer, {A::kernel_object}, 1},  // 175
    {"get_branch_snapshot", R::integer, {A::mem, A::size, A::scalar}, 3},  // 176
    {"trace_vprintk", R::integer, {A::const_mem, A::size, A::const_mem, A::size}, 4},  // 177
    {"skc_to_unix_sock", R::pointer, {A::socket}, 1},  // 178
    {"kallsyms_lookup_name", R::integer, {A::const_mem, A::scalar, A::scalar, A::mem}, 4},  // 179
    {"find_vma", R::integer, {A::kernel_object, A::scalar, A::callback, A::callback, A::scalar}, 5},  // 180
    {"loop", R::integer, {A::scalar, A::callback, A::callback, A::scalar}, 4},  // 181
    {"strncmp", R::integer, {A::const_mem, A::scalar, A::const_mem}, 3},  // 182
    {"get_func_arg", R::integer, {A::ctx, A::scalar, A::mem}, 3},  // 183
    {"get_func_ret", R::integer, {A::ctx, A::mem}, 2},  // 184
    {"get_func_arg_cnt", R::integer, {A::ctx}, 1},  // 185
    {"get_retval", R::integer, {}, 0},  // 186
    {"set_retval", R::integer, {A::scalar}, 1},  // 187
    {"xdp_get_buff_len", R::integer, {A::ctx}, 1},  // 188
    {"xdp_load_bytes", R::integer, {A::ctx, A::scalar, A::mem, A::size}, 4},  // 189
    {"xdp_store_bytes", R::integer, {A::ctx, A::scalar, A::mem, A::size}, 4},  // 190
    {"copy_from_user_task", R::integer, {A::mem, A::size, A::const_mem, A::kernel_object, A::scalar}, 5},  // 191
    {"skb_set_tstamp", R::integer, {A::ctx, A::scalar, A::scalar}, 3},  // 192
    {"ima_file_hash", R::integer, {A::kernel_object, A::mem, A::size}, 3},  // 193
    {"kptr_xchg", R::pointer, {A::mem, A::mem}, 2},  // 194
    {"map_lookup_percpu_elem", R::pointer, {A::map, A::const_mem, A::scalar}, 3},  // 195
    {"skc_to_mptcp_sock", R::pointer, {A::socket}, 1},  // 196
    {"dynptr_from_mem", R::integer, {A::mem, A::size, A::scalar, A::dynptr}, 4},  // 197
    {"ringbuf_reserve_dynptr", R::integer, {A::map, A::scalar, A::scalar, A::dynptr}, 4},  // 198
    {"ringbuf_submit_dynptr", R::none, {A::dynptr, A::scalar}, 2},  // 199
    {"ringbuf_discard_dynptr", R::none, {A::dynptr, A::scalar}, 2},  // 200
    {"dynptr_read", R::integer, {A::mem, A::size, A::dynptr, A::scalar, A::scalar}, 5},  // 201
    {"dynptr_write", R::integer, {A::dynptr, A::scalar, A::mem, A::size, A::scalar}, 5},  // 202
    {"dynptr_data", R::pointer, {A::dynptr, A::scalar, A::scalar}, 3},  // 203
    {"tcp_raw_gen_syncookie_ipv4", R::integer, {A::mem, A::mem, A::size}, 3},  // 204
    {"tcp_raw_gen_syncookie_ipv6", R::integer, {A::mem, A::mem, A::size}, 3},  // 205
    {"tcp_raw_check_syncookie_ipv4", R::integer, {A::mem, A::mem}, 2},  // 206
    {"tcp_raw_check_syncookie_ipv6", R::integer, {A::mem, A::mem}, 2},  // 207
    {"ktime_get_tai_ns", R::integer, {}, 0},  // 208
    {"user_ringbuf_drain", R::integer, {A::map, A::callback, A::mem, A::scalar}, 4},  // 209
    {"cgrp_storage_get", R::pointer, {A::map, A::kernel_object, A::mem, A::scalar}, 4},  // 210
    {"cgrp_storage_delete", R::integer, {A::map, A::kernel_object}, 2},  // 211
};
static_assert(std::size(kHelpers) == helper::count_);
}  // namespace detail

// Every known helper, indexed by id.
constexpr std::span<const HelperInfo> helpers() { return detail::kHelpers; }

constexpr const HelperInfo* helper_info(std::int32_t id) {
  return id >= 0 && id < helper::count_ ? &detail::kHelpers[id] : nullptr;
}

// Id of a helper by name ("map_lookup_elem" or "bpf_map_lookup_elem").
constexpr std::optional<std::int32_t> helper_by_name(std::string_view name) {
  if (name.starts_with("bpf_")) name.remove_prefix(4);
  for (std::int32_t id = 1; id < helper::count_; ++id)
    if (detail::kHelpers[id].name == name) return id;
  return std::nullopt;
}

std::string_view to_string(HelperRet r);
std::string_view to_string(HelperArg a);

}  // namespace ebpf
