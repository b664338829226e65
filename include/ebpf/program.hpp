// ebpf/program.hpp — loaded eBPF programs: load (with the verifier-log policy), open by fd / id / pin, pin,
// introspection (struct bpf_prog_info) and BPF_PROG_TEST_RUN.
//
// Verifier log policy: a load first runs without a log (cheapest, and the kernel rejects a log buffer with
// log_level 0); only when it fails is it retried with log_level 1 and a buffer that grows (64 KiB up to
// ProgramLoadOptions::max_log_size) until the whole log fits. A verifier rejection is Errc::verifier with the
// log in Error::verifier_log(); EPERM with an empty log (lockdown, missing capabilities) is Errc::permission
// and says it was kernel policy, not the verifier. Asking for a log (log_level 1, 2 = verbose, 4 = stats)
// loads with it from the start and keeps it on success: Program::verifier_log().
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/insn.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

// Verifier log levels (combinable): BPF_LOG_LEVEL1, BPF_LOG_LEVEL2 (every state), BPF_LOG_STATS.
namespace log_level {
inline constexpr std::uint32_t basic = 1;
inline constexpr std::uint32_t verbose = 2;
inline constexpr std::uint32_t stats = 4;
}  // namespace log_level

// The kernel's limit on instructions per program (BPF_COMPLEXITY_LIMIT_INSNS).
inline constexpr std::size_t kMaxProgramInsns = 1'000'000;

struct ProgramLoadOptions {
  std::string name;  // up to 15 characters reach the kernel ([A-Za-z0-9_.]); the full name stays in Program
  std::string license = "GPL";
  std::optional<AttachType> expected_attach_type;
  std::uint32_t attach_btf_id = 0;   // tracing / struct_ops / ext / lsm target
  int attach_prog_fd = -1;           // freplace / fentry on a BPF program
  int attach_btf_obj_fd = -1;        // module BTF of the target (exclusive with attach_prog_fd)
  std::uint32_t flags = 0;           // prog_flags::*
  std::uint32_t kernel_version = 0;  // only checked by very old kernels (kprobe)
  std::uint32_t ifindex = 0;         // offload / dev-bound XDP
  int btf_fd = -1;                   // program BTF, required for func_info / line_info
  // Raw .BTF.ext records (struct bpf_func_info / bpf_line_info or a newer, larger layout) and their size.
  std::span<const std::byte> func_info;
  std::uint32_t func_info_rec_size = 8;
  std::span<const std::byte> line_info;
  std::uint32_t line_info_rec_size = 16;
  std::span<const int> fd_array;  // maps / BTF referenced by index (ld_map_idx, kfunc module BTF)
  // 0: no log unless the load fails. Non-zero: log_level::* bits, log kept on success too.
  std::uint32_t log_level = 0;
  std::size_t initial_log_size = 64 * 1024;
  std::size_t max_log_size = 16 * 1024 * 1024;
  int token_fd = -1;  // BPF token (delegated bpffs)
};

struct ProgramInfo {
  ProgType type = ProgType::unspec;
  std::uint32_t id = 0;
  std::string name;
  std::array<std::uint8_t, 8> tag{};
  std::uint32_t jited_size = 0;   // bytes of native code
  std::uint32_t xlated_size = 0;  // bytes of rewritten eBPF
  std::uint64_t load_time_ns = 0; // since boot
  std::uint32_t created_by_uid = 0;
  std::vector<std::uint32_t> map_ids;
  std::uint32_t ifindex = 0;
  bool gpl_compatible = false;
  std::uint32_t btf_id = 0;
  std::uint32_t func_info_count = 0;  // records kept from ProgramLoadOptions::func_info
  std::uint32_t line_info_count = 0;
  std::uint64_t run_count = 0;    // counted only while stats are enabled (enable_run_stats)
  std::uint64_t run_time_ns = 0;
  std::uint64_t recursion_misses = 0;
  std::uint32_t verified_insns = 0;
  std::uint32_t attach_btf_obj_id = 0;
  std::uint32_t attach_btf_id = 0;

  std::string tag_hex() const;  // 16 lower-case hex digits, as bpftool prints it
};

// BPF_PROG_TEST_RUN input. Sizes are bytes.
struct TestRunOptions {
  static constexpr std::size_t kAuto = SIZE_MAX;
  std::span<const std::uint8_t> data_in = {};
  // kAuto: data_in.size() + kDataOutHeadroom (room for bpf_xdp_adjust_head/tail growth); 0: no data out.
  std::size_t data_out_size = kAuto;
  std::span<const std::uint8_t> ctx_in = {};
  std::size_t ctx_out_size = 0;  // 0: no ctx out; kAuto: ctx_in.size()
  std::uint32_t repeat = 1;
  std::uint32_t flags = 0;       // test_run_flags::*
  std::uint32_t cpu = 0;         // with test_run_flags::run_on_cpu
  std::uint32_t batch_size = 0;  // XDP live frames batch
};
inline constexpr std::size_t kDataOutHeadroom = 4096;

struct TestRunResult {
  std::uint32_t retval = 0;
  std::chrono::nanoseconds duration{0};  // the kernel's average per run
  std::vector<std::uint8_t> data_out;
  std::vector<std::uint8_t> ctx_out;
};

class Program {
 public:
  Program() = default;

  static Result<Program> load(ProgType type, std::span<const Insn> insns, const ProgramLoadOptions& opts = {});
  // Adopts a program fd; type and name are read from the kernel.
  static Result<Program> from_fd(Fd fd);
  static Result<Program> from_id(std::uint32_t id);
  static Result<Program> open_pinned(const std::string& path);

  int fd() const noexcept { return fd_.get(); }
  bool valid() const noexcept { return fd_.valid(); }
  ProgType type() const noexcept { return type_; }
  const std::string& name() const { return name_; }
  // The verifier log of a load that asked for one (ProgramLoadOptions::log_level != 0); empty otherwise.
  const std::string& verifier_log() const { return log_; }
  Result<Program> clone() const;  // a second owning fd to the same program
  Fd release() noexcept { return std::move(fd_); }

  Result<TestRunResult> test_run(const TestRunOptions& opts) const;
  Result<ProgramInfo> info() const;
  // The kernel's rewritten instructions (after the verifier's fixups).
  Result<std::vector<Insn>> xlated_insns() const;

  Result<void> pin(const std::string& path) const;
  static Result<void> unpin(const std::string& path);

 private:
  Program(Fd fd, ProgType type, std::string name, std::string log = {})
      : fd_(std::move(fd)), type_(type), name_(std::move(name)), log_(std::move(log)) {}

  Fd fd_;
  ProgType type_ = ProgType::unspec;
  std::string name_;
  std::string log_;
};

// Info of any program fd (also ones not owned by a Program).
Result<ProgramInfo> program_info(int prog_fd);

// Turns on run_count / run_time_ns accounting (BPF_ENABLE_STATS) while the returned fd lives.
Result<Fd> enable_run_stats();

}  // namespace ebpf
