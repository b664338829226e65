// ebpf/dsl/context.hpp — what a DSL-built program finds in r1: the context field offsets of every program
// type (from the kernel UAPI structs, including fields Debian's 6.1 headers lack), small prologues that load
// the packet bounds or arguments, and the return codes each hook understands.
//
// Offsets are plain constants in one namespace per context struct, named after the UAPI fields:
//   a.ldx(W, r2, r1, dsl::ctx::sk_buff::len);                  // r2 = skb->len
//   dsl::load_arg(a, r6, r1, 2);                               // raw_tp / struct_ops / tp_btf: r6 = ctx[2]
//   dsl::load_pt_regs_arg(a, dsl::Arch::x86_64, r6, r1, 1);     // uprobe: r6 = first argument (rdi)
// Fields the kernel exposes as pointers (__bpf_md_ptr: sk_msg data, sk_lookup sk, ...) are 8 bytes wide and
// loaded with DW; the verifier rewrites every context access, so the load size must match the field's.
// Tracepoint fields are not fixed: read them from the tracepoint's format file with tracepoint_field().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/dsl/packet.hpp"
#include "ebpf/error.hpp"
#include "ebpf/isa.hpp"

namespace ebpf::dsl::ctx {

// struct xdp_md (all u32).
namespace xdp {
inline constexpr std::int16_t data = 0, data_end = 4, data_meta = 8, ingress_ifindex = 12, rx_queue_index = 16,
                              egress_ifindex = 20;
}

// struct __sk_buff: TC (sched_cls/act), socket filter, sk_skb, cgroup skb, flow dissector, lwt. u32 unless noted.
namespace sk_buff {
inline constexpr std::int16_t len = 0, pkt_type = 4, mark = 8, queue_mapping = 12, protocol = 16, vlan_present = 20,
                              vlan_tci = 24, vlan_proto = 28, priority = 32, ingress_ifindex = 36, ifindex = 40,
                              tc_index = 44, cb = 48 /* u32[5] */, hash = 68, tc_classid = 72, data = 76,
                              data_end = 80, napi_id = 84, family = 88, remote_ip4 = 92, local_ip4 = 96,
                              remote_ip6 = 100 /* u32[4] */, local_ip6 = 116 /* u32[4] */, remote_port = 132,
                              local_port = 136, data_meta = 140, flow_keys = 144 /* ptr */, tstamp = 152 /* u64 */,
                              wire_len = 160, gso_segs = 164, sk = 168 /* ptr */, gso_size = 176,
                              tstamp_type = 180 /* u8 */, hwtstamp = 184 /* u64 */;
}

// struct bpf_flow_keys, reached through sk_buff::flow_keys in a flow dissector program.
namespace flow_keys {
inline constexpr std::int16_t nhoff = 0 /* u16 */, thoff = 2 /* u16 */, addr_proto = 4 /* u16 */, is_frag = 6 /* u8 */,
                              is_first_frag = 7, is_encap = 8, ip_proto = 9 /* u8 */, n_proto = 10 /* be16 */,
                              sport = 12 /* be16 */, dport = 14, ipv4_src = 16, ipv4_dst = 20, ipv6_src = 16,
                              ipv6_dst = 32, flags = 48, flow_label = 52;
inline constexpr std::uint32_t kSize = 56;
}

// struct sk_msg_md (sk_msg programs on a sockmap/sockhash).
namespace sk_msg {
inline constexpr std::int16_t data = 0 /* ptr */, data_end = 8 /* ptr */, family = 16, remote_ip4 = 20,
                              local_ip4 = 24, remote_ip6 = 28, local_ip6 = 44, remote_port = 60, local_port = 64,
                              size = 68, sk = 72 /* ptr */;
}

// struct bpf_sk_lookup.
namespace sk_lookup {
inline constexpr std::int16_t sk = 0 /* ptr */, family = 8, protocol = 12, remote_ip4 = 16, remote_ip6 = 20,
                              remote_port = 36 /* be16 */, local_ip4 = 40, local_ip6 = 44, local_port = 60,
                              ingress_ifindex = 64;
}

// struct bpf_sock (cgroup sock programs; also what sk pointers point to).
namespace sock {
inline constexpr std::int16_t bound_dev_if = 0, family = 4, type = 8, protocol = 12, mark = 16, priority = 20,
                              src_ip4 = 24, src_ip6 = 28, src_port = 44 /* host order */,
                              dst_port = 48 /* be16 */, dst_ip4 = 52, dst_ip6 = 56, state = 72,
                              rx_queue_mapping = 76;
}

// struct bpf_sock_addr (cgroup connect/bind/sendmsg/recvmsg/getpeername/getsockname hooks).
namespace sock_addr {
inline constexpr std::int16_t user_family = 0, user_ip4 = 4, user_ip6 = 8, user_port = 24 /* be16 in u32 */,
                              family = 28, type = 32, protocol = 36, msg_src_ip4 = 40, msg_src_ip6 = 44,
                              sk = 64 /* ptr */;
}

// struct bpf_sock_ops (cgroup sockops). args/reply/replylong share offset 4.
namespace sock_ops {
inline constexpr std::int16_t op = 0, args = 4 /* u32[4] */, reply = 4, replylong = 4, family = 20, remote_ip4 = 24,
                              local_ip4 = 28, remote_ip6 = 32, local_ip6 = 48, remote_port = 64, local_port = 68,
                              is_fullsock = 72, snd_cwnd = 76, srtt_us = 80, cb_flags = 84, state = 88,
                              rtt_min = 92, snd_ssthresh = 96, rcv_nxt = 100, snd_nxt = 104, snd_una = 108,
                              mss_cache = 112, ecn_flags = 116, rate_delivered = 120, rate_interval_us = 124,
                              packets_out = 128, retrans_out = 132, total_retrans = 136, segs_in = 140,
                              data_segs_in = 144, segs_out = 148, data_segs_out = 152, lost_out = 156,
                              sacked_out = 160, sk_txhash = 164, bytes_received = 168 /* u64 */,
                              bytes_acked = 176 /* u64 */, sk = 184 /* ptr */, skb_data = 192 /* ptr */,
                              skb_data_end = 200 /* ptr */, skb_len = 208, skb_tcp_flags = 212,
                              skb_hwtstamp = 216 /* u64, Linux 6.2 */;
}

// struct bpf_sockopt (cgroup getsockopt/setsockopt). optval..optval_end is checked like packet data.
namespace sockopt {
inline constexpr std::int16_t sk = 0 /* ptr */, optval = 8 /* ptr */, optval_end = 16 /* ptr */, level = 24,
                              optname = 28, optlen = 32, retval = 36;
}

// Common header of every tracepoint record (struct trace_entry); the event's fields follow at the offsets its
// format file gives.
namespace trace_entry {
inline constexpr std::int16_t common_type = 0 /* u16 */, common_flags = 2 /* u8 */, common_preempt_count = 3,
                              common_pid = 4 /* s32 */;
}

// struct bpf_iter_meta, the first member of every iterator context (ctx[0] = meta, ctx[1] = the object).
namespace iter_meta {
inline constexpr std::int16_t seq = 0 /* ptr */, session_id = 8 /* u64 */, seq_num = 16 /* u64 */;
}
namespace iter {
inline constexpr std::int16_t meta = 0 /* ptr */, object = 8 /* ptr, may be NULL at the end */;
}

}  // namespace ebpf::dsl::ctx

