// Private interface between the feature-probe sources (features.cpp, features_probe.cpp, features_btf.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/features.hpp"

namespace ebpf::features::detail {

// Raw probes: no caching. true / false only when the kernel's answer is unambiguous.
Result<bool> probe_prog_type(ProgType type);
Result<bool> probe_map_type(MapType type);
Result<bool> probe_helper(ProgType type, std::uint32_t helper_id);
Result<bool> probe_attach_type(AttachType type);
Result<bool> probe_feature(Feature feature);  // link kinds, ringbuf, arena, bpf_cookie
Result<bool> probe_named(Feature feature);    // every Feature

// BTF: load a blob made of `types` (raw btf_type records) and `strings`; true if the kernel accepted it,
// false on EINVAL (unknown kind), an Error otherwise.
Result<bool> probe_btf(std::span<const std::uint32_t> types, std::string_view strings);
// A loaded BTF object holding `int` as type 1 (for maps that require BTF key/value types).
Result<Fd> load_int_btf();
// Whether the running kernel's vmlinux BTF has the string `name` (e.g. an enumerator "BPF_MAP_TYPE_ARENA");
// nullopt when /sys/kernel/btf/vmlinux cannot be read.
std::optional<bool> vmlinux_has_name(std::string_view name);

}  // namespace ebpf::features::detail
