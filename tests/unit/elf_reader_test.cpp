// The ELF reader: clang-built objects, big-endian refusal, notes, relocations, embedded-object discovery, and
// truncated/corrupted input that must always give a clear error (never a crash or hang).
#include <cstring>
#include <filesystem>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"
#include "elf_test_support.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kSimple = R"(
struct { __uint(type, 1); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("xdp") int count_packets(struct xdp_md *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) *v += 1;
  return 2;
}
char LICENSE[] SEC("license") = "GPL";
)";

template <class T>
void put(std::vector<std::byte>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
template <class T>
T get(const std::vector<std::byte>& b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

TEST(ElfReader, ParsesClangObject) {
  EBPF_COMPILE_BPF(obj, kSimple);
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::view(obj));
  EXPECT_EQ(f.header().machine, elf::kMachineBpf);
  EXPECT_EQ(f.header().type, elf::kTypeRelocatable);
  const auto* xdp = f.section("xdp");
  ASSERT_NE(xdp, nullptr);
  EXPECT_TRUE(xdp->executable());
  EXPECT_EQ(xdp->size % 8, 0u);
  EXPECT_NE(f.section(".maps"), nullptr);
  EXPECT_NE(f.section(".BTF"), nullptr);
  auto lic = f.section("license");
  ASSERT_NE(lic, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.data(*lic).data())), "GPL");

  bool found_prog = false, found_map = false;
  for (const auto& s : f.symbols()) {
    if (s.name == "count_packets") {
      found_prog = true;
      EXPECT_EQ(s.type, elf::kSttFunc);
      EXPECT_EQ(s.section, xdp->index);
      EXPECT_EQ(s.size, xdp->size);
    }
    if (s.name == "counts") found_map = true;
  }
  EXPECT_TRUE(found_prog);
  EXPECT_TRUE(found_map);

  // The map load in count_packets carries a relocation against the `counts` symbol, on an ld_imm64.
  const elf::Section* rel = f.section(".relxdp");
  ASSERT_NE(rel, nullptr);
  ASSERT_OK_AND_ASSIGN(auto relocs, f.relocations(*rel));
  ASSERT_EQ(relocs.size(), 1u);
  EXPECT_EQ(f.symbols()[relocs[0].symbol].name, "counts");
  EXPECT_EQ(relocs[0].type, 1u);  // R_BPF_64_64
  EXPECT_EQ(std::to_integer<int>(f.data(*xdp)[relocs[0].offset]), 0x18);
}

TEST(ElfReader, OpenFromPathMatchesBytes) {
  EBPF_COMPILE_BPF(obj, kSimple);
  auto path = std::filesystem::temp_directory_path() / ("ebpf-elf-" + std::to_string(::getpid()) + ".o");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(obj.data()), static_cast<std::streamsize>(obj.size()));
  }
  auto f = elf::File::open(path.string());
  std::filesystem::remove(path);
  ASSERT_OK(f);
  ASSERT_OK_AND_ASSIGN(auto g, elf::File::from_bytes(obj));
  ASSERT_EQ(f->sections().size(), g.sections().size());
  for (std::size_t i = 0; i < g.sections().size(); ++i) EXPECT_EQ(f->sections()[i].name, g.sections()[i].name);
  EXPECT_EQ(f->symbols().size(), g.symbols().size());

  auto missing = elf::File::open("/nonexistent/x.o");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
}

TEST(ElfReader, RefusesBigEndianWithClearError) {
  EBPF_COMPILE_BPF(obj, kSimple, "bpfeb");
  auto f = elf::File::view(obj);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::bad_format);
  EXPECT_NE(f.error().message().find("big-endian"), std::string::npos) << f.error().to_string();
  auto spec = ObjectSpec::parse(obj);
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("big-endian"), std::string::npos);
}

TEST(ElfReader, RejectsNonElfInput) {
  std::vector<std::byte> junk(100, std::byte{0x41});
  auto f = elf::File::view(junk);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Errc::bad_format);
  EXPECT_NE(f.error().message().find("magic"), std::string::npos);
  EXPECT_FALSE(elf::File::view({}));
}

TEST(ElfReader, RejectsNonBpfMachineForObjects) {
  EBPF_COMPILE_BPF(obj, kSimple);
  put<std::uint16_t>(obj, 18, elf::kMachineX86_64);
  ASSERT_OK(elf::File::view(obj));  // still a valid ELF file ...
  auto spec = ObjectSpec::parse(obj);  // ... but not a BPF object
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), Errc::bad_format);
  EXPECT_NE(spec.error().message().find("EM_BPF"), std::string::npos);
}

