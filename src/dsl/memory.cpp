// Unrolled memory fill and copy blocks (see ebpf/dsl/memory.hpp).
#include "ebpf/dsl/memory.hpp"

#include <string>

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

Result<void> check_range(const char* op, Reg base, std::int32_t off, std::int32_t len) {
  if (len < 0) return Error::invalid(op, "negative length " + std::to_string(len));
  if (off + len - 1 > 32767 || off < -32768)
    return Error::invalid(op, "offsets " + std::to_string(off) + ".." + std::to_string(off + len) +
                                  " do not fit 16-bit instruction offsets");
  if (base == r10 && len > 0 && (off < -512 || off + len > 0))
    return Error::invalid(op, "bytes fp" + std::to_string(off) + "..fp" + std::to_string(off + len) +
                                  " are outside the 512-byte stack frame");
  return ok();
}

// The widest access for `left` bytes at offsets that are all multiples of it.
Size widest(std::int32_t left, std::int32_t off_a, std::int32_t off_b) {
  const auto fits = [&](std::int32_t w) { return left >= w && off_a % w == 0 && off_b % w == 0; };
  return fits(8) ? DW : fits(4) ? W : fits(2) ? H : B;
}

// Calls emit(size, offset_from_start) for each access covering [0, len).
template <class F>
void for_each_access(std::int32_t off_a, std::int32_t off_b, std::int32_t len, F&& emit) {
  for (std::int32_t done = 0; done < len;) {
    const Size s = widest(len - done, off_a + done, off_b + done);
    emit(s, done);
    done += bytes(s);
  }
}
}  // namespace

Result<void> stack_zero(Assembler& a, Reg base, std::int16_t off, std::int32_t len) {
  EBPF_TRY(check_range("stack_zero", base, off, len));
  for_each_access(off, off, len, [&](Size s, std::int32_t at) { a.st(s, base, static_cast<std::int16_t>(off + at), 0); });
  return ok();
}

Result<void> stack_set(Assembler& a, Reg base, std::int16_t off, std::int32_t len, std::uint8_t byte,
                       Reg scratch) {
  EBPF_TRY(check_range("stack_set", base, off, len));
  if (scratch == base || scratch == r10) return Error::invalid("stack_set", "scratch must differ from the base");
  // One 64-bit pattern serves every width: narrower stores take its low bytes.
  a.ld_imm64(scratch, 0x0101010101010101ULL * byte);
  for_each_access(off, off, len,
                  [&](Size s, std::int32_t at) { a.stx(s, base, static_cast<std::int16_t>(off + at), scratch); });
  return ok();
}

Result<void> stack_copy(Assembler& a, Reg dst, std::int16_t dst_off, Reg src, std::int16_t src_off,
                        std::int32_t len, Reg scratch) {
  EBPF_TRY(check_range("stack_copy", dst, dst_off, len));
  EBPF_TRY(check_range("stack_copy", src, src_off, len));
  if (scratch == dst || scratch == src || scratch == r10)
    return Error::invalid("stack_copy", "scratch must differ from both pointers");
  if (dst == src && dst_off < src_off + len && src_off < dst_off + len)
    return Error::invalid("stack_copy", "source and destination overlap");
  for_each_access(dst_off, src_off, len, [&](Size s, std::int32_t at) {
    a.ldx(s, scratch, src, static_cast<std::int16_t>(src_off + at));
    a.stx(s, dst, static_cast<std::int16_t>(dst_off + at), scratch);
  });
  return ok();
}

}  // namespace ebpf::dsl
