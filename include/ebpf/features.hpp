// ebpf/features.hpp — what the running kernel supports, found by trying it (cached per process).
//
// Every probe performs the smallest real operation: loading a two-instruction program of a type, creating a
// one-entry map, loading `call helper; exit`, creating a link against an interface that does not exist,
// loading a tiny BTF blob. Answers are cached after the first definitive result. A probe that fails for a
// reason other than "the kernel does not know this" (EPERM under lockdown, ENOMEM) is an Error, never a "no";
// the verdict is cached only when it is a clear yes or no.
//
//   if (!EBPF_TRY(features::has(Feature::tcx_link))) ...;
//   EBPF_TRY(features::require(Feature::ringbuf));  // Errc::not_supported "ringbuf maps need Linux 5.8"
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

enum class Feature : std::uint32_t {
  ringbuf,            // BPF_MAP_TYPE_RINGBUF
  batch_ops,          // BPF_MAP_*_BATCH commands
  xdp_link,           // bpf_link for XDP
  tcx_link,           // tcx ingress/egress links
  uprobe_multi_link,  // uprobe_multi links
  kprobe_multi_link,  // kprobe_multi links (needs fprobe / kprobes in the kernel)
  netkit_link,        // netkit devices and their links
  btf_enum64,         // BTF_KIND_ENUM64
  btf_float,          // BTF_KIND_FLOAT
  btf_decl_tag,       // BTF_KIND_DECL_TAG
  btf_type_tag,       // BTF_KIND_TYPE_TAG
  global_data,        // BPF_PSEUDO_MAP_VALUE (.data / .rodata / .bss)
  mmapable_array,     // BPF_F_MMAPABLE array maps
  bpf_cookie,         // bpf_get_attach_cookie()
  log_true_size,      // BPF_PROG_LOAD reports the full verifier log size
  arena,              // BPF_MAP_TYPE_ARENA
};
inline constexpr std::uint32_t kFeatureCount = 16;

std::string_view name(Feature feature) noexcept;
std::optional<Feature> feature_from_name(std::string_view name) noexcept;

namespace features {

// First Linux release with the feature / type ("5.8").
std::string_view min_kernel(Feature feature) noexcept;
std::string_view min_kernel(ProgType type) noexcept;
std::string_view min_kernel(MapType type) noexcept;

Result<bool> has(Feature feature);
Result<bool> has_prog_type(ProgType type);
Result<bool> has_map_type(MapType type);
// Whether programs of `type` may call helper `helper_id` (BPF_FUNC_* number).
Result<bool> has_helper(ProgType type, std::uint32_t helper_id);
Result<bool> has_attach_type(AttachType type);

// Ok when supported; Errc::not_supported naming the feature and the first kernel that has it otherwise;
// probe errors are passed through.
Result<void> require(Feature feature);
Result<void> require_prog_type(ProgType type);
Result<void> require_map_type(MapType type);

// Forgets every cached answer (tests; after a capability change).
void clear_cache();

}  // namespace features
}  // namespace ebpf
