// Sanitising BTF for older kernels: every newer kind is rewritten into its documented older equivalent with
// the same type ids, and the result still parses.
#include <gtest/gtest.h>

#include "ebpf/btf.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;

struct Modern {
  Builder b;
  TypeId i32, var, sec, proto, fn, flt, dtag, ttag, ptr, en, en64;
  Modern() {
    i32 = b.add_int("int", 4, kIntSigned);
    var = b.add_var("counter", i32, kVarGlobal);
    sec = b.add_datasec(".data", 4, {{var, 0, 4}});
    proto = b.add_func_proto(i32, {{"x", i32}});
    fn = b.add_func("main", proto, kFuncGlobal);
    flt = b.add_float("double", 8);
    dtag = b.add_decl_tag("tag", fn, -1);
    ttag = b.add_type_tag("user", i32);
    ptr = b.add_ptr(ttag);
    en = b.add_enum("sign", 4, {{"NEG", -1}}, true);
    en64 = b.add_enum64("big", 8, {{"HUGE", std::int64_t{1} << 40}, {"ONE", 1}});
  }
};

TEST(BtfSanitize, AllFeaturesKeepsEveryKind) {
  Modern m;
  ASSERT_OK_AND_ASSIGN(Btf btf, m.b.build());
  ASSERT_OK_AND_ASSIGN(auto blob, sanitize(btf, KernelFeatures::all()));
  ASSERT_OK_AND_ASSIGN(Btf same, Btf::parse(blob));
  ASSERT_EQ(same.type_count(), btf.type_count());
  for (TypeId id = 1; id < btf.type_count(); ++id) EXPECT_EQ(same.at(id).kind(), btf.at(id).kind()) << id;
}

TEST(BtfSanitize, NoFeaturesRewritesToOldKinds) {
  Modern m;
  ASSERT_OK_AND_ASSIGN(Btf btf, m.b.build());
  ASSERT_OK_AND_ASSIGN(auto blob, sanitize(btf, KernelFeatures::none()));
  ASSERT_OK_AND_ASSIGN(Btf old, Btf::parse(blob));
  ASSERT_EQ(old.type_count(), btf.type_count() + 1);  // one u64 INT appended for the enum64 union
  // VAR -> 1-byte INT, DATASEC -> STRUCT with the variable as a member at bit offset 0, name ".data" -> "_data".
  EXPECT_EQ(old.at(m.var).kind(), Kind::int_);
  EXPECT_EQ(old.at(m.var).size(), 1u);
  Type sec = old.at(m.sec);
  EXPECT_EQ(sec.kind(), Kind::struct_);
  EXPECT_EQ(sec.name(), "_data");
  ASSERT_EQ(sec.vlen(), 1u);
  EXPECT_EQ(sec.member(0).name, "counter");
  EXPECT_EQ(sec.member(0).type, m.var);
  // FUNC_PROTO -> ENUM (params become enumerators), FUNC -> TYPEDEF.
  EXPECT_EQ(old.at(m.proto).kind(), Kind::enum_);
  EXPECT_EQ(old.at(m.proto).vlen(), 1u);
  EXPECT_EQ(old.at(m.fn).kind(), Kind::typedef_);
  EXPECT_EQ(old.at(m.fn).name(), "main");
  // FLOAT -> anonymous STRUCT of the same size, DECL_TAG -> INT, TYPE_TAG -> CONST.
  EXPECT_EQ(old.at(m.flt).kind(), Kind::struct_);
  EXPECT_EQ(old.at(m.flt).size(), 8u);
  EXPECT_TRUE(old.at(m.flt).name().empty());
  EXPECT_EQ(old.at(m.dtag).kind(), Kind::int_);
  EXPECT_EQ(old.at(m.ttag).kind(), Kind::const_);
  EXPECT_EQ(old.at(m.ttag).ref(), m.i32);
  EXPECT_EQ(old.at(m.ptr).ref(), m.ttag);
  // Signed enum loses its kind_flag; ENUM64 -> UNION of u64 members named after the enumerators.
  EXPECT_FALSE(old.at(m.en).kind_flag());
  Type u = old.at(m.en64);
  EXPECT_EQ(u.kind(), Kind::union_);
  EXPECT_EQ(u.size(), 8u);
  ASSERT_EQ(u.vlen(), 2u);
  EXPECT_EQ(u.member(0).name, "HUGE");
  Type u64 = old.at(u.member(0).type);
  EXPECT_EQ(u64.kind(), Kind::int_);
  EXPECT_EQ(u64.size(), 8u);
  EXPECT_EQ(u.member(1).bit_offset, 0u);
}

TEST(BtfSanitize, SingleFeatureOnlyTouchesItsKinds) {
  Modern m;
  ASSERT_OK_AND_ASSIGN(Btf btf, m.b.build());
  KernelFeatures f;
  f.type_tag = false;
  ASSERT_OK_AND_ASSIGN(auto blob, sanitize(btf, f));
  ASSERT_OK_AND_ASSIGN(Btf out, Btf::parse(blob));
  for (TypeId id = 1; id < btf.type_count(); ++id)
    EXPECT_EQ(out.at(id).kind(), id == m.ttag ? Kind::const_ : btf.at(id).kind()) << id;
  KernelFeatures g;
  g.func_global = false;
  ASSERT_OK_AND_ASSIGN(auto blob2, sanitize(btf, g));
  ASSERT_OK_AND_ASSIGN(Btf out2, Btf::parse(blob2));
  EXPECT_EQ(out2.at(m.fn).func_linkage(), kFuncStatic);
}

}  // namespace
