// Bounds-checked ELF64 parsing: header, section headers, names, symbols, relocations, notes.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "ebpf/elf.hpp"

namespace ebpf::elf {
namespace {

constexpr std::string_view kOp = "ELF";
constexpr std::size_t kEhdrSize = 64, kShdrSize = 64, kSymSize = 24, kRelSize = 16, kRelaSize = 24;
constexpr std::uint16_t kShnXindex = 0xffff;
constexpr std::uint16_t kShnLoreserve = 0xff00;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Error bad(std::string message) { return Error(Errc::bad_format, std::string(kOp), std::move(message)); }

// Little-endian loads from an already bounds-checked position (byte-order independent of the host): one
// unaligned load, swapped on a big-endian host.
template <class T>
T load(std::span<const std::byte> b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) v = std::byteswap(v);
  return v;
}

// True when [offset, offset+size) lies inside a buffer of `total` bytes (overflow-safe).
bool in_bounds(std::uint64_t offset, std::uint64_t size, std::uint64_t total) {
  return offset <= total && size <= total - offset;
}

std::string section_label(const Section& s) {
  return "section " + std::to_string(s.index) + (s.name.empty() ? "" : " '" + std::string(s.name) + "'");
}

// The NUL-terminated string at `offset` of a string table's bytes; nullopt when out of range or unterminated
// (File::string_at then reports which).
std::optional<std::string_view> string_in(std::span<const std::byte> table, std::uint64_t offset) noexcept {
  if (offset >= table.size()) return std::nullopt;
  const char* p = reinterpret_cast<const char*>(table.data()) + offset;
  const void* nul = std::memchr(p, 0, table.size() - offset);
  if (nul == nullptr) return std::nullopt;
  return std::string_view(p, static_cast<std::size_t>(static_cast<const char*>(nul) - p));
}

struct Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

}  // namespace

Result<File> File::view(std::span<const std::byte> bytes) {
  File f;
  f.bytes_ = bytes;
  EBPF_TRY(f.parse());
  return f;
}

Result<File> File::from_bytes(std::vector<std::byte> bytes) {
  auto owned = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
  File f;
  f.bytes_ = std::span<const std::byte>(owned->data(), owned->size());
  f.owner_ = owned;
  EBPF_TRY(f.parse());
  return f;
}

Result<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "open", "cannot open ELF file '" + path + "'");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno(e, "fstat", "'" + path + "'");
  }
  auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Error(Errc::bad_format, std::string(kOp), "'" + path + "' is empty");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (addr == MAP_FAILED) return Error::from_errno(e, "mmap", "'" + path + "'");
  auto mapping = std::make_shared<Mapping>();
  mapping->addr = addr;
  mapping->size = size;
  File f;
  f.bytes_ = std::span<const std::byte>(static_cast<const std::byte*>(addr), size);
  f.owner_ = mapping;
  auto r = f.parse();
  if (!r) return Error(r.error()).context("'" + path + "'");
  return f;
}

Result<void> File::parse() {
  auto b = bytes_;
  if (b.size() < 16 || std::memcmp(b.data(), "\x7f" "ELF", 4) != 0) return bad("not an ELF file (bad magic)");
  auto cls = std::to_integer<std::uint8_t>(b[4]);
  auto data = std::to_integer<std::uint8_t>(b[5]);
  if (data == 2)
    return bad("big-endian ELF object (EI_DATA=2): only little-endian objects can be loaded on this host; "
               "rebuild it for bpfel");
  if (data != 1) return bad("unknown byte order EI_DATA=" + std::to_string(data));
  if (cls != 2) return bad("not a 64-bit ELF file (EI_CLASS=" + std::to_string(cls) + ")");
  if (b.size() < kEhdrSize) return bad("truncated ELF header (" + std::to_string(b.size()) + " bytes)");
  header_.type = load<std::uint16_t>(b, 16);
  header_.machine = load<std::uint16_t>(b, 18);
  header_.version = load<std::uint32_t>(b, 20);
  header_.entry = load<std::uint64_t>(b, 24);
  header_.flags = load<std::uint32_t>(b, 48);
  header_.os_abi = std::to_integer<std::uint8_t>(b[7]);
  EBPF_TRY(parse_sections());
  EBPF_TRY(parse_symbols());
  return ok();
}

