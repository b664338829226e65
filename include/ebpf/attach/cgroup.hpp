// ebpf/attach/cgroup.hpp — attaching programs to a cgroup v2 directory (socket, skb, sock_addr, sockopt,
// sysctl, device and sock_ops hooks), for the cgroup and its descendants.
//
// Mechanisms:
//   - link:      BPF_LINK_CREATE; owned by its fd (pinnable, updatable), coexists with multi attachments;
//   - exclusive: BPF_PROG_ATTACH without flags: the one program of the cgroup for this hook; descendants may
//                not attach their own;
//   - override:  BPF_F_ALLOW_OVERRIDE: one program, but a descendant's own program replaces it there;
//   - multi:     BPF_F_ALLOW_MULTI: a list; every program of the cgroup and its ancestors runs.
// A cgroup's attachments for one hook must all use one of exclusive/override/multi (EPERM otherwise).
// All return a Link that detaches on destruction; update() replaces the program (BPF_F_REPLACE for multi).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

class Program;

enum class CgroupAttachMode { link, exclusive, override, multi };
std::string_view name(CgroupAttachMode mode) noexcept;

struct CgroupOptions {
  CgroupAttachMode mode = CgroupAttachMode::link;
  // multi only: atomically replace this attached program instead of adding to the list.
  int replace_prog_fd = -1;
};

// `cgroup_fd` is an open cgroup v2 directory (O_RDONLY | O_DIRECTORY).
Result<Link> attach_cgroup(const Program& program, int cgroup_fd, AttachType type, const CgroupOptions& options = {});
// `cgroup_path` is a directory of the cgroup v2 hierarchy (e.g. /sys/fs/cgroup/unified/my.slice).
Result<Link> attach_cgroup(const Program& program, const std::string& cgroup_path, AttachType type,
                           const CgroupOptions& options = {});

// The programs attached to the cgroup for `type` (effective: also those inherited from ancestors).
struct CgroupQuery {
  std::uint32_t attach_flags = 0;  // allow_override / allow_multi of the cgroup's own attachments
  std::vector<std::uint32_t> prog_ids;
  std::uint64_t revision = 0;
};
Result<CgroupQuery> query_cgroup(int cgroup_fd, AttachType type, bool effective = false);

// The program type a cgroup attach type needs; nullopt for attach types that are not cgroup hooks.
std::optional<ProgType> cgroup_program_type(AttachType type) noexcept;

}  // namespace ebpf
