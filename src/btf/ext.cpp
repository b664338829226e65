// .BTF.ext parsing (see ebpf/btf/ext.hpp): a header with (offset, length) of the func_info, line_info and
// CO-RE relocation blocks; each block = u32 record size, then per ELF section {name_off, count, records}.
#include <bit>
#include <cstring>
#include <string>

#include "btf_data.hpp"
#include "ebpf/btf/ext.hpp"

namespace ebpf::btf {

std::string_view reloc_kind_name(RelocKind kind) noexcept {
  static constexpr std::string_view names[] = {
      "byte_off",      "byte_sz",        "field_exists", "signed",      "lshift_u64", "rshift_u64", "local_type_id",
      "target_type_id", "type_exists",   "type_size",    "enumval_exists", "enumval_value", "type_matches"};
  auto i = static_cast<std::size_t>(kind);
  return i < std::size(names) ? names[i] : "unknown";
}

namespace {

Error bad(std::string msg) { return Error(Errc::bad_format, "BTF.ext parse", std::move(msg), EINVAL); }

struct Reader {
  std::span<const std::byte> bytes;
  bool swapped = false;
  std::uint32_t u32(std::size_t off) const {
    std::uint32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    return swapped ? std::byteswap(v) : v;
  }
};

}  // namespace

struct ExtParser {
  Reader r;
  const Btf& btf;
  std::uint32_t hdr_len;

  // Parses one block into `out`; each record's first `Record` bytes are read as u32 words.
  template <class Record>
  Result<void> block(const char* what, std::uint32_t off, std::uint32_t len, std::uint32_t& rec_size_out,
                     std::vector<ExtSection<Record>>& out) {
    if (len == 0) return ok();
    std::uint64_t begin = std::uint64_t{hdr_len} + off, end = begin + len;
    if (end > r.bytes.size())
      return bad(std::string(what) + " block [" + std::to_string(begin) + ", " + std::to_string(end) +
                 ") runs past the end of .BTF.ext (" + std::to_string(r.bytes.size()) + " bytes)");
    if (len < 4) return bad(std::string(what) + " block at offset " + std::to_string(begin) + " is too short");
    std::uint32_t rec_size = r.u32(begin);
    if (rec_size < sizeof(Record) || rec_size % 4 || rec_size > 1024)
      return bad(std::string(what) + " record size " + std::to_string(rec_size) + " at offset " +
                 std::to_string(begin) + " is invalid (minimum " + std::to_string(sizeof(Record)) + ")");
    rec_size_out = rec_size;
    for (std::uint64_t pos = begin + 4; pos < end;) {
      if (end - pos < 8)
        return bad(std::string(what) + ": section header truncated at offset " + std::to_string(pos));
      std::uint32_t name_off = r.u32(pos), count = r.u32(pos + 4);
      auto name = btf.string_at(name_off);
      if (!name || name->empty())
        return bad(std::string(what) + ": section name offset " + std::to_string(name_off) + " at offset " +
                   std::to_string(pos) + " is not a string of .BTF");
      pos += 8;
      if (count == 0) return bad(std::string(what) + ": section '" + std::string(*name) + "' has no records");
      if (std::uint64_t{count} * rec_size > end - pos)
        return bad(std::string(what) + ": section '" + std::string(*name) + "' claims " + std::to_string(count) +
                   " records of " + std::to_string(rec_size) + " bytes at offset " + std::to_string(pos) +
                   ", past the end of the block");
      ExtSection<Record> sec{*name, {}};
      sec.records.resize(count);
      for (std::uint32_t i = 0; i < count; ++i, pos += rec_size) {
        std::uint32_t words[sizeof(Record) / 4];
        for (std::size_t w = 0; w < std::size(words); ++w) words[w] = r.u32(pos + 4 * w);
        std::memcpy(&sec.records[i], words, sizeof(Record));
      }
      out.push_back(std::move(sec));
    }
    return ok();
  }
};

Result<BtfExt> BtfExt::parse(std::span<const std::byte> bytes, const Btf& btf) {
  if (bytes.size() < 8) return bad("blob of " + std::to_string(bytes.size()) + " bytes is smaller than the header");
  Reader r{bytes};
  std::uint16_t magic;
  std::memcpy(&magic, bytes.data(), 2);
  if (magic == std::byteswap(kMagic)) {
    r.swapped = true;
  } else if (magic != kMagic) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%04x", magic);
    return bad(std::string("bad magic ") + buf + " at offset 0 (want 0xeb9f)");
  }
  if (bytes[2] != std::byte{1}) return bad("unsupported .BTF.ext version " + std::to_string(int(bytes[2])));
  std::uint32_t hdr_len = r.u32(4);
  if (hdr_len < 24 || hdr_len > bytes.size() || hdr_len % 4)
    return bad("header length " + std::to_string(hdr_len) + " at offset 4 is invalid (file has " +
               std::to_string(bytes.size()) + " bytes)");
  BtfExt ext;
  ext.btf_ = btf;
  ExtParser p{r, ext.btf_, hdr_len};
  EBPF_TRY(p.block("func_info", r.u32(8), r.u32(12), ext.func_info_rec_size_, ext.func_info_));
  EBPF_TRY(p.block("line_info", r.u32(16), r.u32(20), ext.line_info_rec_size_, ext.line_info_));
  if (hdr_len >= 32) {
    EBPF_TRY(p.block("core_relo", r.u32(24), r.u32(28), ext.core_relo_rec_size_, ext.core_relos_));
    for (const auto& sec : ext.core_relos_)
      for (const auto& relo : sec.records)
        if (static_cast<std::uint32_t>(relo.kind) > static_cast<std::uint32_t>(RelocKind::type_matches))
          return bad("section '" + std::string(sec.name) + "': CO-RE relocation at insn offset " +
                     std::to_string(relo.insn_off) + " has unknown kind " +
                     std::to_string(static_cast<std::uint32_t>(relo.kind)));
  }
  return ext;
}

namespace {
template <class Record>
std::span<const Record> records_of(const std::vector<ExtSection<Record>>& secs, std::string_view name) {
  for (const auto& s : secs)
    if (s.name == name) return s.records;
  return {};
}
}  // namespace

std::span<const FuncInfo> BtfExt::func_info(std::string_view section) const noexcept {
  return records_of(func_info_, section);
}
std::span<const LineInfo> BtfExt::line_info(std::string_view section) const noexcept {
  return records_of(line_info_, section);
}
std::span<const CoreRelo> BtfExt::core_relos(std::string_view section) const noexcept {
  return records_of(core_relos_, section);
}

}  // namespace ebpf::btf