Result<void> File::parse_sections() {
  auto b = bytes_;
  std::uint64_t shoff = load<std::uint64_t>(b, 40);
  std::uint16_t shentsize = load<std::uint16_t>(b, 58);
  std::uint64_t shnum = load<std::uint16_t>(b, 60);
  std::uint32_t shstrndx = load<std::uint16_t>(b, 62);
  if (shoff == 0) {
    if (shnum != 0) return bad("e_shnum=" + std::to_string(shnum) + " but no section header table");
    return ok();
  }
  if (shentsize < kShdrSize) return bad("e_shentsize " + std::to_string(shentsize) + " is smaller than 64");
  if (!in_bounds(shoff, kShdrSize, b.size()))
    return bad("section header table at " + hex(shoff) + " is outside the file");
  // Extended numbering: counts that do not fit in 16 bits live in section 0.
  if (shnum == 0) shnum = load<std::uint64_t>(b, shoff + 32);
  if (shstrndx == kShnXindex) shstrndx = load<std::uint32_t>(b, shoff + 40);
  if (shnum > b.size() / shentsize || !in_bounds(shoff, shnum * shentsize, b.size()))
    return bad("section header table at " + hex(shoff) + " with " + std::to_string(shnum) +
               " entries runs past the end of the file (" + std::to_string(b.size()) + " bytes)");
  sections_.resize(shnum);
  for (std::uint64_t i = 0; i < shnum; ++i) {
    std::size_t at = shoff + i * shentsize;
    Section& s = sections_[i];
    s.index = static_cast<std::uint32_t>(i);
    s.type = load<std::uint32_t>(b, at + 4);
    s.flags = load<std::uint64_t>(b, at + 8);
    s.addr = load<std::uint64_t>(b, at + 16);
    s.offset = load<std::uint64_t>(b, at + 24);
    s.size = load<std::uint64_t>(b, at + 32);
    s.link = load<std::uint32_t>(b, at + 40);
    s.info = load<std::uint32_t>(b, at + 44);
    s.addralign = load<std::uint64_t>(b, at + 48);
    s.entsize = load<std::uint64_t>(b, at + 56);
    if (i != 0 && s.type != kShtNobits && s.type != kShtNull && !in_bounds(s.offset, s.size, b.size()))
      return bad("section " + std::to_string(i) + ": data at " + hex(s.offset) + " size " + hex(s.size) +
                 " runs past the end of the file (" + std::to_string(b.size()) + " bytes)");
  }
  if (shstrndx == 0) return ok();  // no names
  if (shstrndx >= shnum) return bad("e_shstrndx " + std::to_string(shstrndx) + " is not a section");
  const Section names = sections_[shstrndx];
  if (names.type != kShtStrtab)
    return bad("section name table (section " + std::to_string(shstrndx) + ") is not SHT_STRTAB");
  const auto table = data(names);
  for (auto& s : sections_) {
    const std::uint32_t off = load<std::uint32_t>(b, shoff + s.index * shentsize);
    if (auto name = string_in(table, off)) {
      s.name = *name;
      continue;
    }
    auto name = string_at(names, off);  // the checked path, for its message
    if (!name) return Error(name.error()).context("name of section " + std::to_string(s.index));
    s.name = *name;
  }
  return ok();
}

Result<void> File::parse_symbols() {
  const Section* symtab = nullptr;
  for (const auto& s : sections_)
    if (s.type == kShtSymtab) {
      symtab = &s;
      break;
    }
  if (symtab == nullptr) return ok();
  symtab_index_ = symtab->index;
  if (symtab->entsize != 0 && symtab->entsize != kSymSize)
    return bad(section_label(*symtab) + ": symbol entry size " + std::to_string(symtab->entsize) + " is not 24");
  if (symtab->size % kSymSize != 0)
    return bad(section_label(*symtab) + ": size " + std::to_string(symtab->size) + " is not a multiple of 24");
  if (symtab->link >= sections_.size() || sections_[symtab->link].type != kShtStrtab)
    return bad(section_label(*symtab) + ": sh_link " + std::to_string(symtab->link) + " is not a string table");
  const Section& strtab = sections_[symtab->link];
  const auto strings = data(strtab);
  auto d = data(*symtab);
  std::size_t count = d.size() / kSymSize;
  symbols_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t at = i * kSymSize;
    Symbol& sym = symbols_[i];
    sym.index = static_cast<std::uint32_t>(i);
    auto info = std::to_integer<std::uint8_t>(d[at + 4]);
    sym.type = info & 0xf;
    sym.bind = info >> 4;
    sym.visibility = std::to_integer<std::uint8_t>(d[at + 5]) & 0x3;
    sym.section = load<std::uint16_t>(d, at + 6);
    sym.value = load<std::uint64_t>(d, at + 8);
    sym.size = load<std::uint64_t>(d, at + 16);
    if (sym.section != kShnUndef && sym.section < kShnLoreserve && sym.section >= sections_.size())
      return bad("symbol " + std::to_string(i) + " refers to section " + std::to_string(sym.section) +
                 " which does not exist");
    const std::uint32_t name_off = load<std::uint32_t>(d, at);
    if (auto name = string_in(strings, name_off)) {
      sym.name = *name;
    } else {
      auto checked = string_at(strtab, name_off);  // the checked path, for its message
      if (!checked) return Error(checked.error()).context("name of symbol " + std::to_string(i));
      sym.name = *checked;
    }
    if (sym.type == kSttSection && sym.name.empty() && sym.section < sections_.size())
      sym.name = sections_[sym.section].name;
  }
  return ok();
}

