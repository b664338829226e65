// gzip/DEFLATE decoding and kconfig values: data compressed at test time by the real `gzip` (every level,
// incompressible data for stored blocks, concatenated members), /proc/config.gz against `zcat`, every
// truncation and many bit flips of a compressed file (always a clean error, never a crash), and the libbpf
// semantics of each kconfig value kind written into each extern type.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "ebpf/gzip.hpp"
#include "ebpf/kconfig.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

std::vector<std::byte> run_command(const std::string& cmd) {
  std::vector<std::byte> out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 65536> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;)
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::byte>(buf[i]));
  ::pclose(p);
  return out;
}

bool have_gzip() { return std::system("gzip --version >/dev/null 2>&1") == 0; }

// Text-like input with repeats (exercises back-references) and some noise (literals).
std::vector<std::byte> sample_text(std::size_t size) {
  std::mt19937 rng(42);
  std::string s;
  while (s.size() < size) {
    s += "CONFIG_OPTION_" + std::to_string(rng() % 500) + "=" + (rng() % 3 ? "y" : std::to_string(rng())) + "\n";
  }
  s.resize(size);
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::vector<std::byte> random_bytes(std::size_t size) {
  std::mt19937 rng(7);
  std::vector<std::byte> out(size);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

std::vector<std::byte> gzip_with(const test::TempDir& dir, const std::vector<std::byte>& data, const std::string& flags) {
  auto in = dir.path() / "input";
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return run_command("gzip -c " + flags + " " + in.string());
}

TEST(Gzip, DecodesWhatGzipProducesAtEveryLevel) {
  if (!have_gzip()) GTEST_SKIP() << "gzip not installed";
  test::TempDir dir("gz");
  auto text = sample_text(300000);
  for (const char* level : {"-1", "-6", "-9"}) {
    auto gz = gzip_with(dir, text, level);
    ASSERT_GT(gz.size(), 18u);
    EXPECT_LT(gz.size(), text.size() / 2) << level;  // really compressed: Huffman blocks, not stored
    ASSERT_OK_AND_ASSIGN(auto out, gzip::decompress(gz));
    EXPECT_TRUE(out == text) << "level " << level;
  }
  // Incompressible input: gzip emits stored blocks.
  auto noise = random_bytes(200000);
  auto gz = gzip_with(dir, noise, "-9");
  ASSERT_OK_AND_ASSIGN(auto out, gzip::decompress(gz));
  EXPECT_TRUE(out == noise);
  // Empty input and a file name in the header (gzip without -n stores it).
  ASSERT_OK_AND_ASSIGN(auto empty, gzip::decompress(gzip_with(dir, {}, "")));
  EXPECT_TRUE(empty.empty());
  // Two concatenated members decode to the concatenation.
  auto a = gzip_with(dir, sample_text(1000), "-n"), b = gzip_with(dir, noise, "-n");
  a.insert(a.end(), b.begin(), b.end());
  ASSERT_OK_AND_ASSIGN(auto both, gzip::decompress(a));
  auto want = sample_text(1000);
  want.insert(want.end(), noise.begin(), noise.end());
  EXPECT_TRUE(both == want);
}

TEST(Gzip, ProcConfigMatchesZcat) {
  if (!std::filesystem::exists("/proc/config.gz")) GTEST_SKIP() << "no /proc/config.gz";
  auto want = run_command("zcat /proc/config.gz");
  ASSERT_FALSE(want.empty());
  std::ifstream in("/proc/config.gz", std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> gz(chars.size());
  std::memcpy(gz.data(), chars.data(), chars.size());
  ASSERT_OK_AND_ASSIGN(auto out, gzip::decompress(gz));
  EXPECT_TRUE(out == want);
}

TEST(Gzip, TruncationsAndBitFlipsAreCleanErrors) {
  if (!have_gzip()) GTEST_SKIP() << "gzip not installed";
  test::TempDir dir("gz");
  auto text = sample_text(20000);
  auto gz = gzip_with(dir, text, "-9 -n");
  for (std::size_t n = 0; n < gz.size(); ++n) {
    auto r = gzip::decompress(std::span(gz).first(n));
    ASSERT_FALSE(r.ok()) << "truncated to " << n << " bytes";
    EXPECT_EQ(r.error().code(), Errc::bad_format) << r.error().to_string();
  }
  std::mt19937 rng(1);
  int rejected = 0;
  for (int i = 0; i < 1000; ++i) {
    auto bad = gz;
    bad[10 + rng() % (bad.size() - 10)] ^= static_cast<std::byte>(1u << (rng() % 8));
    auto r = gzip::decompress(bad, 1 << 20);
    if (!r.ok()) {
      ++rejected;
      EXPECT_TRUE(r.error().code() == Errc::bad_format || r.error().code() == Errc::no_space) << r.error().to_string();
    } else {
      EXPECT_TRUE(*r == text);  // only a flip in the final byte's unused padding bits may be accepted
    }
  }
  EXPECT_GE(rejected, 990);  // the CRC-32 catches what the decoder does not
  // The output limit is enforced.
  auto capped = gzip::decompress(gz, 1000);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.error().code(), Errc::no_space);
  auto no_magic = gzip::decompress(std::span(gz).subspan(1));
  ASSERT_FALSE(no_magic.ok());
  EXPECT_NE(no_magic.error().message().find("magic"), std::string::npos);
}

TEST(Gzip, RawDeflateEdgeCases) {
  // A stored block "abc": BFINAL=1, BTYPE=00, LEN=3, NLEN=~3.
  std::vector<std::byte> stored = {std::byte{1}, std::byte{3}, std::byte{0}, std::byte{0xfc}, std::byte{0xff},
                                   std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  ASSERT_OK_AND_ASSIGN(auto abc, gzip::inflate(stored));
  ASSERT_EQ(abc.size(), 3u);
  EXPECT_EQ(abc[2], std::byte{'c'});
  stored[3] = std::byte{0};  // NLEN no longer the complement
  EXPECT_FALSE(gzip::inflate(stored).ok());
  // Reserved block type 3.
  auto reserved = gzip::inflate(std::vector<std::byte>{std::byte{7}});
  ASSERT_FALSE(reserved.ok());
  EXPECT_NE(reserved.error().message().find("reserved"), std::string::npos);
  // Fixed Huffman block whose first symbol is a back-reference (length 3, distance 1) into empty output.
  // Bits: BFINAL=1, BTYPE=01, symbol 257 = 7-bit code 0000001, distance code 0 = 00000.
  auto backref = gzip::inflate(std::vector<std::byte>{std::byte{0x03}, std::byte{0x02}, std::byte{0x00}});
  ASSERT_FALSE(backref.ok());
  EXPECT_NE(backref.error().message().find("before the start"), std::string::npos) << backref.error().to_string();
  EXPECT_EQ(gzip::crc32(std::as_bytes(std::span("123456789", 9))), 0xcbf43926u);  // the standard check value
}

// ---- kconfig ----

TEST(Kconfig, ParsesConfigText) {
  ASSERT_OK_AND_ASSIGN(auto c, kconfig::Config::parse("#\n# comment\nCONFIG_A=y\n\nCONFIG_B=\"x y\"\r\n"
                                                       "# CONFIG_C is not set\nCONFIG_D=0x10\n"));
  EXPECT_EQ(c.size(), 3u);
  ASSERT_NE(c.find("CONFIG_A"), nullptr);
  EXPECT_EQ(*c.find("CONFIG_A"), "y");
  EXPECT_EQ(*c.find("CONFIG_B"), "\"x y\"");
  EXPECT_EQ(c.find("CONFIG_C"), nullptr);
  EXPECT_EQ(*c.find("CONFIG_D"), "0x10");
  auto bad = kconfig::Config::parse("CONFIG_A=y\nGARBAGE\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Errc::bad_format);
  EXPECT_NE(bad.error().message().find("line 2"), std::string::npos);
}

TEST(Kconfig, RunningKernelConfigReads) {
  if (!std::filesystem::exists("/proc/config.gz")) GTEST_SKIP() << "no /proc/config.gz";
  ASSERT_OK_AND_ASSIGN(auto c, kconfig::Config::running_kernel());
  EXPECT_GT(c.size(), 500u);
  ASSERT_NE(c.find("CONFIG_BPF_SYSCALL"), nullptr);
  EXPECT_EQ(*c.find("CONFIG_BPF_SYSCALL"), "y");
}

struct Encoded {
  Result<void> result;
  std::vector<std::uint8_t> bytes;
};
Encoded encode(kconfig::ValueKind kind, std::uint32_t size, bool is_signed, std::string_view value) {
  std::vector<std::byte> out(size, std::byte{0xee});
  auto r = kconfig::encode("CONFIG_T", kconfig::ExternType{kind, size, is_signed}, value, out);
  std::vector<std::uint8_t> bytes(size);
  std::memcpy(bytes.data(), out.data(), size);
  return {std::move(r), bytes};
}

using V = std::vector<std::uint8_t>;
using kconfig::ValueKind;

TEST(Kconfig, EncodesValuesWithLibbpfSemantics) {
  EXPECT_EQ(encode(ValueKind::boolean, 1, false, "y").bytes, V{1});
  EXPECT_EQ(encode(ValueKind::boolean, 1, false, "n").bytes, V{0});
  EXPECT_EQ(encode(ValueKind::boolean, 1, false, "1").bytes, V{1});
  EXPECT_EQ(encode(ValueKind::tristate, 4, false, "y").bytes, (V{1, 0, 0, 0}));
  EXPECT_EQ(encode(ValueKind::tristate, 4, false, "m").bytes, (V{2, 0, 0, 0}));
  EXPECT_EQ(encode(ValueKind::tristate, 4, false, "n").bytes, (V{0, 0, 0, 0}));
  EXPECT_EQ(encode(ValueKind::character, 1, true, "m").bytes, V{'m'});
  EXPECT_EQ(encode(ValueKind::character, 1, true, "65").bytes, V{65});
  EXPECT_EQ(encode(ValueKind::integer, 4, false, "1000").bytes, (V{0xe8, 0x03, 0, 0}));
  EXPECT_EQ(encode(ValueKind::integer, 8, false, "0x1000000").bytes, (V{0, 0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(encode(ValueKind::integer, 2, false, "010").bytes, (V{8, 0}));  // octal, as strtoull base 0
  EXPECT_EQ(encode(ValueKind::integer, 2, true, "-1").bytes, (V{0xff, 0xff}));
  EXPECT_EQ(encode(ValueKind::char_array, 4, false, "\"ab\"").bytes, (V{'a', 'b', 0, 0}));
  EXPECT_EQ(encode(ValueKind::char_array, 4, false, "\"abcdef\"").bytes, (V{'a', 'b', 'c', 0}));  // truncated

  auto expect_error = [](Encoded e, Errc code, std::string_view text) {
    ASSERT_FALSE(e.result.ok());
    EXPECT_EQ(e.result.error().code(), code) << e.result.error().to_string();
    EXPECT_NE(e.result.error().message().find(text), std::string::npos) << e.result.error().to_string();
    EXPECT_NE(e.result.error().message().find("CONFIG_T"), std::string::npos);
  };
  expect_error(encode(ValueKind::boolean, 1, false, "m"), Errc::invalid_argument, "tristate or char");
  expect_error(encode(ValueKind::boolean, 1, false, "2"), Errc::invalid_argument, "not a boolean");
  expect_error(encode(ValueKind::integer, 4, false, "y"), Errc::invalid_argument, "bool, tristate or char");
  expect_error(encode(ValueKind::integer, 4, false, "\"s\""), Errc::invalid_argument, "char array");
  expect_error(encode(ValueKind::tristate, 4, false, "1"), Errc::invalid_argument, "integer, char or bool");
  expect_error(encode(ValueKind::integer, 1, false, "256"), Errc::no_space, "doesn't fit in 1 bytes");
  expect_error(encode(ValueKind::integer, 2, true, "32768"), Errc::no_space, "doesn't fit");
  expect_error(encode(ValueKind::integer, 4, false, "12abc"), Errc::bad_format, "not a number");
  expect_error(encode(ValueKind::char_array, 4, false, "\"open"), Errc::bad_format, "unterminated");
}

TEST(Kconfig, ClassifiesExternTypes) {
  btf::Builder b;
  btf::TypeId u32 = b.add_int("unsigned int", 4, 0);
  btf::TypeId s64 = b.add_int("long", 8, btf::kIntSigned);
  btf::TypeId boolean = b.add_int("_Bool", 1, btf::kIntBool);
  btf::TypeId chr = b.add_int("char", 1, btf::kIntSigned | btf::kIntChar);
  btf::TypeId tri = b.add_enum("libbpf_tristate", 4, {{"TRI_NO", 0}, {"TRI_YES", 1}, {"TRI_MODULE", 2}});
  btf::TypeId other_enum = b.add_enum("color", 4, {{"RED", 0}});
  btf::TypeId str = b.add_array(chr, u32, 16);
  btf::TypeId ints = b.add_array(u32, u32, 4);
  btf::TypeId cst = b.add_const(b.add_typedef("u32_t", u32));
  btf::TypeId st = b.add_struct("s", 4, {{"x", u32, 0, 0}});
  ASSERT_OK_AND_ASSIGN(auto btf, btf::Btf::parse(b.finish()));
  auto kind_of = [&](btf::TypeId id) { return kconfig::classify(btf, id, "CONFIG_X"); };
  ASSERT_OK_AND_ASSIGN(auto a, kind_of(u32));
  EXPECT_EQ(a.kind, ValueKind::integer);
  EXPECT_EQ(a.size, 4u);
  EXPECT_FALSE(a.is_signed);
  ASSERT_OK_AND_ASSIGN(auto l, kind_of(s64));
  EXPECT_TRUE(l.is_signed);
  EXPECT_EQ(kind_of(boolean)->kind, ValueKind::boolean);
  EXPECT_EQ(kind_of(chr)->kind, ValueKind::character);
  EXPECT_EQ(kind_of(tri)->kind, ValueKind::tristate);
  ASSERT_OK_AND_ASSIGN(auto s, kind_of(str));
  EXPECT_EQ(s.kind, ValueKind::char_array);
  EXPECT_EQ(s.size, 16u);
  EXPECT_EQ(kind_of(cst)->kind, ValueKind::integer);  // through const and typedef
  for (btf::TypeId bad : {other_enum, ints, st}) {
    auto r = kind_of(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::not_supported);
    EXPECT_NE(r.error().message().find("CONFIG_X"), std::string::npos);
  }
}

}  // namespace
}  // namespace ebpf
