// ebpf/dsl/clock.hpp — reading the kernel's clocks from BPF: r0 = nanoseconds of the chosen clock.
//
//   monotonic  bpf_ktime_get_ns          CLOCK_MONOTONIC (does not count suspend)     all kernels with BPF
//   boot       bpf_ktime_get_boot_ns     CLOCK_BOOTTIME (counts suspend)              Linux 5.8
//   coarse     bpf_ktime_get_coarse_ns   CLOCK_MONOTONIC_COARSE (tick resolution,     Linux 5.11
//                                        cheaper)
//   tai        bpf_ktime_get_tai_ns      CLOCK_TAI (wall clock without leap seconds)  Linux 6.1
// A kernel or program type without the helper refuses the program at load; check availability first with
// the helper catalogue (ebpf/helpers.hpp) when running on older kernels.
#pragma once

#include "ebpf/assembler.hpp"

namespace ebpf::dsl {

enum class Clock { monotonic, boot, coarse, tai };

// r0 = now in ns on `clock`; r1..r5 are clobbered (a helper call).
Assembler& now_ns(Assembler& a, Clock clock = Clock::monotonic);

// The helper that reads `clock`.
helper::Id clock_helper(Clock clock);

}  // namespace ebpf::dsl
