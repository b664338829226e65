// The BPF side of USDT argument decoding (see ebpf/dsl/usdt.hpp).
#include "ebpf/dsl/usdt.hpp"

#include <cstddef>
#include <string>

#include "../dsl/local_label.hpp"
#include "ebpf/helpers.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

constexpr auto kCountOff = static_cast<std::int16_t>(offsetof(UsdtSpec, arg_count));
constexpr auto kCookieOff = static_cast<std::int16_t>(offsetof(UsdtSpec, cookie));

bool callee_saved(Reg r) { return r.id >= 6 && r.id <= 9; }

Result<void> check_regs(const UsdtRegs& regs, std::string_view op) {
  if (!callee_saved(regs.ctx) || !callee_saved(regs.spec) || regs.ctx == regs.spec)
    return Error::invalid(std::string(op), "ctx and spec must be two different registers of r6..r9 (helper calls "
                                           "clobber r0..r5)");
  if (regs.stack > -16 || regs.stack % 8 != 0)
    return Error::invalid(std::string(op), "the scratch stack must be 16 bytes at an 8-byte aligned fp offset");
  return {};
}

// *(u64 *)(fp + slot) = *(u64 *)(ctx + spec->args[n].<reg_field>), through bpf_probe_read_kernel: the register
// offset is only known at run time and a context load needs a constant offset. goto fail on error.
void read_register(Assembler& a, const UsdtRegs& regs, std::int16_t reg_field, std::int16_t slot,
                   Assembler::Label fail) {
  a.mov(r3, regs.ctx).ldx(H, r2, regs.spec, reg_field).add(r3, r2);
  a.mov(r1, r10).add(r1, slot).mov(r2, 8).call(helper::probe_read_kernel).jne(r0, 0, fail);
}
}  // namespace

Result<void> usdt_load_spec(Assembler& a, const MapRef& spec_map, const UsdtRegs& regs, Assembler::Label fail) {
  EBPF_TRY(check_regs(regs, "usdt_load_spec"));
  a.mov(r1, regs.ctx).call(helper::get_attach_cookie).stx(W, r10, regs.stack, r0);
  map_lookup(a, spec_map, Address{r10, regs.stack}, fail);
  a.mov(regs.spec, r0);
  return {};
}

Result<void> usdt_arg(Assembler& a, int n, Reg dst, const UsdtRegs& regs, Assembler::Label fail) {
  EBPF_TRY(check_regs(regs, "usdt_arg"));
  if (n < 0 || n >= static_cast<int>(kUsdtMaxArgs))
    return Error::invalid("usdt_arg", "argument " + std::to_string(n) + " is out of 0..11");
  if (dst == regs.ctx || dst == regs.spec || dst.id > 9)
    return Error::invalid("usdt_arg", "dst must be r0..r9 and differ from the ctx and spec registers");
  const auto base = static_cast<std::int16_t>(offsetof(UsdtSpec, args) + sizeof(UsdtArgSpec) * n);
  const auto field = [&](std::size_t off) { return static_cast<std::int16_t>(base + off); };
  const auto kind = field(offsetof(UsdtArgSpec, kind)), value = field(offsetof(UsdtArgSpec, value)),
             shift = field(offsetof(UsdtArgSpec, shift));
  const std::string not_const = detail::local_label(a, "usdt_not_const"), address = detail::local_label(a, "usdt_address"),
                    extend = detail::local_label(a, "usdt_extend"), unsigned_ = detail::local_label(a, "usdt_unsigned"),
                    done = detail::local_label(a, "usdt_done");
  const std::int16_t slot = regs.stack, index_slot = static_cast<std::int16_t>(regs.stack + 8);
  constexpr auto kConstant = static_cast<std::int32_t>(UsdtArg::Kind::constant);
  constexpr auto kReg = static_cast<std::int32_t>(UsdtArg::Kind::reg);
  constexpr auto kIndexed = static_cast<std::int32_t>(UsdtArg::Kind::indexed);

  a.ldx(H, r1, regs.spec, kCountOff).jle(r1, n, fail);
  a.ldx(B, r1, regs.spec, kind).jne(r1, kConstant, not_const);
  a.ldx(DW, r0, regs.spec, value).ja(done);

  a.label(not_const);
  read_register(a, regs, field(offsetof(UsdtArgSpec, reg_off)), slot, fail);
  a.ldx(B, r1, regs.spec, kind).jeq(r1, kReg, extend);
  // Memory: the address is base (+ index << scale_shift) + value.
  a.jne(r1, kIndexed, address);
  read_register(a, regs, field(offsetof(UsdtArgSpec, index_off)), index_slot, fail);
  a.ldx(DW, r0, r10, index_slot).ldx(B, r1, regs.spec, field(offsetof(UsdtArgSpec, scale_shift))).lsh(r0, r1);
  a.ldx(DW, r1, r10, slot).add(r1, r0).stx(DW, r10, slot, r1);
  a.label(address);
  a.ldx(DW, r3, r10, slot).ldx(DW, r1, regs.spec, value).add(r3, r1);
  // Read exactly the argument's bytes ((64 - shift) / 8), bounded to 1..8 so the verifier accepts the size.
  a.ldx(B, r1, regs.spec, shift).mov(r2, 64).sub(r2, r1).rsh(r2, 3).and_(r2, 15);
  a.jeq(r2, 0, fail).jgt(r2, 8, fail).st(DW, r10, slot, 0);
  a.mov(r1, r10).add(r1, slot).call(helper::probe_read_user).jne(r0, 0, fail);

  // Keep the low `size` bytes, zero- or sign-extended.
  a.label(extend);
  a.ldx(DW, r0, r10, slot).ldx(B, r1, regs.spec, shift).lsh(r0, r1);
  a.ldx(B, r2, regs.spec, field(offsetof(UsdtArgSpec, is_signed))).jeq(r2, 0, unsigned_);
  a.arsh(r0, r1).ja(done);
  a.label(unsigned_).rsh(r0, r1);
  a.label(done);
  if (dst.id != 0) a.mov(dst, r0);
  return {};
}

Assembler& usdt_arg_count(Assembler& a, Reg dst, const UsdtRegs& regs) { return a.ldx(H, dst, regs.spec, kCountOff); }
Assembler& usdt_cookie(Assembler& a, Reg dst, const UsdtRegs& regs) { return a.ldx(DW, dst, regs.spec, kCookieOff); }

}  // namespace ebpf::dsl
