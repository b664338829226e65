// Sockmap seed programs (see ebpf/dsl/seeds_sockmap.hpp).
#include "ebpf/dsl/seeds_sockmap.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <bit>
#include <cerrno>

#include "ebpf/dsl/context.hpp"
#include "ebpf/dsl/layout.hpp"
#include "ebpf/dsl/maps.hpp"
#include "seed_load.hpp"

namespace ebpf::dsl::sockmap_seeds {

namespace {
using namespace ebpf::isa;

constexpr std::int16_t kKeySlot = -16;  // SocketKey at fp-16 (12 bytes, 4-aligned)
constexpr std::int32_t kIngress = 1;    // BPF_F_INGRESS

// Where the 4-tuple lives in a context struct.
struct TupleOffsets {
  std::int16_t remote_ip4, local_ip4, remote_port, local_port;
};
constexpr TupleOffsets kSkb{ctx::sk_buff::remote_ip4, ctx::sk_buff::local_ip4, ctx::sk_buff::remote_port,
                            ctx::sk_buff::local_port};
constexpr TupleOffsets kMsg{ctx::sk_msg::remote_ip4, ctx::sk_msg::local_ip4, ctx::sk_msg::remote_port,
                            ctx::sk_msg::local_port};

// SocketKey at kKeySlot from the context in `c`. remote_port reads as the network-order port in the upper
// 16 bits of the u32 on little-endian machines (the kernel shifts it there), in the lower 16 on big-endian;
// local_port is already host order.
void store_key(Assembler& a, Reg c, const TupleOffsets& t) {
  a.ldx(W, r2, c, t.remote_ip4);
  store_field(a, r10, EBPF_FIELD(SocketKey, remote_ip4), r2, kKeySlot);
  a.ldx(W, r2, c, t.local_ip4);
  store_field(a, r10, EBPF_FIELD(SocketKey, local_ip4), r2, kKeySlot);
  a.ldx(W, r2, c, t.remote_port);
  if constexpr (std::endian::native == std::endian::little) a.rsh(r2, 16);
  a.be(r2, 16);
  store_field(a, r10, EBPF_FIELD(SocketKey, remote_port), r2, kKeySlot);
  a.ldx(W, r2, c, t.local_port);
  store_field(a, r10, EBPF_FIELD(SocketKey, local_port), r2, kKeySlot);
}

}  // namespace

Result<SocketKey> socket_key(int fd) {
  sockaddr_in local{}, remote{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0)
    return Error::from_errno(errno, "socket_key: getsockname");
  len = sizeof remote;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) < 0)
    return Error::from_errno(errno, "socket_key: getpeername");
  if (local.sin_family != AF_INET || remote.sin_family != AF_INET)
    return Error::invalid("socket_key", "not an IPv4 socket");
  return SocketKey{remote.sin_addr.s_addr, local.sin_addr.s_addr, ntohs(remote.sin_port), ntohs(local.sin_port)};
}

Result<Bytecode> build_stream_parser() {
  Assembler a;
  a.ldx(W, r0, r1, ctx::sk_buff::len).exit();
  return a.finish();
}

Result<Bytecode> build_echo_verdict() {
  Assembler a;
  a.mov(r6, r1);
  store_key(a, r6, kSkb);
  // SK_PASS after queueing the skb on the socket's own egress; SK_DROP when the socket is not in the map.
  a.mov(r1, r6);
  load_args(a, 3, {Address{r10, kKeySlot}, 0});
  load_map(a, r2, kSocketsMap);
  a.call(helper::sk_redirect_hash).exit();
  return a.finish();
}

Result<Bytecode> build_proxy() {
  Assembler a;
  a.mov(r6, r1);
  store_key(a, r6, kMsg);
  map_lookup(a, kPeersMap, Address{r10, kKeySlot}, "no_peer");
  a.mov(r3, r0).mov(r1, r6).mov(r4, kIngress);
  load_map(a, r2, kSocketsMap);
  a.call(helper::msg_redirect_hash).exit();  // SK_PASS, or SK_DROP when the peer left the map
  a.label("no_peer").mov(r0, sk_action::pass).exit();
  return a.finish();
}

Result<EchoPrograms> load_echo(int sockets_fd, const ProgramLoadOptions& opts) {
  auto parser = EBPF_TRY(build_stream_parser());
  auto verdict = EBPF_TRY(build_echo_verdict());
  EBPF_TRY(verdict.resolve(kSocketsMap, sockets_fd));
  return EchoPrograms{
      EBPF_TRY(detail::load_seed(ProgType::sk_skb, parser, "dsl_echo_parse", opts, AttachType::sk_skb_stream_parser)),
      EBPF_TRY(detail::load_seed(ProgType::sk_skb, verdict, "dsl_echo", opts, AttachType::sk_skb_stream_verdict))};
}

Result<Program> load_proxy(int sockets_fd, int peers_fd, const ProgramLoadOptions& opts) {
  auto code = EBPF_TRY(build_proxy());
  EBPF_TRY(code.resolve(kSocketsMap, sockets_fd));
  EBPF_TRY(code.resolve(kPeersMap, peers_fd));
  return detail::load_seed(ProgType::sk_msg, code, "dsl_proxy", opts, AttachType::sk_msg_verdict);
}

}  // namespace ebpf::dsl::sockmap_seeds
