// BTF parser, builder and resolution: every kind round-trips through Builder -> bytes -> Btf::parse, and
// malformed blobs fail with Errc::bad_format naming the offending offset / type id.
#include <gtest/gtest.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "ebpf/btf.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;
using ebpf::Errc;

struct Sample {
  Builder b;
  TypeId i32, u8, ptr, arr, st, un, en, en64, fwd, td, vol, cst, rst, proto, fn, var, sec, flt, dtag, ttag;
  Sample() {
    i32 = b.add_int("int", 4, kIntSigned);
    u8 = b.add_int("unsigned char", 1, kIntChar);
    ptr = b.add_ptr(i32);
    arr = b.add_array(u8, i32, 16);
    st = b.add_struct("pair", 24, {{"a", i32, 0, 0}, {"flags", u8, 35, 3}, {"name", arr, 64, 0}});
    un = b.add_union("either", 4, {{"x", i32, 0, 0}, {"y", u8, 0, 0}});
    en = b.add_enum("color", 4, {{"RED", -1}, {"GREEN", 7}}, true);
    en64 = b.add_enum64("big", 8, {{"HUGE", std::int64_t{1} << 40}}, false);
    fwd = b.add_fwd("opaque", true);
    td = b.add_typedef("pair_t", st);
    vol = b.add_volatile(td);
    cst = b.add_const(vol);
    rst = b.add_restrict(ptr);
    proto = b.add_func_proto(i32, {{"p", ptr}, {"", 0}});
    fn = b.add_func("main", proto, kFuncGlobal);
    var = b.add_var("counter", i32, kVarGlobal);
    sec = b.add_datasec(".data", 4, {{var, 0, 4}});
    flt = b.add_float("double", 8);
    dtag = b.add_decl_tag("kernel", fn, -1);
    ttag = b.add_type_tag("user", i32);
  }
};

TEST(BtfParse, EveryKindRoundTrips) {
  Sample s;
  auto bytes = s.b.finish();
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(bytes));
  EXPECT_EQ(btf.type_count(), s.ttag + 1);
  EXPECT_EQ(btf.at(0).kind(), Kind::void_);
  Type i32 = btf.at(s.i32);
  EXPECT_EQ(i32.kind(), Kind::int_);
  EXPECT_EQ(i32.name(), "int");
  EXPECT_EQ(i32.size(), 4u);
  EXPECT_EQ(i32.int_bits(), 32u);
  EXPECT_EQ(i32.int_encoding(), kIntSigned);
  EXPECT_EQ(btf.at(s.ptr).ref(), s.i32);
  EXPECT_EQ(btf.at(s.arr).array().nelems, 16u);
  EXPECT_EQ(btf.at(s.arr).array().elem_type, s.u8);
  Type st = btf.at(s.st);
  ASSERT_EQ(st.vlen(), 3u);
  EXPECT_TRUE(st.kind_flag());
  EXPECT_EQ(st.member(1).name, "flags");
  EXPECT_EQ(st.member(1).bit_offset, 35u);
  EXPECT_EQ(st.member(1).bitfield_size, 3u);
  EXPECT_EQ(st.member(2).bit_offset, 64u);
  EXPECT_EQ(btf.at(s.un).kind(), Kind::union_);
  Type en = btf.at(s.en);
  EXPECT_TRUE(en.enum_signed());
  EXPECT_EQ(en.enum_value(0).value, -1);
  EXPECT_EQ(en.enum_value(1).name, "GREEN");
  EXPECT_EQ(btf.at(s.en64).enum_value(0).value, std::int64_t{1} << 40);
  EXPECT_TRUE(btf.at(s.fwd).fwd_is_union());
  EXPECT_EQ(btf.at(s.td).ref(), s.st);
  EXPECT_EQ(btf.at(s.cst).kind(), Kind::const_);
  EXPECT_EQ(btf.at(s.rst).kind(), Kind::restrict_);
  Type proto = btf.at(s.proto);
  EXPECT_EQ(proto.vlen(), 2u);
  EXPECT_EQ(proto.param(0).name, "p");
  EXPECT_EQ(proto.param(1).type, 0u);
  EXPECT_EQ(btf.at(s.fn).func_linkage(), kFuncGlobal);
  EXPECT_EQ(btf.at(s.var).var_linkage(), kVarGlobal);
  EXPECT_EQ(btf.at(s.sec).secinfo(0).type, s.var);
  EXPECT_EQ(btf.at(s.flt).size(), 8u);
  EXPECT_EQ(btf.at(s.dtag).decl_tag_component(), -1);
  EXPECT_EQ(btf.at(s.ttag).name(), "user");
  // Iteration covers every own type in id order.
  TypeId expect = 1;
  for (Type t : btf) EXPECT_EQ(t.id(), expect++);
  EXPECT_EQ(expect, btf.type_count());
}

