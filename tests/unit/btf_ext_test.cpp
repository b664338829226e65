// .BTF.ext parsing: func_info/line_info/CO-RE records of a clang-compiled object match its source, and
// malformed blobs fail with Errc::bad_format naming the offending offset or section.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "ebpf/btf.hpp"
#include "ebpf/btf/ext.hpp"
#include "ebpf/elf.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::btf;
using ebpf::Errc;

const char* kSource = R"(#define SEC(n) __attribute__((section(n), used))
struct s { int a; int b; } __attribute__((preserve_access_index));
SEC("xdp") int first(struct s *p) {
  return p->b;
}
SEC("tc") int second(void *ctx) {
  return 7;
}
)";

TEST(BtfExt, ClangObjectRecordsMatchTheSource) {
  if (ebpf::test::bpf_clang().empty()) GTEST_SKIP() << "clang not installed";
  ebpf::test::TempDir dir("btf_ext");
  ASSERT_OK_AND_ASSIGN(auto obj, ebpf::test::compile_bpf_c(dir, "prog", kSource));
  auto file = ebpf::elf::File::open(obj.string());
  ASSERT_OK(file);
  ASSERT_OK_AND_ASSIGN(Btf btf, Btf::parse(file->data(*file->section(".BTF"))));
  ASSERT_OK_AND_ASSIGN(BtfExt ext, BtfExt::parse(file->data(*file->section(".BTF.ext")), btf));
  EXPECT_EQ(ext.func_info_rec_size(), 8u);
  EXPECT_EQ(ext.line_info_rec_size(), 16u);
  EXPECT_EQ(ext.core_relo_rec_size(), 16u);
  ASSERT_EQ(ext.func_info().size(), 2u);
  auto xdp = ext.func_info("xdp");
  ASSERT_EQ(xdp.size(), 1u);
  EXPECT_EQ(xdp[0].insn_off, 0u);
  EXPECT_EQ(btf.at(xdp[0].type_id).name(), "first");
  EXPECT_EQ(btf.at(xdp[0].type_id).kind(), Kind::func);
  ASSERT_EQ(ext.func_info("tc").size(), 1u);
  EXPECT_EQ(btf.at(ext.func_info("tc")[0].type_id).name(), "second");
  EXPECT_TRUE(ext.func_info("nope").empty());
  // Line info: each record's line text is exactly that line of prog.c, inside the right function.
  std::vector<std::string> source_lines;
  for (std::string_view rest = kSource; !rest.empty();) {
    auto nl = rest.find('\n');
    source_lines.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  auto check_lines = [&](std::string_view section, std::uint32_t first, std::uint32_t last) {
    auto lines = ext.line_info(section);
    ASSERT_FALSE(lines.empty()) << section;
    for (const auto& l : lines) {
      EXPECT_GE(l.line(), first) << section;
      EXPECT_LE(l.line(), last) << section;
      EXPECT_TRUE(btf.string(l.file_name_off).ends_with("prog.c"));
      ASSERT_LE(l.line(), source_lines.size());
      EXPECT_EQ(btf.string(l.line_off), source_lines[l.line() - 1]) << section << " line " << l.line();
    }
  };
  check_lines("xdp", 3, 4);
  check_lines("tc", 6, 7);
  // The one CO-RE relocation: byte offset of s.b, access "0:1".
  auto relos = ext.core_relos("xdp");
  ASSERT_EQ(relos.size(), 1u);
  EXPECT_EQ(relos[0].kind, RelocKind::field_byte_offset);
  EXPECT_EQ(btf.string(relos[0].access_str_off), "0:1");
  EXPECT_EQ(btf.at(relos[0].type_id).name(), "s");
  EXPECT_EQ(reloc_kind_name(relos[0].kind), "byte_off");
}

// A hand-built .BTF.ext: header (32 bytes) + one func_info block with one section of one record.
struct ExtBlob {
  std::vector<std::uint32_t> words;
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out(words.size() * 4);
    std::memcpy(out.data(), words.data(), out.size());
    return out;
  }
};

ExtBlob make_ext(std::uint32_t name_off) {
  // magic|version|flags, hdr_len, func (off,len), line (off,len), core (off,len)
  return {{0x0001eB9Fu, 32, 0, 20, 20, 0, 20, 0,
           /* func_info: */ 8, name_off, 1, /* insn_off */ 0, /* type_id */ 1}};
}

Btf sample_btf() {
  Builder b;
  TypeId i = b.add_int("int", 4, kIntSigned);
  b.add_func("f", b.add_func_proto(i, {}));
  b.add_string("xdp");
  return *b.build();
}

ebpf::Error ext_error(const ExtBlob& blob, const Btf& btf) {
  auto r = BtfExt::parse(blob.bytes(), btf);
  EXPECT_FALSE(r.ok());
  return r ? ebpf::Error(Errc::io, "", "") : r.error();
}

TEST(BtfExt, HandBuiltBlobAndMalformedVariants) {
  Btf btf = sample_btf();
  std::uint32_t xdp = 0;
  for (std::uint32_t off = 0; off < btf.strings().size(); off += static_cast<std::uint32_t>(btf.string(off).size()) + 1)
    if (btf.string(off) == "xdp") xdp = off;
  ASSERT_NE(xdp, 0u);
  auto good = make_ext(xdp);
  ASSERT_OK_AND_ASSIGN(BtfExt ext, BtfExt::parse(good.bytes(), btf));
  ASSERT_EQ(ext.func_info("xdp").size(), 1u);
  EXPECT_EQ(ext.func_info("xdp")[0].type_id, 1u);

  auto e = ext_error(make_ext(9999), btf);
  EXPECT_EQ(e.code(), Errc::bad_format);
  EXPECT_NE(e.message().find("section name offset 9999"), std::string::npos) << e.message();

  auto count = make_ext(xdp);
  count.words[10] = 0x10000000;  // far more records than bytes
  e = ext_error(count, btf);
  EXPECT_NE(e.message().find("claims 268435456 records"), std::string::npos) << e.message();

  auto rec = make_ext(xdp);
  rec.words[8] = 4;  // smaller than bpf_func_info
  e = ext_error(rec, btf);
  EXPECT_NE(e.message().find("record size 4"), std::string::npos) << e.message();

  auto past = make_ext(xdp);
  past.words[3] = 4000;  // func_info_len
  e = ext_error(past, btf);
  EXPECT_NE(e.message().find("runs past the end"), std::string::npos) << e.message();

  auto magic = make_ext(xdp);
  magic.words[0] = 0x00011234;
  e = ext_error(magic, btf);
  EXPECT_NE(e.message().find("bad magic 0x1234"), std::string::npos) << e.message();

  auto hdr = make_ext(xdp);
  hdr.words[1] = 12;
  e = ext_error(hdr, btf);
  EXPECT_NE(e.message().find("header length 12"), std::string::npos) << e.message();

  // Unknown CO-RE relocation kind.
  ExtBlob core{{0x0001eB9Fu, 32, 0, 0, 0, 0, 0, 28, 16, xdp, 1, 0, 1, 0, 99}};
  e = ext_error(core, btf);
  EXPECT_NE(e.message().find("unknown kind 99"), std::string::npos) << e.message();

  EXPECT_FALSE(BtfExt::parse(std::span<const std::byte>(), btf).ok());
}

}  // namespace
