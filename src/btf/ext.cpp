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

  // Checks one block (what was read before copying anything) and returns how many records it holds.
  template <class Record>
  Result<std::size_t> count(const char* what, std::uint32_t off, std::uint32_t len, std::uint32_t& rec_size_out) {
    if (len == 0) return std::size_t{0};
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
    std::size_t total = 0;
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
      total += count;
      pos += std::uint64_t{count} * rec_size;
    }
    return total;
  }

  // Copies the records of a block count() accepted into `store` (reserved for all of them, so the spans taken
  // here stay valid) and lists its sections in `out`. Each record's first `Record` bytes are read as u32 words.
  template <class Record>
  void fill(std::uint32_t off, std::uint32_t len, std::uint32_t rec_size, std::vector<Record>& store,
            std::vector<ExtSection<Record>>& out) {
    if (len == 0) return;
    std::uint64_t pos = std::uint64_t{hdr_len} + off + 4, end = std::uint64_t{hdr_len} + off + len;
    while (pos < end) {
      std::string_view name = btf.string(r.u32(pos));
      std::uint32_t count = r.u32(pos + 4);
      pos += 8;
      std::size_t first = store.size();
      store.resize(first + count);
      if (!r.swapped && rec_size == sizeof(Record)) {  // the usual case: the records as they are
        std::memcpy(store.data() + first, r.bytes.data() + pos, std::size_t{count} * sizeof(Record));
        pos += std::uint64_t{count} * rec_size;
      } else {
        for (std::uint32_t i = 0; i < count; ++i, pos += rec_size) {
          std::uint32_t words[sizeof(Record) / 4];
          for (std::size_t w = 0; w < std::size(words); ++w) words[w] = r.u32(pos + 4 * w);
          std::memcpy(&store[first + i], words, sizeof(Record));
        }
      }
      out.push_back({name, std::span<const Record>(store.data() + first, count)});
    }
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
  const bool has_core = hdr_len >= 32;
  // Everything is checked and counted first, then copied once into exactly-sized arrays.
  auto n_func = EBPF_TRY(p.count<FuncInfo>("func_info", r.u32(8), r.u32(12), ext.func_info_rec_size_));
  auto n_line = EBPF_TRY(p.count<LineInfo>("line_info", r.u32(16), r.u32(20), ext.line_info_rec_size_));
  std::size_t n_core = 0;
  if (has_core) n_core = EBPF_TRY(p.count<CoreRelo>("core_relo", r.u32(24), r.u32(28), ext.core_relo_rec_size_));
  auto records = std::make_shared<Records>();
  records->func_info.reserve(n_func);
  records->line_info.reserve(n_line);
  records->core_relos.reserve(n_core);
  p.fill(r.u32(8), r.u32(12), ext.func_info_rec_size_, records->func_info, ext.func_info_);
  p.fill(r.u32(16), r.u32(20), ext.line_info_rec_size_, records->line_info, ext.line_info_);
  if (has_core) {
    p.fill(r.u32(24), r.u32(28), ext.core_relo_rec_size_, records->core_relos, ext.core_relos_);
    for (const auto& sec : ext.core_relos_)
      for (const auto& relo : sec.records)
        if (static_cast<std::uint32_t>(relo.kind) > static_cast<std::uint32_t>(RelocKind::type_matches))
          return bad("section '" + std::string(sec.name) + "': CO-RE relocation at insn offset " +
                     std::to_string(relo.insn_off) + " has unknown kind " +
                     std::to_string(static_cast<std::uint32_t>(relo.kind)));
  }
  ext.records_ = std::move(records);
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
