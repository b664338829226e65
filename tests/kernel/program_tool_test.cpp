// ebpf-tool prog / feature end to end: the built binary assembles, loads and test-runs programs.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "ebpf/packet.hpp"
#include "support/kernel.hpp"

namespace {

const std::string kTool = std::string(EBPF_BINARY_DIR) + "/tools/ebpf-tool";

struct Output {
  int status = -1;
  std::string text;  // stdout and stderr
};

Output run_tool(const std::string& args) {
  Output out;
  std::FILE* p = ::popen((kTool + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  int status = ::pclose(p);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// A temporary assembler source file, removed on scope exit.
struct Source {
  std::string path;
  explicit Source(const std::string& text) : path("/tmp/" + ebpf::test::unique_name("asm") + ".s") {
    std::ofstream(path) << text;
  }
  ~Source() { ::unlink(path.c_str()); }
};

#define REQUIRE_TOOL()                                                                   \
  do {                                                                                   \
    EBPF_REQUIRE_KERNEL();                                                               \
    struct stat st_;                                                                     \
    if (::stat(kTool.c_str(), &st_) != 0) {                                              \
      if (ebpf::test::in_ci()) FAIL() << kTool << " was not built";                      \
      GTEST_SKIP() << kTool << " not built";                                             \
    }                                                                                    \
  } while (0)

constexpr const char* kSwapMacs = R"(; swap the Ethernet MACs, XDP_TX
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 12
if r4 > r3 goto drop
r5 = *(u32 *)(r2 + 0)
r6 = *(u16 *)(r2 + 4)
r7 = *(u32 *)(r2 + 6)
r8 = *(u16 *)(r2 + 10)
*(u32 *)(r2 + 0) = r7
*(u16 *)(r2 + 4) = r8
*(u32 *)(r2 + 6) = r5
*(u16 *)(r2 + 10) = r6
r0 = 3
exit
drop:
r0 = 1
exit
)";

TEST(ProgTool, RunSwapsMacsAndReportsJson) {
  REQUIRE_TOOL();
  Source src(kSwapMacs);
  auto frame = ebpf::packet::Builder()
                   .ethernet(*ebpf::packet::parse_mac("02:00:00:00:00:01"), *ebpf::packet::parse_mac("02:00:00:00:00:02"))
                   .ipv4(*ebpf::packet::parse_ipv4("10.0.0.1"), *ebpf::packet::parse_ipv4("10.0.0.2"))
                   .udp(1, 2)
                   .build();
  ASSERT_TRUE(frame);
  auto expected = *frame;
  std::swap_ranges(expected.begin(), expected.begin() + 6, expected.begin() + 6);
  auto out = run_tool("prog run --asm " + src.path + " --type xdp --repeat 5 --json --data " +
                      ebpf::packet::to_hex(*frame));
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_NE(out.text.find("\"retval\":3"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("\"repeat\":5"), std::string::npos) << out.text;
  // Five runs on the same buffer swap five times: an odd count leaves the MACs swapped.
  EXPECT_NE(out.text.find("\"data_out\":\"" + ebpf::packet::to_hex(expected) + "\""), std::string::npos) << out.text;
}

TEST(ProgTool, VerifierRejectionPrintsTheLog) {
  REQUIRE_TOOL();
  Source src("exit\n");
  auto out = run_tool("prog run --asm " + src.path);
  EXPECT_EQ(out.status, 1);
  EXPECT_NE(out.text.find("rejected by the verifier"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("R0 !read_ok"), std::string::npos) << out.text;
}

TEST(ProgTool, BadArgumentsAreUsageErrors) {
  REQUIRE_TOOL();
  EXPECT_EQ(run_tool("prog run").status, 2);
  Source src("r0 = 0\nexit\n");
  auto bad_type = run_tool("prog run --asm " + src.path + " --type nonsense");
  EXPECT_EQ(bad_type.status, 2);
  EXPECT_NE(bad_type.text.find("unknown program type"), std::string::npos);
  auto bad_hex = run_tool("prog run --asm " + src.path + " --data xyz");
  EXPECT_EQ(bad_hex.status, 1);
  EXPECT_NE(bad_hex.text.find("hex"), std::string::npos) << bad_hex.text;
  auto missing = run_tool("prog show 4000000000");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.text.find("no object with id"), std::string::npos) << missing.text;
}

// xdp-tools' filter programs (Debian xdp-tools): with empty rule maps the "allow" policy passes every
// packet and the "deny" policy drops it; neither rewrites the frame.
TEST(ProgTool, RunsAProgramFromAnElfObject) {
  REQUIRE_TOOL();
  const std::string dir = "/usr/lib/x86_64-linux-gnu/bpf/";
  struct stat st;
  if (::stat((dir + "xdpfilt_alw_all.o").c_str(), &st) != 0) {
    if (ebpf::test::in_ci()) FAIL() << "xdp-tools objects missing (make deps installs xdp-tools)";
    GTEST_SKIP() << "xdp-tools not installed";
  }
  auto frame = ebpf::packet::Builder()
                   .ethernet(*ebpf::packet::parse_mac("02:00:00:00:00:01"), *ebpf::packet::parse_mac("02:00:00:00:00:02"))
                   .ipv4(*ebpf::packet::parse_ipv4("10.0.0.1"), *ebpf::packet::parse_ipv4("10.0.0.2"))
                   .udp(1, 2)
                   .build();
  ASSERT_TRUE(frame);
  const std::string data = ebpf::packet::to_hex(*frame);
  // The filter objects pin their maps by name; the tool must keep those pins private and remove them.
  const bool stats_pinned_before = ::stat("/sys/fs/bpf/xdp_stats_map", &st) == 0;
  auto allow = run_tool("prog run --obj " + dir + "xdpfilt_alw_all.o --prog xdpfilt_alw_all --json --data " + data);
  ASSERT_EQ(allow.status, 0) << allow.text;
  EXPECT_NE(allow.text.find("\"retval\":2,"), std::string::npos) << allow.text;
  EXPECT_NE(allow.text.find("\"data_out\":\"" + data + "\""), std::string::npos) << allow.text;
  auto deny = run_tool("prog run --obj " + dir + "xdpfilt_dny_all.o --prog xdpfilt_dny_all --json --data " + data);
  ASSERT_EQ(deny.status, 0) << deny.text;
  EXPECT_NE(deny.text.find("\"retval\":1,"), std::string::npos) << deny.text;

  auto unknown = run_tool("prog run --obj " + dir + "xdpfilt_alw_all.o --prog no_such_prog");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.text.find("no program named 'no_such_prog'"), std::string::npos) << unknown.text;
  auto missing_file = run_tool("prog run --obj /nonexistent/" + ebpf::test::unique_name() + ".o --prog x");
  EXPECT_EQ(missing_file.status, 1) << missing_file.text;

  EXPECT_EQ(::stat("/sys/fs/bpf/xdp_stats_map", &st) == 0, stats_pinned_before) << "pin leaked into /sys/fs/bpf";
  if (DIR* d = ::opendir("/sys/fs/bpf")) {
    while (dirent* e = ::readdir(d))
      EXPECT_FALSE(std::string(e->d_name).starts_with("ebpf-tool-run-")) << "left behind: " << e->d_name;
    ::closedir(d);
  }
}

TEST(ProgTool, FeatureProbeJson) {
  REQUIRE_TOOL();
  auto out = run_tool("feature probe --json");
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_NE(out.text.find(R"({"group":"feature","name":"tcx_link","supported":true,"min_kernel":"6.6"})"),
            std::string::npos);
  EXPECT_NE(out.text.find(R"({"group":"feature","name":"kprobe_multi_link","supported":false,"min_kernel":"5.18"})"),
            std::string::npos);
  EXPECT_NE(out.text.find(R"({"group":"map_type","name":"arena","supported":true,"min_kernel":"6.9"})"),
            std::string::npos);
}

}  // namespace
