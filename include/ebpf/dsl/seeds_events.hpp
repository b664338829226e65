// ebpf/dsl/seeds_events.hpp — seed program: an XDP ring-buffer event producer. Every frame becomes one
// PacketEvent record (read it with RingBuffer::consume<PacketEvent>) and passes.
//
// Maps (resolved by load()): "events", a RINGBUF. When the ring is full the frame passes without a record,
// counted in "drops", an ARRAY with one u64 at key 0 (RingBufferOptions::drop_counter_map_fd reads it).
// Non-IPv4 frames get a record with the length, ingress ifindex and ethertype only; IPv4 frames also the
// addresses and protocol, unfragmented TCP and UDP also the ports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ebpf/assembler.hpp"
#include "ebpf/error.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl::packet_events {

inline constexpr std::string_view kEventsMap = "events";
inline constexpr std::string_view kDropsMap = "drops";

struct PacketEvent {
  std::uint32_t saddr = 0;      // IPv4 source, network byte order (0: not IPv4)
  std::uint32_t daddr = 0;      // IPv4 destination, network byte order
  std::uint16_t sport = 0;      // TCP/UDP source port, host order (0: no ports)
  std::uint16_t dport = 0;      // host order
  std::uint16_t ethertype = 0;  // host order, after one VLAN tag (0: shorter than an Ethernet header)
  std::uint8_t protocol = 0;    // IPv4 protocol (0: not IPv4)
  std::uint8_t pad = 0;
  std::uint32_t len = 0;        // frame length in bytes
  std::uint32_t ifindex = 0;    // ingress interface
};
static_assert(sizeof(PacketEvent) == 24 && offsetof(PacketEvent, len) == 16);

// The program with unresolved references to kEventsMap and kDropsMap.
Result<Bytecode> build();

// build(), both maps resolved (the drops array is required: the program references it), loaded as XDP.
Result<Program> load(int events_fd, int drops_fd, const ProgramLoadOptions& opts = {});

}  // namespace ebpf::dsl::packet_events
