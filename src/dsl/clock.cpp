// Clock blocks (see ebpf/dsl/clock.hpp).
#include "ebpf/dsl/clock.hpp"

namespace ebpf::dsl {

helper::Id clock_helper(Clock clock) {
  switch (clock) {
    case Clock::boot: return helper::ktime_get_boot_ns;
    case Clock::coarse: return helper::ktime_get_coarse_ns;
    case Clock::tai: return helper::ktime_get_tai_ns;
    case Clock::monotonic: break;
  }
  return helper::ktime_get_ns;
}

Assembler& now_ns(Assembler& a, Clock clock) { return a.call(clock_helper(clock)); }

}  // namespace ebpf::dsl