const Section* File::section(std::uint32_t index) const noexcept {
  return index < sections_.size() ? &sections_[index] : nullptr;
}

const Section* File::section(std::string_view name) const noexcept {
  for (const auto& s : sections_)
    if (s.name == name && s.index != 0) return &s;
  return nullptr;
}

std::span<const std::byte> File::data(const Section& s) const noexcept {
  if (s.type == kShtNobits || s.type == kShtNull || !in_bounds(s.offset, s.size, bytes_.size())) return {};
  return bytes_.subspan(s.offset, s.size);
}

Result<std::string_view> File::string_at(const Section& strtab, std::uint64_t offset) const {
  auto d = data(strtab);
  if (offset >= d.size())
    return bad(section_label(strtab) + ": string offset " + std::to_string(offset) + " is past its end (" +
               std::to_string(d.size()) + " bytes)");
  auto rest = d.subspan(offset);
  const void* nul = std::memchr(rest.data(), 0, rest.size());
  if (nul == nullptr) return bad(section_label(strtab) + ": string at " + std::to_string(offset) + " is not NUL-terminated");
  auto len = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - rest.data());
  return std::string_view(reinterpret_cast<const char*>(rest.data()), len);
}

Result<std::vector<Relocation>> File::relocations(const Section& s) const {
  if (s.type != kShtRel && s.type != kShtRela) return bad(section_label(s) + " is not a relocation section");
  std::size_t entry = s.type == kShtRel ? kRelSize : kRelaSize;
  if (s.entsize != 0 && s.entsize != entry)
    return bad(section_label(s) + ": relocation entry size " + std::to_string(s.entsize) + ", expected " +
               std::to_string(entry));
  auto d = data(s);
  if (d.size() % entry != 0)
    return bad(section_label(s) + ": size " + std::to_string(d.size()) + " is not a multiple of " +
               std::to_string(entry));
  std::vector<Relocation> out(d.size() / entry);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::size_t at = i * entry;
    auto info = load<std::uint64_t>(d, at + 8);
    out[i].offset = load<std::uint64_t>(d, at);
    out[i].symbol = static_cast<std::uint32_t>(info >> 32);
    out[i].type = static_cast<std::uint32_t>(info & 0xffffffff);
    out[i].addend = entry == kRelaSize ? static_cast<std::int64_t>(load<std::uint64_t>(d, at + 16)) : 0;
    if (out[i].symbol >= symbols_.size())
      return bad(section_label(s) + ": relocation " + std::to_string(i) + " refers to symbol " +
                 std::to_string(out[i].symbol) + " but the symbol table has " + std::to_string(symbols_.size()));
  }
  return out;
}

Result<std::vector<Note>> File::notes(const Section& s) const {
  if (s.type != kShtNote) return bad(section_label(s) + " is not a note section");
  auto d = data(s);
  std::uint64_t align = s.addralign == 8 ? 8 : 4;
  auto round = [&](std::uint64_t v) { return (v + align - 1) & ~(align - 1); };
  std::vector<Note> out;
  std::uint64_t at = 0;
  while (at < d.size()) {
    if (d.size() - at < 12) return bad(section_label(s) + ": truncated note header at offset " + std::to_string(at));
    std::uint64_t namesz = load<std::uint32_t>(d, at), descsz = load<std::uint32_t>(d, at + 4);
    Note n;
    n.type = load<std::uint32_t>(d, at + 8);
    n.offset = at;
    std::uint64_t name_at = at + 12, desc_at = round(name_at + namesz);
    if (!in_bounds(name_at, namesz, d.size()) || !in_bounds(desc_at, descsz, d.size()))
      return bad(section_label(s) + ": note at offset " + std::to_string(at) + " runs past the section end");
    std::string_view name(reinterpret_cast<const char*>(d.data() + name_at), namesz);
    if (!name.empty() && name.back() == '\0') name.remove_suffix(1);
    n.name = name;
    n.desc = d.subspan(desc_at, descsz);
    out.push_back(n);
    at = round(desc_at + descsz);
  }
  return out;
}

}  // namespace ebpf::elf
