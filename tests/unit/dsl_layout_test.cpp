// DSL record layouts: offsets and access sizes come from the C++ struct, and loads/stores emit the
// instructions the disassembler prints for exactly those offsets and widths.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "ebpf/assembler.hpp"
#include "ebpf/disasm.hpp"
#include "ebpf/dsl/layout.hpp"

namespace {

using namespace ebpf;
using namespace ebpf::isa;

struct Flow {
  std::uint32_t saddr;
  std::uint16_t sport;
  std::uint8_t proto;
  std::uint64_t bytes;  // padded to offset 8
  std::int32_t delta;
};

TEST(DslLayout, FieldsMatchTheStruct) {
  constexpr auto saddr = EBPF_FIELD(Flow, saddr);
  constexpr auto sport = EBPF_FIELD(Flow, sport);
  constexpr auto proto = EBPF_FIELD(Flow, proto);
  constexpr auto bytes = EBPF_FIELD(Flow, bytes);
  constexpr auto delta = EBPF_FIELD(Flow, delta);
  static_assert(bytes.bytes() == 8);  // usable at compile time
  EXPECT_EQ(saddr.offset, static_cast<std::int16_t>(offsetof(Flow, saddr)));
  EXPECT_EQ(sport.offset, static_cast<std::int16_t>(offsetof(Flow, sport)));
  EXPECT_EQ(proto.offset, static_cast<std::int16_t>(offsetof(Flow, proto)));
  EXPECT_EQ(bytes.offset, static_cast<std::int16_t>(offsetof(Flow, bytes)));
  EXPECT_EQ(delta.offset, static_cast<std::int16_t>(offsetof(Flow, delta)));
  EXPECT_EQ(saddr.size, W);
  EXPECT_EQ(sport.size, H);
  EXPECT_EQ(proto.size, B);
  EXPECT_EQ(bytes.size, DW);
  EXPECT_EQ(delta.size, W);
  EXPECT_EQ(bytes.offset, 8);  // the alignment padding is the compiler's, not a guess
}

TEST(DslLayout, LoadsAndStoresUseTheFieldWidth) {
  Assembler a;
  dsl::load_field(a, r1, r0, EBPF_FIELD(Flow, bytes));
  dsl::load_field(a, r2, r0, EBPF_FIELD(Flow, sport));
  dsl::load_field(a, r3, r10, EBPF_FIELD(Flow, proto), -24);
  dsl::store_field(a, r0, EBPF_FIELD(Flow, saddr), r4);
  dsl::store_field_imm(a, r10, EBPF_FIELD(Flow, delta), -1, -24);
  dsl::add_field(a, r0, EBPF_FIELD(Flow, bytes), r5);
  a.exit();
  auto code = a.finish();
  ASSERT_TRUE(code.has_value()) << code.error().to_string();
  EXPECT_EQ(disassemble(code->insns, {.labels = false}),
            "\tr1 = *(u64 *)(r0 + 8)\n"
            "\tr2 = *(u16 *)(r0 + 4)\n"
            "\tr3 = *(u8 *)(r10 - 18)\n"
            "\t*(u32 *)(r0 + 0) = r4\n"
            "\t*(u32 *)(r10 - 8) = -1\n"
            "\tlock *(u64 *)(r0 + 8) += r5\n"
            "\texit\n");
}

}  // namespace