TEST(BtfParse, FindAndResolve) {
  Sample s;
  auto bytes = s.b.finish();
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(bytes));
  ASSERT_OK_AND_ASSIGN(Type pair, btf.find("pair", Kind::struct_));
  EXPECT_EQ(pair.id(), s.st);
  auto missing = btf.find("pair", Kind::union_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_EQ(btf.find_all("int"), std::vector<TypeId>{s.i32});
  EXPECT_TRUE(btf.find_all("nope").empty());
  ASSERT_OK_AND_ASSIGN(Type base, btf.skip_modifiers(s.cst));  // const -> volatile -> typedef -> struct
  EXPECT_EQ(base.id(), s.st);
  ASSERT_OK_AND_ASSIGN(Type td, btf.skip_qualifiers(s.cst));
  EXPECT_EQ(td.id(), s.td);
  EXPECT_EQ(*btf.resolve_size(s.cst), 24u);
  EXPECT_EQ(*btf.resolve_size(s.arr), 16u);
  EXPECT_EQ(*btf.resolve_size(s.ptr), 8u);
  EXPECT_EQ(*btf.resolve_size(s.var), 4u);
  auto no_size = btf.resolve_size(s.proto);
  ASSERT_FALSE(no_size.ok());
  EXPECT_EQ(no_size.error().code(), Errc::bad_format);
  EXPECT_EQ(*btf.resolve_align(s.st), 4u);
  EXPECT_EQ(btf.string(btf.at(s.i32).name_off()), "int");
  EXPECT_FALSE(btf.string_at(1u << 30).ok());
  EXPECT_EQ(btf.type(9999).error().code(), Errc::not_found);
}

TEST(BtfParse, FlavouredNamesShareTheEssentialBucket) {
  Builder b;
  TypeId i = b.add_int("int", 4, kIntSigned);
  TypeId a = b.add_struct("task___v1", 4, {{"x", i, 0, 0}});
  TypeId c = b.add_struct("task", 4, {{"x", i, 0, 0}});
  TypeId d = b.add_typedef("task___x___y", c);
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  // The first lookups scan linearly, later ones use the hash index: both must give the same answers.
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(btf.find_all("task"), std::vector<TypeId>{c}) << round;
    EXPECT_EQ(btf.find_all("task___v1"), std::vector<TypeId>{a}) << round;
    EXPECT_EQ(btf.find_by_essential_name("task"), (std::vector<TypeId>{a, c})) << round;
    EXPECT_EQ(btf.find_by_essential_name("task___x"), std::vector<TypeId>{d}) << round;
    EXPECT_TRUE(btf.find_all("tas").empty()) << round;
  }
}

// datasecs() lists the DATASECs recorded while parsing, in id order, without building the name index.
TEST(BtfParse, DatasecsAreRecordedWhileParsing) {
  Sample s;
  TypeId rodata = s.b.add_datasec(".rodata", 0, {});
  ASSERT_OK_AND_ASSIGN(Btf btf, s.b.build());
  auto ids = btf.datasecs();
  EXPECT_EQ(std::vector<TypeId>(ids.begin(), ids.end()), (std::vector<TypeId>{s.sec, rodata}));
  EXPECT_EQ(btf.at(ids[1]).name(), ".rodata");
  EXPECT_TRUE(Btf().datasecs().empty());
}

