// ebpf/attach/sockmap.hpp — sk_skb (stream parser, stream verdict, skb verdict) and sk_msg verdict programs
// attached to a SOCKMAP or SOCKHASH map: they then run for every socket stored in the map.
//
// Mechanisms: a bpf_link (BPF_LINK_CREATE with the map as target, Linux 6.10+) or BPF_PROG_ATTACH with the
// map fd as target (every kernel since 4.14). `auto_` tries the link and falls back when the kernel has no
// sockmap links. Detach (or destruction) removes the program from the map.
#pragma once

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

class Program;

enum class SockmapAttachMode { auto_, link, prog_attach };

struct SockmapOptions {
  SockmapAttachMode mode = SockmapAttachMode::auto_;
};

// `type` is sk_skb_stream_parser, sk_skb_stream_verdict, sk_skb_verdict (sk_skb programs) or sk_msg_verdict
// (sk_msg programs); `map_fd` a SOCKMAP or SOCKHASH.
Result<Link> attach_sockmap(const Program& program, int map_fd, AttachType type, const SockmapOptions& options = {});

}  // namespace ebpf
