// ebpf/dsl/firewall.hpp — seed program: the XDP "basic firewall" built with the DSL. Drops IPv4 frames whose
// source address is a key of a HASH map, passes everything else (non-IPv4, short or malformed frames too),
// and counts passed/dropped frames in a PERCPU_ARRAY.
//
//   blocklist: HASH, key u32 = IPv4 source address in network byte order (the 4 address bytes as they
//              appear on the wire), any value size
//   counters:  PERCPU_ARRAY of u64, at least 2 entries: [kPassed] passed, [kDropped] dropped
#pragma once

#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl::firewall {

inline constexpr std::string_view kBlocklistMap = "blocklist";
inline constexpr std::string_view kCountersMap = "counters";
inline constexpr std::uint32_t kPassed = 0;
inline constexpr std::uint32_t kDropped = 1;

// The program with unresolved references to kBlocklistMap and kCountersMap.
Result<Bytecode> build();

// build(), both maps resolved to the given fds, loaded as an XDP program.
Result<Program> load(int blocklist_fd, int counters_fd, const ProgramLoadOptions& opts = {});

}  // namespace ebpf::dsl::firewall