TEST(BtfParse, ReferenceCycleIsAnErrorNotAHang) {
  Builder b;
  TypeId t1 = b.add_typedef("a", 2);
  b.add_const(t1);  // 2 -> 1 -> 2 ...
  ASSERT_OK_AND_ASSIGN(Btf btf, b.build());
  auto r = btf.skip_modifiers(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::bad_format);
  EXPECT_NE(r.error().message().find("cycle"), std::string::npos);
  EXPECT_FALSE(btf.resolve_size(2).ok());
  // A struct containing itself by value.
  Builder c;
  c.add_struct("loop", 4, {{"self", 1, 0, 0}});
  ASSERT_OK_AND_ASSIGN(Btf self, c.build());
  EXPECT_FALSE(self.resolve_align(1).ok());
}

ebpf::Error parse_error(const std::vector<std::byte>& bytes) {
  auto r = Btf::parse(bytes);
  EXPECT_FALSE(r.ok());
  return r ? ebpf::Error(Errc::io, "", "") : r.error();
}

TEST(BtfParse, MalformedInputNamesTheProblem) {
  Sample s;
  auto good = s.b.finish();
  {
    auto e = parse_error(std::vector<std::byte>(good.begin(), good.begin() + 10));
    EXPECT_EQ(e.code(), Errc::bad_format);
    EXPECT_NE(e.message().find("smaller than the 24-byte"), std::string::npos) << e.message();
  }
  {
    auto bytes = good;
    bytes[0] = std::byte{0x12};
    auto e = parse_error(bytes);
    EXPECT_NE(e.message().find("bad magic"), std::string::npos) << e.message();
  }
  {  // truncate the blob: sections run past the end
    auto e = parse_error(std::vector<std::byte>(good.begin(), good.end() - 3));
    EXPECT_NE(e.message().find("runs past the end"), std::string::npos) << e.message();
  }
  {  // unknown kind 25 in type 1
    auto bytes = good;
    std::uint32_t info = Builder::info(static_cast<Kind>(25), 0);
    std::memcpy(bytes.data() + 24 + 4, &info, 4);
    auto e = parse_error(bytes);
    EXPECT_NE(e.message().find("type [1] at type-section offset 0 has unknown kind 25"), std::string::npos)
        << e.message();
  }
  {  // huge vlen: record runs past the type section
    Builder b;
    b.add_raw(0, Builder::info(Kind::struct_, 0xffff), 4);
    auto e = parse_error(b.finish());
    EXPECT_NE(e.message().find("type [1] (STRUCT, vlen 65535)"), std::string::npos) << e.message();
  }
  {  // reference beyond the last id
    Builder b;
    b.add_ptr(42);
    auto e = parse_error(b.finish());
    EXPECT_NE(e.message().find("references type 42 beyond the last id"), std::string::npos) << e.message();
  }
  {  // name offset outside the string section
    Builder b;
    b.add_raw(5000, Builder::info(Kind::fwd, 0), 0);
    auto e = parse_error(b.finish());
    EXPECT_NE(e.message().find("name offset 5000 out of range"), std::string::npos) << e.message();
  }
  {  // string section not NUL-terminated
    auto bytes = good;
    bytes.back() = std::byte{'x'};
    auto e = parse_error(bytes);
    EXPECT_NE(e.message().find("not NUL-terminated"), std::string::npos) << e.message();
  }
}

TEST(BtfParse, BigEndianBlobIsSwappedToNative) {
  Sample s;
  auto bytes = s.b.finish();
  // Byte-swap header fields and every word of the type section (all BTF type data is u32 words).
  auto swapped = bytes;
  auto swap_word = [&](std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, swapped.data() + off, 4);
    v = std::byteswap(v);
    std::memcpy(swapped.data() + off, &v, 4);
  };
  std::swap(swapped[0], swapped[1]);
  std::uint32_t type_len;
  std::memcpy(&type_len, bytes.data() + 12, 4);
  for (std::size_t off = 4; off < 24; off += 4) swap_word(off);
  for (std::size_t off = 24; off < 24 + type_len; off += 4) swap_word(off);
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(swapped));
  ASSERT_OK_AND_ASSIGN(Type pair, btf.find("pair", Kind::struct_));
  EXPECT_EQ(pair.member(1).bitfield_size, 3u);
  EXPECT_EQ(btf.at(s.en64).enum_value(0).value, std::int64_t{1} << 40);
  // raw() is the native-order blob: identical to what the builder produced.
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), btf.raw().begin(), btf.raw().end()));
}

