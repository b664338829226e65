// Loopback TCP sockets for sockmap / sk_msg tests: a connected pair made inside a test namespace, and
// bounded waits for data.
#pragma once

#include <string>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "support/netns.hpp"

namespace ebpf::test {

// A connected loopback TCP pair (client side, accepted server side).
struct TcpPair {
  Fd client, server;
};

// Listens on 127.0.0.1 (ephemeral port) inside `netns`, connects and accepts; the listener is closed.
Result<TcpPair> tcp_pair(const TestNetns& netns);

// What arrives on `fd` within `ms` (one recv of up to 256 bytes); empty on timeout.
std::string receive(const Fd& fd, int ms = 2000);

// Whether `fd` becomes readable within `ms`.
bool readable(const Fd& fd, int ms);

}  // namespace ebpf::test
