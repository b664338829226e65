// Builds the USDT test target (see attach_usdt_target.hpp).
#include "support/attach_usdt_target.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ebpf::test {

namespace {
// The semaphore must be named <provider>_<name>_semaphore and live in .probes for sdt.h to record it.
constexpr const char* kSource = R"(#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>

__extension__ unsigned short etprov_evt_semaphore __attribute__((unused, section(".probes")));

void fire_constarg(void);

static volatile int g_a = -7;
static volatile long g_b = 0x1122334455667788L;

int main(void) {
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    int a = g_a;
    long b = g_b;
    unsigned char c = (unsigned char)(a * 3);
    unsigned semaphore = *(volatile unsigned short *)&etprov_evt_semaphore;
    DTRACE_PROBE4(etprov, evt, a, b, 42, c);
    fire_constarg();
    /* Only after the probes fired: the test reads the program's results once it has this line. */
    printf("%u %d %ld %u\n", semaphore, a, b, (unsigned)c);
    fflush(stdout);
    g_a = a - 1;
    g_b = b + 1;
  }
  return 0;
}
)";

// A probe without a semaphore: sdt.h decides at #include time whether every probe of a file has one.
constexpr const char* kNoSemaphoreSource = R"(#include <sys/sdt.h>
__attribute__((noinline)) void fire_constarg(void) { DTRACE_PROBE1(etprov, constarg, -5); }
)";
}  // namespace

Result<std::filesystem::path> build_usdt_target(const TempDir& dir, std::string_view optimization) {
  auto src = dir.path() / "usdt_target.c";
  auto out = dir.path() / "usdt_target";
  auto log = dir.path() / "gcc.log";
  auto src2 = dir.path() / "usdt_target_nosem.c";
  std::ofstream(src) << kSource;
  std::ofstream(src2) << kNoSemaphoreSource;
  std::string cmd = "gcc " + std::string(optimization) + " -o " + out.string() + " " + src.string() + " " + src2.string() + " > " +
                    log.string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    return Error(Errc::not_supported, "gcc",
                 "cannot build the USDT target (needs gcc and systemtap-sdt-dev): " + cmd + "\n" + text.str());
  }
  return out;
}

}  // namespace ebpf::test