TEST(ElfReader, ReadsNotes) {
  // Every Debian executable carries a GNU build-id note: name "GNU", type NT_GNU_BUILD_ID (3), 20-byte SHA-1.
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::open("/bin/ls"));
  const auto* note = f.section(".note.gnu.build-id");
  ASSERT_NE(note, nullptr);
  ASSERT_OK_AND_ASSIGN(auto notes, f.notes(*note));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].name, "GNU");
  EXPECT_EQ(notes[0].type, 3u);
  EXPECT_EQ(notes[0].desc.size(), 20u);
  // Asking for notes of a non-note section is an error, not garbage.
  auto bad = f.notes(*f.section(".text"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::bad_format);
}

TEST(ElfReader, NoteRunningPastSectionIsAnError) {
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::open("/bin/ls"));
  const auto* note = f.section(".note.gnu.build-id");
  ASSERT_NE(note, nullptr);
  std::vector<std::byte> copy(f.bytes().begin(), f.bytes().end());
  put<std::uint32_t>(copy, note->offset + 4, 0x10000);  // descsz far beyond the section
  ASSERT_OK_AND_ASSIGN(auto g, elf::File::from_bytes(copy));
  auto notes = g.notes(*g.section(".note.gnu.build-id"));
  ASSERT_FALSE(notes);
  EXPECT_EQ(notes.error().code(), Errc::bad_format);
  EXPECT_NE(notes.error().message().find("past the section end"), std::string::npos);
}

TEST(ElfReader, FindsEmbeddedObjects) {
  EBPF_COMPILE_BPF(a, kSimple);
  EBPF_COMPILE_BPF(b, std::string(kSimple) + "SEC(\"tc\") int other(struct __sk_buff *s) { return 0; }\n");
  std::vector<std::byte> blob(333, std::byte{0x7f});  // junk, with decoy magic below
  std::memcpy(blob.data() + 10, "\x7f" "ELF\x02\x01", 6);
  std::size_t off_a = blob.size();
  blob.insert(blob.end(), a.begin(), a.end());
  blob.insert(blob.end(), 77, std::byte{0});
  std::size_t off_b = blob.size();
  blob.insert(blob.end(), b.begin(), b.end());
  blob.insert(blob.end(), 5, std::byte{1});
  auto found = elf::find_embedded_bpf_objects(blob);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].offset, off_a);
  EXPECT_EQ(found[0].size, a.size());
  EXPECT_EQ(found[1].offset, off_b);
  EXPECT_EQ(found[1].size, b.size());
  EXPECT_TRUE(std::equal(found[1].bytes.begin(), found[1].bytes.end(), b.begin(), b.end()));
  // A truncated trailing object is not reported.
  std::vector<std::byte> cut(blob.begin(), blob.begin() + static_cast<long>(off_b + b.size() / 2));
  EXPECT_EQ(elf::find_embedded_bpf_objects(cut).size(), 1u);
}

// Truncating a clang object at every section boundary (and inside the headers) always gives bad_format.
TEST(ElfReader, TruncationAtEveryBoundaryIsAClearError) {
  EBPF_COMPILE_BPF(obj, kSimple);
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::from_bytes(obj));
  std::vector<std::size_t> cuts = {0, 1, 4, 5, 16, 63, 64};
  for (const auto& s : f.sections()) {
    cuts.push_back(s.offset);
    cuts.push_back(s.offset + s.size / 2);
  }
  for (std::size_t c = obj.size() - 200; c < obj.size(); c += 7) cuts.push_back(c);
  cuts.push_back(obj.size() - 1);
  for (std::size_t cut : cuts) {
    if (cut >= obj.size()) continue;
    std::span<const std::byte> part(obj.data(), cut);
    auto r = elf::File::view(part);
    ASSERT_FALSE(r) << "cut at " << cut;
    EXPECT_EQ(r.error().code(), Errc::bad_format) << r.error().to_string();
    EXPECT_FALSE(r.error().message().empty());
    auto spec = ObjectSpec::parse(part);
    ASSERT_FALSE(spec) << "cut at " << cut;
    EXPECT_EQ(spec.error().code(), Errc::bad_format);
  }
}

