// ebpf/attach/netns.hpp — programs attached to a whole network namespace: SK_LOOKUP (steers incoming
// connections and datagrams to sockets) and FLOW_DISSECTOR (replaces the kernel's flow dissector).
//
// Links (BPF_LINK_CREATE with the namespace's fd) by default. The flow dissector can also use the legacy
// BPF_PROG_ATTACH, which acts on the calling thread's namespace with target_fd 0 (a namespace fd there is
// EINVAL); the library enters the namespace for the attach and again for the detach.
#pragma once

#include <cstdint>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

class Program;

struct NetnsAttachOptions {
  bool use_link = true;  // false: BPF_PROG_ATTACH (flow dissector only)
};

// The attach type follows from the program type (sk_lookup or flow_dissector).
Result<Link> attach_netns(const Program& program, int netns_fd, const NetnsAttachOptions& options = {});

// The programs attached to a namespace for `type` (BPF_PROG_QUERY on the namespace fd).
Result<std::vector<std::uint32_t>> query_netns(int netns_fd, AttachType type);

}  // namespace ebpf
