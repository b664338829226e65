// ebpf/attach/struct_ops.hpp — registering struct_ops maps (kernel interfaces implemented in BPF, such as a TCP
// congestion control `struct tcp_congestion_ops`) of a loaded Object.
//
// The object declares the implementation as a variable in SEC(".struct_ops.link") (link-based registration)
// or SEC(".struct_ops") (legacy registration), its function pointers set to SEC("struct_ops/...") programs.
// Object::load() loads those programs against the kernel's struct and member, creates the map and keeps the
// kernel-format value (program fds in the function-pointer slots, data members copied) in the map's spec
// `contents`. Registration writes that value:
//   - link maps (map_flags::link): BPF_MAP_UPDATE_ELEM prepares the value, BPF_LINK_CREATE (attach type
//     struct_ops) registers; the Link is a bpf_link (pin, info, detach and destruction unregister), and
//     update_struct_ops() swaps in another prepared link map atomically (BPF_LINK_UPDATE);
//   - legacy maps: BPF_MAP_UPDATE_ELEM of key 0 registers and BPF_MAP_DELETE_ELEM unregisters (done by the
//     Link's detach or destruction). The kernel lets a struct_ops map be registered only once.
#pragma once

#include <span>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Map;
class Object;

// Registers struct_ops map `map_name` of a loaded object (link-based or legacy, by the map's section).
Result<Link> attach_struct_ops(Object& object, std::string_view map_name);

// Lower level: registers a struct_ops `map` with `value` in the kernel's layout (struct bpf_struct_ops_<name>).
Result<Link> attach_struct_ops(const Map& map, std::span<const std::byte> value);

// Replaces the implementation behind struct_ops link `link` with link map `map_name` of a loaded object
// (BPF_LINK_UPDATE). The new map must implement the same struct; the old map stays loaded, unregistered.
Result<void> update_struct_ops(Link& link, Object& object, std::string_view map_name);

}  // namespace ebpf
