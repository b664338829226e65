// ebpf-lb demo: builds a throw-away topology of network namespaces (client, load balancer, three backends
// with HTTP and UDP echo servers), runs the balancer on it, drives traffic, shows a live per-backend table
// and removes everything again (also on Ctrl-C and on errors). `ebpf-lb demo` calls run().
#pragma once

#include <chrono>

namespace lb::demo {

struct DemoOptions {
  std::chrono::seconds duration{20};  // how long traffic runs and the live table refreshes
  bool verbose = false;               // echo the commands run and the balancer's own log
};

// Runs the whole demo; returns the process exit code (0 on success).
int run(const DemoOptions& options);

}  // namespace lb::demo