namespace ebpf::dsl {

// Return codes the hooks understand. XDP's are in packet.hpp (xdp_action).
namespace tc_action {
inline constexpr std::int32_t unspec = -1, ok = 0, reclassify = 1, shot = 2, pipe = 3, stolen = 4, redirect = 7;
}
namespace sk_action {  // sk_skb verdict, sk_msg, sk_lookup, sk_reuseport
inline constexpr std::int32_t drop = 0, pass = 1;
}
namespace cgroup_verdict {  // cgroup skb / sock / sock_addr / sysctl / sockopt / device
inline constexpr std::int32_t deny = 0, allow = 1;
}
namespace flow_dissector_verdict {
inline constexpr std::int32_t ok = 0, drop = 2, continue_ = 129;  // continue_: let the kernel dissect (6.0+)
}
// Socket filter: the return value is the number of bytes to keep; 0 drops the packet.
inline constexpr std::int32_t kSocketFilterKeepAll = -1;

// Machines whose pt_regs layout a uprobe / perf_event program sees.
enum class Arch { x86_64, arm64 };

// Offsets into the pt_regs a kprobe/uprobe program gets (bpf_user_pt_regs_t), per architecture.
struct PtRegsLayout {
  std::int16_t parm[6];  // arguments 1..6 of the C calling convention
  std::int16_t rc;       // return value (uretprobe)
  std::int16_t sp;
  std::int16_t ip;
  std::uint16_t size;  // sizeof the register struct (bpf_perf_event_data starts with it)
};
constexpr PtRegsLayout pt_regs_layout(Arch arch) {
  if (arch == Arch::x86_64)  // struct pt_regs: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss
    return {{112, 104, 96, 88, 72, 64}, 80, 152, 128, 168};
  return {{0, 8, 16, 24, 32, 40}, 0, 248, 256, 272};  // struct user_pt_regs: x0..x30, sp, pc, pstate
}
constexpr Arch host_arch() {
#if defined(__aarch64__)
  return Arch::arm64;
#else
  return Arch::x86_64;
#endif
}

// struct bpf_perf_event_data: the registers, then sample_period and addr (u64 each).
struct PerfEventDataLayout {
  std::int16_t regs = 0, sample_period = 0, addr = 0;
};
constexpr PerfEventDataLayout perf_event_data_layout(Arch arch) {
  const auto regs = static_cast<std::int16_t>(pt_regs_layout(arch).size);
  return {0, regs, static_cast<std::int16_t>(regs + 8)};
}

// --- prologues --------------------------------------------------------------------------------------------

// Keeps the context for after helper calls: `into` = r1 (r6 by default, callee-saved).
Assembler& save_context(Assembler& a, isa::Reg into = isa::r6);
// data, data_end from an __sk_buff (TC, socket filter, sk_skb, cgroup skb); cursor = data.
Assembler& skb_load_data(Assembler& a, isa::Reg ctx, const PacketRegs& regs = {});
// data, data_end from an sk_msg_md (pointer-sized fields); cursor = data.
Assembler& sk_msg_load_data(Assembler& a, isa::Reg ctx, const PacketRegs& regs = {});
// dst = the flow dissector's bpf_flow_keys pointer.
Assembler& load_flow_keys(Assembler& a, isa::Reg dst, isa::Reg ctx);
// dst = ctx[n] (u64): raw tracepoint, tp_btf, struct_ops callback and tracing program arguments.
Result<void> load_arg(Assembler& a, isa::Reg dst, isa::Reg ctx, int n);
// dst = argument n (1..6) of a uprobe / kprobe program's pt_regs on `arch`.
Result<void> load_pt_regs_arg(Assembler& a, Arch arch, isa::Reg dst, isa::Reg ctx, int n);
// dst = the return value (uretprobe) / stack pointer / instruction pointer from pt_regs.
Assembler& load_pt_regs_rc(Assembler& a, Arch arch, isa::Reg dst, isa::Reg ctx);
Assembler& load_pt_regs_sp(Assembler& a, Arch arch, isa::Reg dst, isa::Reg ctx);
Assembler& load_pt_regs_ip(Assembler& a, Arch arch, isa::Reg dst, isa::Reg ctx);
// Iterator context: meta = ctx->meta, object = ctx->object (test `object` for NULL: the final call).
Assembler& load_iter_ctx(Assembler& a, isa::Reg meta, isa::Reg object, isa::Reg ctx);

// --- tracepoint format files ------------------------------------------------------------------------------

struct TracepointField {
  std::string name;
  std::int16_t offset = 0;
  std::uint16_t size = 0;
  bool is_signed = false;
};

// Parses the text of an events/<category>/<name>/format file ("field:int fd;\toffset:16;\tsize:4;\tsigned:1;").
Result<std::vector<TracepointField>> parse_tracepoint_format(std::string_view text);
// Reads the format file of category/name from tracefs (/sys/kernel/tracing, then /sys/kernel/debug/tracing)
// and returns the field `field`; not_found names what is missing.
Result<TracepointField> tracepoint_field(std::string_view category, std::string_view name, std::string_view field);

}  // namespace ebpf::dsl
