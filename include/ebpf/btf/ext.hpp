// ebpf/btf/ext.hpp — the .BTF.ext section: per-ELF-section func_info, line_info and CO-RE relocations.
//
// Record sizes come from the .BTF.ext header (newer compilers may emit larger records; the known prefix is
// read). Section names and string offsets refer to the companion .BTF string table. insn_off values are kept
// as the compiler wrote them: BYTE offsets from the start of the ELF section (the kernel wants instruction
// indexes in bpf_func_info/bpf_line_info — divide by 8 after linking).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "ebpf/btf.hpp"

namespace ebpf::btf {

// Layout-identical to struct bpf_func_info.
struct FuncInfo {
  std::uint32_t insn_off = 0;
  TypeId type_id = 0;
};
static_assert(sizeof(FuncInfo) == 8);

// Layout-identical to struct bpf_line_info.
struct LineInfo {
  std::uint32_t insn_off = 0;
  std::uint32_t file_name_off = 0;
  std::uint32_t line_off = 0;
  std::uint32_t line_col = 0;  // line << 10 | column
  std::uint32_t line() const noexcept { return line_col >> 10; }
  std::uint32_t column() const noexcept { return line_col & 0x3ff; }
};
static_assert(sizeof(LineInfo) == 16);

// enum bpf_core_relo_kind
enum class RelocKind : std::uint32_t {
  field_byte_offset = 0,
  field_byte_size = 1,
  field_exists = 2,
  field_signed = 3,
  field_lshift_u64 = 4,
  field_rshift_u64 = 5,
  type_id_local = 6,
  type_id_target = 7,
  type_exists = 8,
  type_size = 9,
  enum_value_exists = 10,
  enum_value = 11,
  type_matches = 12,
};
std::string_view reloc_kind_name(RelocKind kind) noexcept;  // "byte_off", "type_id_target", ...

// Layout-identical to struct bpf_core_relo.
struct CoreRelo {
  std::uint32_t insn_off = 0;  // byte offset in the ELF section
  TypeId type_id = 0;          // local BTF type id (root of the access string)
  std::uint32_t access_str_off = 0;
  RelocKind kind = RelocKind::field_byte_offset;
};
static_assert(sizeof(CoreRelo) == 16);

// One ELF section's records. They live in storage shared by the BtfExt and all its copies (one exactly-sized
// array per record kind), so the span stays valid as long as any copy of the BtfExt it came from is alive.
template <class Record>
struct ExtSection {
  std::string_view name;  // ELF section name, e.g. "xdp" or ".text"
  std::span<const Record> records;
};

class BtfExt {
 public:
  // `btf` is the object's .BTF; it provides the strings and is kept alive by the BtfExt.
  static Result<BtfExt> parse(std::span<const std::byte> bytes, const Btf& btf);

  const std::vector<ExtSection<FuncInfo>>& func_info() const noexcept { return func_info_; }
  const std::vector<ExtSection<LineInfo>>& line_info() const noexcept { return line_info_; }
  const std::vector<ExtSection<CoreRelo>>& core_relos() const noexcept { return core_relos_; }

  // Records of one ELF section (empty when absent).
  std::span<const FuncInfo> func_info(std::string_view section) const noexcept;
  std::span<const LineInfo> line_info(std::string_view section) const noexcept;
  std::span<const CoreRelo> core_relos(std::string_view section) const noexcept;

  // Record sizes from the header (as written by the compiler).
  std::uint32_t func_info_rec_size() const noexcept { return func_info_rec_size_; }
  std::uint32_t line_info_rec_size() const noexcept { return line_info_rec_size_; }
  std::uint32_t core_relo_rec_size() const noexcept { return core_relo_rec_size_; }

  const Btf& btf() const noexcept { return btf_; }

 private:
  struct Records {  // every record of the blob, grouped by section in blob order
    std::vector<FuncInfo> func_info;
    std::vector<LineInfo> line_info;
    std::vector<CoreRelo> core_relos;
  };
  Btf btf_;
  std::shared_ptr<const Records> records_;
  std::vector<ExtSection<FuncInfo>> func_info_;
  std::vector<ExtSection<LineInfo>> line_info_;
  std::vector<ExtSection<CoreRelo>> core_relos_;
  std::uint32_t func_info_rec_size_ = 0, line_info_rec_size_ = 0, core_relo_rec_size_ = 0;
  friend struct ExtParser;
};

}  // namespace ebpf::btf