TEST(BtfParse, SplitBtfContinuesIdsAndStrings) {
  Builder base_b;
  TypeId i32 = base_b.add_int("int", 4, kIntSigned);
  ASSERT_OK_AND_ASSIGN(Btf base, base_b.build());
  // Split blob: its ids start at 2 and its string offsets after the base's 5 bytes ("\0int\0").
  const std::uint32_t base_strs = static_cast<std::uint32_t>(base.strings().size());
  ASSERT_EQ(base_strs, 5u);
  std::vector<std::uint32_t> types = {base_strs + 0, Builder::info(Kind::ptr, 0), i32,
                                      base_strs + 0, Builder::info(Kind::struct_, 1), 8,
                                      base_strs + 4, 2, 0,  // member "p" of type 2 (the ptr)
                                      1, Builder::info(Kind::typedef_, 0), i32};  // typedef named "int"
  types[0] = 0;
  std::string strs = std::string("mod\0p\0", 6);
  std::vector<std::byte> blob(24 + types.size() * 4 + strs.size());
  std::uint16_t magic = kMagic;
  std::memcpy(blob.data(), &magic, 2);
  blob[2] = std::byte{1};
  std::uint32_t hdr[5] = {24, 0, static_cast<std::uint32_t>(types.size() * 4),
                          static_cast<std::uint32_t>(types.size() * 4), static_cast<std::uint32_t>(strs.size())};
  std::memcpy(blob.data() + 4, hdr, sizeof hdr);
  std::memcpy(blob.data() + 24, types.data(), types.size() * 4);
  std::memcpy(blob.data() + 24 + types.size() * 4, strs.data(), strs.size());
  ASSERT_OK_AND_ASSIGN(Btf split, Btf::parse(blob, base));
  EXPECT_EQ(split.start_id(), 2u);
  EXPECT_EQ(split.type_count(), 5u);
  ASSERT_NE(split.base(), nullptr);
  EXPECT_EQ(split.at(1).name(), "int");  // base type through the split handle
  ASSERT_OK_AND_ASSIGN(Type mod, split.find("mod", Kind::struct_));
  EXPECT_EQ(mod.id(), 3u);
  EXPECT_EQ(mod.member(0).name, "p");
  EXPECT_EQ(split.find_all("int"), (std::vector<TypeId>{1, 4}));
  EXPECT_EQ(*split.resolve_size(4), 4u);
  // Without the base, the same blob is refused (ids and strings point outside it).
  EXPECT_FALSE(Btf::parse(blob).ok());
}

TEST(BtfParse, Vmlinux) {
  auto r = Btf::load_vmlinux();
  if (!r.ok() && r.error().sys_errno() == ENOENT) GTEST_SKIP() << "no /sys/kernel/btf/vmlinux";
  ASSERT_OK(r);
  Btf& btf = *r;
  EXPECT_GT(btf.type_count(), 10000u);
  ASSERT_OK_AND_ASSIGN(Type task, btf.find("task_struct", Kind::struct_));
  bool has_pid = false;
  for (std::uint32_t i = 0; i < task.vlen(); ++i) has_pid |= task.member(i).name == "pid";
  EXPECT_TRUE(has_pid);
  // bpftool's raw dump lists the highest id on its last line: compare the type count with it.
  FILE* p = ::popen("bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -c '^\\['", "r");
  if (p) {
    unsigned long n = 0;
    if (std::fscanf(p, "%lu", &n) == 1 && n > 0) {
      EXPECT_EQ(n + 1, btf.type_count());
    }
    ::pclose(p);
  }
  auto missing = Btf::load_file("/nonexistent/btf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
}

}  // namespace
