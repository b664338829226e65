// ebpf/elf.hpp — a small, bounds-checked ELF64 reader (no libelf).
//
// Reads what BPF object loading and USDT discovery need: the header, section headers and names, the symbol
// table, SHT_REL/SHT_RELA relocations and notes. Every offset, size and string index is checked against the
// file before use, so malformed input yields Errc::bad_format naming the section/offset, never UB.
// Only little-endian ELF64 is accepted; a big-endian object (EI_DATA=2) is refused with an error saying so.
//
// `File` is cheap to copy: copies share the underlying bytes (an mmap of the file, an owned buffer, or a
// caller-owned span for File::view). string_views and spans returned by it point into those bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"

namespace ebpf::elf {

inline constexpr std::uint16_t kMachineBpf = 247;     // EM_BPF
inline constexpr std::uint16_t kMachineX86_64 = 62;   // EM_X86_64
inline constexpr std::uint16_t kTypeRelocatable = 1;  // ET_REL

// Section types (sh_type) and flags (sh_flags) the loaders care about.
inline constexpr std::uint32_t kShtNull = 0, kShtProgbits = 1, kShtSymtab = 2, kShtStrtab = 3, kShtRela = 4,
                               kShtNote = 7, kShtNobits = 8, kShtRel = 9;
inline constexpr std::uint64_t kShfWrite = 0x1, kShfAlloc = 0x2, kShfExecinstr = 0x4;

// Symbol types/bindings (st_info) and special section indexes.
inline constexpr std::uint8_t kSttNotype = 0, kSttObject = 1, kSttFunc = 2, kSttSection = 3, kSttFile = 4;
inline constexpr std::uint8_t kStbLocal = 0, kStbGlobal = 1, kStbWeak = 2;
inline constexpr std::uint16_t kShnUndef = 0, kShnAbs = 0xfff1, kShnCommon = 0xfff2;

struct Header {
  std::uint16_t type = 0;     // e_type (ET_REL for BPF objects)
  std::uint16_t machine = 0;  // e_machine (247 for BPF)
  std::uint32_t version = 0;
  std::uint64_t entry = 0;
  std::uint32_t flags = 0;
  std::uint8_t os_abi = 0;
};

struct Section {
  std::uint32_t index = 0;
  std::string_view name;
  std::uint32_t type = 0;
  std::uint64_t flags = 0;
  std::uint64_t addr = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint32_t link = 0;
  std::uint32_t info = 0;
  std::uint64_t addralign = 0;
  std::uint64_t entsize = 0;

  bool executable() const noexcept { return (flags & kShfExecinstr) != 0; }
  bool nobits() const noexcept { return type == kShtNobits; }
};

struct Symbol {
  std::uint32_t index = 0;
  std::string_view name;
  std::uint8_t type = 0;        // STT_*
  std::uint8_t bind = 0;        // STB_*
  std::uint8_t visibility = 0;  // STV_*
  std::uint16_t section = 0;    // st_shndx (kShnUndef for externs)
  std::uint64_t value = 0;      // offset within the section for relocatable objects
  std::uint64_t size = 0;

  bool undefined() const noexcept { return section == kShnUndef; }
};

struct Relocation {
  std::uint64_t offset = 0;  // r_offset: byte offset within the section being relocated
  std::uint32_t symbol = 0;  // index into the symbol table
  std::uint32_t type = 0;    // R_BPF_* for BPF objects
  std::int64_t addend = 0;   // 0 for SHT_REL
};

struct Note {
  std::string_view name;  // "stapsdt", "GNU", ...
  std::uint32_t type = 0;
  std::span<const std::byte> desc;
  std::uint64_t offset = 0;  // offset of the note header within its section
};

class File {
 public:
  // Parses bytes owned by the caller; they must outlive the File and all views taken from it.
  static Result<File> view(std::span<const std::byte> bytes);
  // Parses bytes the File takes ownership of.
  static Result<File> from_bytes(std::vector<std::byte> bytes);
  // Maps the file read-only and parses it.
  static Result<File> open(const std::string& path);

  const Header& header() const noexcept { return header_; }
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  const std::vector<Section>& sections() const noexcept { return sections_; }
  // Section by index / name (first match); nullptr when absent.
  const Section* section(std::uint32_t index) const noexcept;
  const Section* section(std::string_view name) const noexcept;

  // Contents of a section (empty for SHT_NOBITS). Bounds were checked when the File was parsed.
  std::span<const std::byte> data(const Section& section) const noexcept;

  // The static symbol table (SHT_SYMTAB), index 0 included; empty when the file has none.
  const std::vector<Symbol>& symbols() const noexcept { return symbols_; }
  // Index of the symbol table section, 0 when absent.
  std::uint32_t symtab_index() const noexcept { return symtab_index_; }

  // Relocation entries of an SHT_REL or SHT_RELA section; symbol indexes are checked against the symtab.
  Result<std::vector<Relocation>> relocations(const Section& section) const;
  // Notes of an SHT_NOTE section.
  Result<std::vector<Note>> notes(const Section& section) const;
  // NUL-terminated string at `offset` of a string-table section, checked.
  Result<std::string_view> string_at(const Section& strtab, std::uint64_t offset) const;

 private:
  Result<void> parse();
  Result<void> parse_sections();
  Result<void> parse_symbols();

  std::shared_ptr<const void> owner_;  // keeps mapped/owned bytes alive; null for view()
  std::span<const std::byte> bytes_;
  Header header_;
  std::vector<Section> sections_;
  std::vector<Symbol> symbols_;
  std::uint32_t symtab_index_ = 0;
};

// A BPF ELF object found inside another file (e.g. a skeleton-style executable embedding its .bpf.o).
struct EmbeddedObject {
  std::uint64_t offset = 0;           // where the object's ELF header starts in the scanned bytes
  std::uint64_t size = 0;             // bytes up to the end of its section header table / last section
  std::span<const std::byte> bytes;   // the object's bytes (a view into the scanned buffer)
};

// Finds little-endian ELF64 objects with e_machine == EM_BPF inside `bytes`. Each candidate must parse as a
// complete ELF file within the buffer; overlapping or truncated candidates are skipped.
std::vector<EmbeddedObject> find_embedded_bpf_objects(std::span<const std::byte> bytes);

}  // namespace ebpf::elf
