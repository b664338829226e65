// ebpf/attach/socket.hpp — socket filters: a SOCKET_FILTER program on one socket (SO_ATTACH_BPF).
//
// The program sees every packet the socket would receive and returns how many bytes to keep (0 drops it).
// The Link holds a duplicate of the socket descriptor so that it can detach (SO_DETACH_BPF) later; the socket
// therefore stays open while the Link exists. update() swaps the filter atomically (SO_ATTACH_BPF again).
#pragma once

#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Program;

Result<Link> attach_socket_filter(const Program& program, int socket_fd);

}  // namespace ebpf
