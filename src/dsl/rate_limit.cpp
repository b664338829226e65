// Token-bucket block (see ebpf/dsl/rate_limit.hpp): the BPF mirror of dsl::token_bucket_take.
#include "ebpf/dsl/rate_limit.hpp"

#include <string>

#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

constexpr std::int32_t kTokenImm = static_cast<std::int32_t>(kNanoTokensPerToken);  // 1e9 < 2^31

Result<void> check_regs(const TokenBucketRegs& r) {
  const std::array<Reg, 7> all = {r.bucket, r.now_ns, r.rate, r.burst, r.scratch[0], r.scratch[1], r.scratch[2]};
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].id > 10) return Error::invalid("token_bucket_take", "register r" + std::to_string(all[i].id) + " does not exist");
    if (i > 0 && all[i] == r10) return Error::invalid("token_bucket_take", "only the bucket pointer may be r10");
    for (std::size_t j = 0; j < i; ++j)
      if (all[i] == all[j])
        return Error::invalid("token_bucket_take", "register r" + std::to_string(all[i].id) +
                                                       " is used twice; inputs and scratch registers must be distinct");
  }
  if (r.offset > 32767 - 8) return Error::invalid("token_bucket_take", "bucket offset does not fit a 16-bit offset");
  return ok();
}
}  // namespace

Result<void> token_bucket_take(Assembler& a, const TokenBucketRegs& r, Assembler::Label denied) {
  EBPF_TRY(check_regs(r));
  const Reg cap = r.scratch[0], elapsed = r.scratch[1], tokens = r.scratch[2];
  const auto tokens_off = static_cast<std::int16_t>(r.offset + kTokenBucketTokens.offset);
  const auto last_off = static_cast<std::int16_t>(r.offset + kTokenBucketLastRefill.offset);
  const std::string fresh = detail::local_label(a, "tb_fresh");
  const std::string stamp = detail::local_label(a, "tb_stamp");
  const std::string clamped = detail::local_label(a, "tb_clamped");
  const std::string capped = detail::local_label(a, "tb_capped");
  const std::string store = detail::local_label(a, "tb_store");

  a.mov(cap, r.burst).mul(cap, kTokenImm);  // burst < 2^32: the product fits 64 bits
  a.ldx(DW, elapsed, r.bucket, last_off);
  a.jeq(elapsed, 0, fresh);
  a.jle(r.now_ns, elapsed, stamp);  // clock did not advance: no refill
  a.neg(elapsed).add(elapsed, r.now_ns);  // elapsed = now - last
  // max_elapsed = rate == 0 ? 0 : cap / rate + 1; elapsed = min(elapsed, max_elapsed)
  a.mov(tokens, 0).jeq(r.rate, 0, clamped);
  a.mov(tokens, cap).div(tokens, r.rate).add(tokens, 1);
  a.label(clamped).jle(elapsed, tokens, capped).mov(elapsed, tokens);
  a.label(capped).mul(elapsed, r.rate);  // refill in nano-tokens
  a.ldx(DW, tokens, r.bucket, tokens_off).add(tokens, elapsed);
  a.jle(tokens, cap, store).mov(tokens, cap);
  a.label(store).stx(DW, r.bucket, tokens_off, tokens).ja(stamp);
  a.label(fresh).stx(DW, r.bucket, tokens_off, cap);
  a.label(stamp).stx(DW, r.bucket, last_off, r.now_ns);
  a.ldx(DW, tokens, r.bucket, tokens_off);
  a.jlt(tokens, kTokenImm, denied);
  a.sub(tokens, kTokenImm).stx(DW, r.bucket, tokens_off, tokens);
  return ok();
}

}  // namespace ebpf::dsl
