// `make demo`: the library end to end with no network setup and no arguments.
//
// Assembles an XDP program that counts packets per IP protocol (IPv4 protocol / IPv6 next header) in a
// PERCPU_ARRAY, loads it, runs it with BPF_PROG_TEST_RUN on frames made by the packet builder, then reads the
// per-CPU counters back and checks them against what was sent. Exits non-zero on any mismatch.
#include <sched.h>

#include <cstdio>
#include <map>
#include <vector>

#include "ebpf/assembler.hpp"
#include "ebpf/features.hpp"
#include "ebpf/map.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"

namespace {

using namespace ebpf::isa;
namespace packet = ebpf::packet;

constexpr std::int32_t kXdpPass = 2;
constexpr std::int32_t kMapLookupElem = 1;

// r7 = protocol of the frame at ctx (r1) or pass; counters[r7] += 1 on the current CPU.
ebpf::Result<ebpf::Bytecode> counting_program() {
  ebpf::Assembler a;
  a.ldx(W, r2, r1, 0)            // data
      .ldx(W, r3, r1, 4)         // data_end
      .mov(r4, r2)
      .add(r4, 14)
      .jgt(r4, r3, "pass")       // no Ethernet header
      .ldx(H, r5, r2, 12)        // ethertype, network order
      .jeq(r5, 0x0008, "ipv4")   // 0x0800 as a little-endian load
      .jeq(r5, 0xdd86, "ipv6")   // 0x86dd
      .ja("pass")
      .label("ipv4")
      .mov(r4, r2)
      .add(r4, 34)
      .jgt(r4, r3, "pass")
      .ldx(B, r7, r2, 23)        // IPv4 protocol
      .ja("count")
      .label("ipv6")
      .mov(r4, r2)
      .add(r4, 54)
      .jgt(r4, r3, "pass")
      .ldx(B, r7, r2, 20)        // IPv6 next header
      .label("count")
      .stx(W, r10, -4, r7)
      .ld_map(r1, "counters")
      .mov(r2, r10)
      .add(r2, -4)
      .call_helper(kMapLookupElem)
      .jeq(r0, 0, "pass")
      .ldx(DW, r1, r0, 0)
      .add(r1, 1)                // per-CPU slot: no other CPU writes it, a plain add is exact
      .stx(DW, r0, 0, r1)
      .label("pass")
      .mov(r0, kXdpPass)
      .exit();
  return std::move(a).finish();
}

struct Sample {
  const char* label;
  std::uint8_t proto;
  std::vector<std::uint8_t> frame;
};

ebpf::Result<std::vector<Sample>> sample_frames() {
  const packet::Mac a{2, 0, 0, 0, 0, 1}, b{2, 0, 0, 0, 0, 2};
  const packet::Ipv4Addr ip_a{10, 0, 0, 1}, ip_b{10, 0, 0, 2};
  const auto ip6_a = EBPF_TRY(packet::parse_ipv6("fd00::1"));
  const auto ip6_b = EBPF_TRY(packet::parse_ipv6("fd00::2"));
  std::vector<Sample> out;
  out.push_back({"TCP/IPv4 SYN", packet::kProtoTcp,
                 EBPF_TRY(packet::Builder().ethernet(a, b).ipv4(ip_a, ip_b).tcp(40000, 80).build())});
  out.push_back({"UDP/IPv4 DNS", packet::kProtoUdp,
                 EBPF_TRY(packet::Builder().ethernet(a, b).ipv4(ip_a, ip_b).udp(5353, 53).payload("query").build())});
  out.push_back({"ICMP echo", packet::kProtoIcmp,
                 EBPF_TRY(packet::Builder().ethernet(a, b).ipv4(ip_a, ip_b).icmp_echo({}).payload("ping").build())});
  out.push_back({"UDP/IPv6", packet::kProtoUdp,
                 EBPF_TRY(packet::Builder().ethernet(a, b).ipv6(ip6_a, ip6_b).udp(1000, 2000).payload("v6").build())});
  out.push_back({"ICMPv6 echo", packet::kProtoIcmpv6,
                 EBPF_TRY(packet::Builder().ethernet(a, b).ipv6(ip6_a, ip6_b).icmp_echo({}).build())});
  return out;
}

void pin_to_cpu(std::size_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)::sched_setaffinity(0, sizeof set, &set);  // best effort: a CPU may be offline
}

const char* proto_name(std::uint32_t p) {
  switch (p) {
    case packet::kProtoTcp: return "tcp";
    case packet::kProtoUdp: return "udp";
    case packet::kProtoIcmp: return "icmp";
    case packet::kProtoIcmpv6: return "icmpv6";
    default: return "?";
  }
}

ebpf::Result<int> run() {
  EBPF_TRY(ebpf::features::require_map_type(ebpf::MapType::percpu_array));
  auto counters = EBPF_TRY(ebpf::PerCpuArrayMap<std::uint64_t>::create("demo_counters", 256));
  auto code = EBPF_TRY(counting_program());
  EBPF_TRY(code.resolve("counters", counters.fd()));
  ebpf::ProgramLoadOptions load;
  load.name = "demo_count";
  auto prog = EBPF_TRY(ebpf::Program::load(ebpf::ProgType::xdp, code.span(), load));
  std::printf("loaded XDP program '%s' (%zu instructions) and PERCPU_ARRAY 'demo_counters' (%zu CPUs)\n",
              prog.name().c_str(), code.insns.size(), counters.cpus());

  const auto samples = EBPF_TRY(sample_frames());
  std::map<std::uint32_t, std::uint64_t> expected;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    ebpf::TestRunOptions opts;
    opts.data_in = s.frame;
    opts.repeat = static_cast<std::uint32_t>(10 * (i + 1));  // different counts per packet kind
    pin_to_cpu(i % counters.cpus());  // test runs execute on the calling CPU: spread them out
    auto result = EBPF_TRY(prog.test_run(opts));
    expected[s.proto] += opts.repeat;
    std::printf("  %-13s %3zu bytes x %3u runs on cpu%zu -> retval %u (XDP_PASS), %lld ns/run\n", s.label,
                s.frame.size(), opts.repeat, i % counters.cpus(), result.retval,
                static_cast<long long>(result.duration.count()));
  }

  int mismatches = 0;
  std::printf("\nper-protocol counters (per CPU, then sum):\n");
  for (auto [proto, want] : expected) {
    auto values = EBPF_TRY(counters.lookup(proto));
    std::printf("  %-7s proto %3u:", proto_name(proto), proto);
    for (std::size_t cpu = 0; cpu < values.size(); ++cpu)
      std::printf(" cpu%zu=%llu", cpu, static_cast<unsigned long long>(values[cpu]));
    std::uint64_t sum = values.sum();
    std::printf("  sum=%llu (expected %llu)%s\n", static_cast<unsigned long long>(sum),
                static_cast<unsigned long long>(want), sum == want ? "" : "  MISMATCH");
    mismatches += sum != want;
  }
  auto info = EBPF_TRY(prog.info());
  std::printf("\nprogram id %u tag %s, %u bytes translated, %u bytes JIT-compiled\n", info.id,
              info.tag_hex().c_str(), info.xlated_size, info.jited_size);
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main() {
  auto r = run();
  if (!r) {
    std::fprintf(stderr, "demo failed: %s\n", r.error().to_string().c_str());
    return 1;
  }
  std::printf(*r == 0 ? "demo OK\n" : "demo FAILED: counters do not match\n");
  return *r;
}
