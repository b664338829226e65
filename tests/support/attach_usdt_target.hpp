// support/attach_usdt_target.hpp — a small C program with <sys/sdt.h> probes, built with gcc at test time for
// the USDT tests (unit: note parsing; kernel: attaching and reading arguments).
//
// Probes: etprov:evt (4 arguments, with a semaphore), etprov:constarg (one constant, no semaphore) and, on
// x86-64, etprov:indexed (one "-4@8(%rdi,%rsi,4)" argument written in assembly).
// Protocol: for each line read on stdin the program fires the probes, then prints "<semaphore> <a> <b> <c> <d>"
// (the semaphore value it saw before firing, the arguments it passed to etprov:evt: int a, long b, 42,
// unsigned char c, and the int d that etprov:indexed's argument points at).
// End of input ends the program.
#pragma once

#include <filesystem>

#include "ebpf/error.hpp"
#include "support/clang.hpp"

namespace ebpf::test {

// Builds the target into dir/usdt_target with gcc `optimization` ("-O0", "-O2", ...). Errc::not_supported
// when gcc or <sys/sdt.h> (systemtap-sdt-dev) is missing; the compiler's output is in the message.
Result<std::filesystem::path> build_usdt_target(const TempDir& dir, std::string_view optimization = "-O0");

}  // namespace ebpf::test
