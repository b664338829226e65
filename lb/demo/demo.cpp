// ebpf-lb demo: see demo.hpp. (Stub until the topology and traffic drivers land.)
#include "lb/demo/demo.hpp"

#include <cstdio>

namespace lb::demo {

int run(const DemoOptions& options) {
  std::fprintf(stderr, "ebpf-lb demo: not implemented yet (duration %llds)\n",
               static_cast<long long>(options.duration.count()));
  return 1;
}

}  // namespace lb::demo
