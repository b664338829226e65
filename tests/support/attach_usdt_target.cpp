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
int fire_indexed(const int *table, long index);
static const int g_table[6] = {10, -20, 30, -40, 50, -60};

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
    int d = fire_indexed(g_table, (-a) % 4);
    /* Only after the probes fired: the test reads the program's results once it has this line. */
    printf("%u %d %ld %u %d\n", semaphore, a, b, (unsigned)c, d);
    fflush(stdout);
    g_a = a - 1;
    g_b = b + 1;
  }
  return 0;
}
)";

// A probe without a semaphore: sdt.h decides at #include time whether every probe of a file has one.
// etprov:indexed has a hand-written base+index*scale+offset argument (compilers rarely emit one): the int at
// table + index * 4 + 8, i.e. table[index + 2]. x86-64 only; elsewhere fire_indexed returns that value unseen.
constexpr const char* kNoSemaphoreSource = R"(#include <sys/sdt.h>
__attribute__((noinline)) void fire_constarg(void) { DTRACE_PROBE1(etprov, constarg, -5); }
__attribute__((noinline)) int fire_indexed(const int *table, long index) {
#if defined(__x86_64__)
  __asm__ volatile(STAP_PROBE_ASM(etprov, indexed, -4@8(%%rdi,%%rsi,4)) : : "D"(table), "S"(index) : "memory");
#endif
  return table[index + 2];
}
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
