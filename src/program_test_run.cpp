// BPF_PROG_TEST_RUN: runs a loaded program on caller-supplied data and context.
#include <cerrno>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr const char* kRunOp = "BPF_PROG_TEST_RUN";

std::size_t data_out_size(const TestRunOptions& o) {
  if (o.data_out_size != TestRunOptions::kAuto) return o.data_out_size;
  // Live frames are transmitted or dropped, never copied back.
  if (o.data_in.empty() || (o.flags & test_run_flags::xdp_live_frames) != 0) return 0;
  return o.data_in.size() + kDataOutHeadroom;
}

std::size_t ctx_out_size(const TestRunOptions& o) {
  return o.ctx_out_size == TestRunOptions::kAuto ? o.ctx_in.size() : o.ctx_out_size;
}

bool runs_once(ProgType t) {
  return t == ProgType::raw_tracepoint || t == ProgType::raw_tracepoint_writable || t == ProgType::syscall;
}

Result<void> check(const TestRunOptions& o, std::size_t data_out, std::size_t ctx_out) {
  constexpr std::size_t kMax = UINT32_MAX;
  if (o.data_in.size() > kMax || data_out > kMax || o.ctx_in.size() > kMax || ctx_out > kMax)
    return Error::invalid(kRunOp, "buffers are limited to 4 GiB");
  if (o.cpu != 0 && (o.flags & test_run_flags::run_on_cpu) == 0)
    return Error::invalid(kRunOp, "cpu is only used with test_run_flags::run_on_cpu");
  if (o.batch_size != 0 && (o.flags & test_run_flags::xdp_live_frames) == 0)
    return Error::invalid(kRunOp, "batch_size is only used with test_run_flags::xdp_live_frames");
  return ok();
}

Error explain(Error err, const sys::TestRunAttr& a, std::size_t data_out, std::size_t ctx_out,
              const std::string& what) {
  if (err.sys_errno() == ENOSPC) {
    std::string msg = what + ": output did not fit: ";
    if (a.data_size_out > data_out)
      msg += "data_out needs " + std::to_string(a.data_size_out) + " bytes, buffer has " + std::to_string(data_out);
    else if (a.ctx_size_out > ctx_out)
      msg += "ctx_out needs " + std::to_string(a.ctx_size_out) + " bytes, buffer has " + std::to_string(ctx_out);
    else
      msg += "an output buffer is too small";
    return Error(Errc::no_space, kRunOp, msg, ENOSPC);
  }
  if (err.sys_errno() == E2BIG)
    return Error(Errc::invalid_argument, kRunOp,
                 what + ": ctx_in is larger than the kernel's context struct and the extra bytes are not zero "
                        "(or batch_size is too large)",
                 E2BIG);
  if (err.sys_errno() == ENOTSUP || err.sys_errno() == 524)
    return Error(Errc::not_supported, kRunOp, what + ": this program type cannot be test-run", err.sys_errno());
  if (err.sys_errno() == EINVAL)
    return Error(Errc::invalid_argument, kRunOp,
                 what + ": the kernel rejected the run (data/ctx size or layout wrong for this program type, "
                        "or a flag it does not take)",
                 EINVAL);
  return err.context(what);
}

}  // namespace

Result<TestRunResult> Program::test_run(const TestRunOptions& opts) const {
  if (!fd_.valid()) return Error::invalid(kRunOp, "empty program");
  const std::size_t data_out = data_out_size(opts);
  const std::size_t ctx_out = ctx_out_size(opts);
  EBPF_TRY(check(opts, data_out, ctx_out));

  TestRunResult result;
  result.data_out.resize(data_out);
  result.ctx_out.resize(ctx_out);

  sys::TestRunAttr a;
  a.prog_fd = static_cast<std::uint32_t>(fd_.get());
  a.data_size_in = static_cast<std::uint32_t>(opts.data_in.size());
  a.data_in = opts.data_in.empty() ? 0 : sys::ptr(opts.data_in.data());
  a.data_size_out = static_cast<std::uint32_t>(data_out);
  a.data_out = data_out == 0 ? 0 : sys::ptr(result.data_out.data());
  a.ctx_size_in = static_cast<std::uint32_t>(opts.ctx_in.size());
  a.ctx_in = opts.ctx_in.empty() ? 0 : sys::ptr(opts.ctx_in.data());
  a.ctx_size_out = static_cast<std::uint32_t>(ctx_out);
  a.ctx_out = ctx_out == 0 ? 0 : sys::ptr(result.ctx_out.data());
  a.repeat = opts.repeat;
  if (runs_once(type_)) {
    // These types run exactly once and reject any repeat value, even 1.
    if (opts.repeat > 1)
      return Error::invalid(kRunOp, std::string(ebpf::name(type_)) + " programs run once per test run: repeat must be 0 or 1");
    a.repeat = 0;
  }
  a.flags = opts.flags;
  a.cpu = opts.cpu;
  a.batch_size = opts.batch_size;

  auto r = sys::prog_test_run(a);
  if (!r) {
    const std::string what = "program" + (name_.empty() ? std::string() : " '" + name_ + "'") + " (" +
                             std::string(ebpf::name(type_)) + ")";
    return explain(std::move(r).error(), a, data_out, ctx_out, what);
  }

  result.retval = a.retval;
  result.duration = std::chrono::nanoseconds(a.duration);
  result.data_out.resize(std::min<std::size_t>(data_out, a.data_size_out));
  result.ctx_out.resize(std::min<std::size_t>(ctx_out, a.ctx_size_out));
  return result;
}

}  // namespace ebpf