// Corrupting header and section-header fields gives either a successful parse or bad_format: never a crash.
TEST(ElfReader, CorruptedFieldsNeverCrash) {
  EBPF_COMPILE_BPF(obj, kSimple);
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::from_bytes(obj));
  auto shoff = get<std::uint64_t>(obj, 40);
  std::size_t shnum = f.sections().size();
  const std::uint64_t values[] = {0, 1, 7, 0x40, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0xffffffffffffffffull};
  struct Field {
    std::size_t at, width;
  };
  std::vector<Field> fields = {{40, 8}, {58, 2}, {60, 2}, {62, 2}, {4, 1}, {5, 1}, {16, 2}};
  for (std::size_t i = 0; i < shnum; ++i) {
    std::size_t base = shoff + i * 64;
    for (std::size_t off : {0, 4, 24, 32, 40, 44, 56}) fields.push_back({base + off, off == 24 || off == 32 || off == 56 ? 8u : 4u});
  }
  // Symbol table entries: name, shndx, value, size.
  const auto* symtab = f.section(f.symtab_index());
  ASSERT_NE(symtab, nullptr);
  for (std::size_t i = 0; i < symtab->size / 24; ++i)
    for (auto [off, w] : {std::pair{0, 4}, {6, 2}, {8, 8}, {16, 8}}) fields.push_back({symtab->offset + i * 24 + off, std::size_t(w)});
  int errors = 0, parsed = 0;
  for (const auto& field : fields) {
    for (std::uint64_t v : values) {
      auto copy = obj;
      std::memcpy(copy.data() + field.at, &v, field.width);
      auto spec = ObjectSpec::parse(copy);
      if (spec) {
        ++parsed;
      } else {
        ++errors;
        EXPECT_TRUE(spec.error().code() == Errc::bad_format || spec.error().code() == Errc::not_found)
            << "field at " << field.at << " = " << v << ": " << spec.error().to_string();
        EXPECT_FALSE(spec.error().message().empty());
      }
    }
  }
  EXPECT_GT(errors, 100);
  EXPECT_GT(parsed, 0);
}

TEST(ElfReader, SpecificCorruptionsNameTheProblem) {
  EBPF_COMPILE_BPF(obj, kSimple);
  ASSERT_OK_AND_ASSIGN(auto f, elf::File::from_bytes(obj));
  auto shoff = get<std::uint64_t>(obj, 40);
  const auto* xdp = f.section("xdp");
  ASSERT_NE(xdp, nullptr);
  {
    auto copy = obj;
    put<std::uint64_t>(copy, shoff + xdp->index * 64 + 32, 1u << 30);  // sh_size
    auto r = elf::File::view(copy);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("section " + std::to_string(xdp->index)), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("past the end"), std::string::npos);
  }
  {
    auto copy = obj;
    put<std::uint32_t>(copy, shoff + xdp->index * 64, 0x7ffffff0u);  // sh_name
    auto r = elf::File::view(copy);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("name of section " + std::to_string(xdp->index)), std::string::npos)
        << r.error().message();
  }
  {
    auto copy = obj;
    put<std::uint64_t>(copy, 40, copy.size() - 10);  // e_shoff
    auto r = elf::File::view(copy);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("section header table"), std::string::npos);
  }
  {
    auto copy = obj;
    put<std::uint64_t>(copy, shoff + xdp->index * 64 + 32, xdp->size - 4);  // code size not a multiple of 8
    auto r = ObjectSpec::parse(copy);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("not a multiple of 8"), std::string::npos) << r.error().message();
  }
}

// Checked-in corrupted objects (tests/data/elf, generated from a clang-built object by truncating it and
// overwriting header fields): each one is a clear bad_format error naming what is wrong.
TEST(ElfReader, CheckedInCorruptObjects) {
  struct Expect {
    const char* file;
    const char* says;
  };
  const Expect cases[] = {
      {"truncated_shdrs.o", "runs past the end of the file"},
      {"shoff_past_end.o", "section header table"},
      {"big_endian_flag.o", "big-endian"},
      {"bad_section_name.o", "name of section 2"},
      {"section_past_end.o", "section 2: data"},
      {"symtab_bad_link.o", "is not a string table"},
      {"empty.o", "empty"},
  };
  for (const auto& c : cases) {
    auto path = std::string(EBPF_TEST_DATA_DIR) + "/elf/" + c.file;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    auto spec = ObjectSpec::open(path);
    ASSERT_FALSE(spec) << c.file;
    EXPECT_EQ(spec.error().code(), Errc::bad_format) << c.file << ": " << spec.error().to_string();
    EXPECT_NE(spec.error().message().find(c.says), std::string::npos) << c.file << ": " << spec.error().to_string();
  }
}

}  // namespace
}  // namespace ebpf
