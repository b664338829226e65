// ebpf/dsl/seeds_sockmap.hpp — seed programs on a SOCKHASH of IPv4 TCP sockets keyed by their 4-tuple:
//
//   echo server  an sk_skb stream parser (each skb is one message) and a stream verdict that redirects the
//                message to the egress of the socket it arrived on: the kernel sends the client's bytes back
//                without the server process ever reading them. Serves any number of connections, each keyed
//                by its own tuple.
//   TCP proxy    an sk_msg verdict that looks the sending socket's tuple up in a "peers" hash and redirects
//                the message into the peer socket's receive queue (BPF_F_INGRESS), so data sent on one socket
//                of a pair is read from the other; sockets without a peer send normally.
//
// Maps (resolved by the load functions):
//   sockets  SOCKHASH, key SocketKey, value a socket fd (value_size 4 or 8)
//   peers    HASH, key SocketKey → value SocketKey (proxy only; insert both directions for a two-way pair)
// The key is computed the same way in BPF (from __sk_buff / sk_msg_md) and by socket_key() in user space.
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl::sockmap_seeds {

inline constexpr std::string_view kSocketsMap = "sockets";
inline constexpr std::string_view kPeersMap = "peers";

// A connected IPv4 socket seen from its own side.
struct SocketKey {
  std::uint32_t remote_ip4 = 0;   // network byte order
  std::uint32_t local_ip4 = 0;    // network byte order
  std::uint16_t remote_port = 0;  // host order
  std::uint16_t local_port = 0;   // host order
};
static_assert(sizeof(SocketKey) == 12);

// The key of connected IPv4 socket `fd` (getsockname / getpeername).
Result<SocketKey> socket_key(int fd);

// sk_skb stream parser: returns skb->len.
Result<Bytecode> build_stream_parser();
// sk_skb stream verdict: sk_redirect_hash(skb, sockets, own key, 0) — egress of the same socket.
Result<Bytecode> build_echo_verdict();
// sk_msg verdict: msg_redirect_hash(msg, sockets, peers[own key], BPF_F_INGRESS), or SK_PASS without a peer.
Result<Bytecode> build_proxy();

struct EchoPrograms {
  Program parser;   // attach as AttachType::sk_skb_stream_parser
  Program verdict;  // attach as AttachType::sk_skb_stream_verdict
};
Result<EchoPrograms> load_echo(int sockets_fd, const ProgramLoadOptions& opts = {});
// Attach as AttachType::sk_msg_verdict.
Result<Program> load_proxy(int sockets_fd, int peers_fd, const ProgramLoadOptions& opts = {});

}  // namespace ebpf::dsl::sockmap_seeds
