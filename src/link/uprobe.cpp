// uprobes through the uprobe PMU (/sys/bus/event_source/devices/uprobe).
#include "ebpf/attach/uprobe.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>

#include "ebpf/attach/tracing.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "uprobe_elf.hpp"

namespace ebpf {

namespace {

constexpr const char* kPmuDir = "/sys/bus/event_source/devices/uprobe";

Result<std::string> read_small_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return Error(Errc::not_supported, "uprobe PMU", "the kernel has no uprobe PMU (" + path + ")", err);
    return Error::from_errno(err, "open(" + path + ")");
  }
  std::array<char, 64> buf{};
  auto n = ::read(fd.get(), buf.data(), buf.size() - 1);
  if (n < 0) return Error::from_errno(errno, "read(" + path + ")");
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

Result<std::uint32_t> pmu_type() {
  auto text = EBPF_TRY(read_small_file(std::string(kPmuDir) + "/type"));
  std::uint32_t type = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), type);
  if (ec != std::errc()) return Error(Errc::bad_format, "uprobe PMU", "unreadable PMU type '" + text + "'");
  return type;
}

// The config bit that selects a uretprobe ("config:N" in format/retprobe).
Result<std::uint64_t> retprobe_bit() {
  auto text = EBPF_TRY(read_small_file(std::string(kPmuDir) + "/format/retprobe"));
  auto colon = text.find(':');
  unsigned bit = 0;
  if (colon == std::string::npos ||
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), bit).ec != std::errc() || bit > 63)
    return Error(Errc::bad_format, "uprobe PMU", "unreadable retprobe format '" + text + "'");
  return std::uint64_t{1} << bit;
}

// --- symbol lookup -----------------------------------------------------------------------------------------

constexpr std::uint32_t kShtDynsym = 11, kShtGnuVerdef = 0x6ffffffd, kShtGnuVersym = 0x6fffffff;
constexpr std::uint8_t kSttGnuIfunc = 10;
constexpr std::uint16_t kVersymHidden = 0x8000;

// A .dynsym function with its symbol version ("" when the file has no versions).
struct DynamicSymbol {
  std::string_view name;
  std::string_view version;
  bool default_version = true;  // "name@@VER" rather than "name@VER"
  std::uint16_t section = 0;
  std::uint64_t value = 0;
};

using detail::load_le;

// Version index -> name, from .gnu.version_d (Elf64_Verdef chains, each with its first Elf64_Verdaux name).
Result<std::map<std::uint16_t, std::string_view>> read_version_names(const elf::File& file) {
  std::map<std::uint16_t, std::string_view> names;
  for (const auto& sec : file.sections()) {
    if (sec.type != kShtGnuVerdef) continue;
    auto data = file.data(sec);
    const auto* strtab = file.section(sec.link);
    if (strtab == nullptr) return Error(Errc::bad_format, "uprobe", "version definitions without a string table");
    std::size_t off = 0;
    for (std::uint32_t n = 0; n < sec.info && off + 20 <= data.size(); ++n) {
      auto index = load_le<std::uint16_t>(data, off + 4);
      auto aux = load_le<std::uint32_t>(data, off + 12);
      auto next = load_le<std::uint32_t>(data, off + 16);
      if (aux != 0 && off + aux + 8 <= data.size())
        names[index] = EBPF_TRY(file.string_at(*strtab, load_le<std::uint32_t>(data, off + aux)));
      if (next == 0) break;
      off += next;
    }
  }
  return names;
}

// The defined functions of .dynsym (Elf64_Sym records) with their versions from .gnu.version.
Result<std::vector<DynamicSymbol>> read_dynamic_symbols(const elf::File& file) {
  std::vector<DynamicSymbol> out;
  const elf::Section* dynsym = nullptr;
  const elf::Section* versym = nullptr;
  for (const auto& sec : file.sections()) {
    if (sec.type == kShtDynsym) dynsym = &sec;
    if (sec.type == kShtGnuVersym) versym = &sec;
  }
  if (dynsym == nullptr) return out;
  const auto* strtab = file.section(dynsym->link);
  if (strtab == nullptr) return Error(Errc::bad_format, "uprobe", ".dynsym without a string table");
  auto versions = EBPF_TRY(read_version_names(file));
  auto syms = file.data(*dynsym);
  auto vers = versym ? file.data(*versym) : std::span<const std::byte>();
  constexpr std::size_t kSymSize = 24;
  for (std::size_t i = 1; (i + 1) * kSymSize <= syms.size(); ++i) {
    auto off = i * kSymSize;
    auto info = load_le<std::uint8_t>(syms, off + 4);
    auto shndx = load_le<std::uint16_t>(syms, off + 6);
    auto type = static_cast<std::uint8_t>(info & 0xf);
    if ((type != elf::kSttFunc && type != kSttGnuIfunc) || shndx == elf::kShnUndef) continue;
    DynamicSymbol sym;
    sym.name = EBPF_TRY(file.string_at(*strtab, load_le<std::uint32_t>(syms, off)));
    sym.section = shndx;
    sym.value = load_le<std::uint64_t>(syms, off + 8);
    if ((i + 1) * 2 <= vers.size()) {
      auto v = load_le<std::uint16_t>(vers, i * 2);
      sym.default_version = (v & kVersymHidden) == 0;
      auto it = versions.find(static_cast<std::uint16_t>(v & ~kVersymHidden));
      // Index 1 is the file's own base "version" (its soname): not a symbol version.
      if (it != versions.end() && (v & ~kVersymHidden) > 1) sym.version = it->second;
    }
    out.push_back(sym);
  }
  return out;
}

// A virtual address in section `index` -> file offset.
Result<std::uint64_t> to_file_offset(const elf::File& file, std::uint16_t index, std::uint64_t value,
                                     std::string_view symbol) {
  const auto* section = file.section(index);
  if (section == nullptr || value < section->addr || value - section->addr >= section->size + 1)
    return Error(Errc::bad_format, "uprobe", "symbol '" + std::string(symbol) + "' lies outside its section");
  return value - section->addr + section->offset;
}

// "name@@VER" -> {name, VER, default}; "name@VER" -> {name, VER, any}; "name" -> {name, "", default}.
struct VersionedName {
  std::string_view name, version;
  bool require_default = false;
};
VersionedName split_version(std::string_view symbol) {
  auto at = symbol.find('@');
  if (at == std::string_view::npos || at == 0) return {symbol, {}, true};
  bool two = symbol.substr(at).starts_with("@@");
  return {symbol.substr(0, at), symbol.substr(at + (two ? 2 : 1)), two};
}

// .symtab by exact name (the linker writes "name@@VER" there too), then .dynsym by name and version.
Result<std::optional<std::uint64_t>> symbol_file_offset(const elf::File& file, const std::vector<DynamicSymbol>& dynamic,
                                                        std::string_view symbol) {
  for (const auto& sym : file.symbols())
    if (sym.name == symbol && (sym.type == elf::kSttFunc || sym.type == kSttGnuIfunc) && !sym.undefined())
      return std::optional(EBPF_TRY(to_file_offset(file, sym.section, sym.value, symbol)));
  auto wanted = split_version(symbol);
  for (const auto& sym : dynamic) {
    if (sym.name != wanted.name) continue;
    if (!wanted.version.empty() && sym.version != wanted.version) continue;
    if (wanted.require_default && !sym.default_version) continue;
    return std::optional(EBPF_TRY(to_file_offset(file, sym.section, sym.value, symbol)));
  }
  return std::optional<std::uint64_t>();
}

constexpr std::uint32_t kUprobeMultiReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN (not in Debian's 6.1 headers)
constexpr std::size_t kMaxUprobeMultiTargets = 1u << 20;  // the kernel's MAX_UPROBE_MULTI_CNT

// EINVAL from uprobe_multi is mostly a program loaded without the trace_uprobe_multi attach type.
Error uprobe_multi_error(Error error, const std::string& what) {
  if (error.sys_errno() == EINVAL)
    return Error(Errc::invalid_argument, "BPF_LINK_CREATE",
                 what + ": invalid (was the program loaded with expected_attach_type trace_uprobe_multi? "
                        "are the offsets inside the file?)",
                 EINVAL);
  if (error.sys_errno() == EOPNOTSUPP || error.sys_errno() == ENOTSUP)
    return Error(Errc::not_supported, "BPF_LINK_CREATE", what + ": this kernel has no uprobe_multi links (6.6+)",
                 error.sys_errno());
  return std::move(error.context(what));
}

// `offset` placed in the config bits that carry a reference counter offset ("config:32-63").
Result<std::uint64_t> ref_ctr_field(std::uint64_t offset) {
  auto text = EBPF_TRY(read_small_file(std::string(kPmuDir) + "/format/ref_ctr_offset"));
  auto colon = text.find(':');
  unsigned shift = 0;
  if (colon == std::string::npos ||
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), shift).ec != std::errc() || shift > 63)
    return Error(Errc::bad_format, "uprobe PMU", "unreadable ref_ctr_offset format '" + text + "'");
  if (shift > 0 && (offset >> (64 - shift)) != 0)
    return Error::invalid("attach uprobe", "reference counter offset " + std::to_string(offset) + " is too large");
  return offset << shift;
}

}  // namespace

Result<std::uint64_t> uprobe_offset(const std::string& path, std::string_view symbol) {
  std::string name(symbol);
  auto offsets = EBPF_TRY(uprobe_offsets(path, std::span<const std::string>(&name, 1)));
  return offsets.front();
}

Result<std::vector<std::uint64_t>> uprobe_offsets(const std::string& path, std::span<const std::string> symbols) {
  for (const auto& symbol : symbols)
    if (symbol.empty()) return Error::invalid("uprobe", "empty symbol name");
  auto file = EBPF_TRY(elf::File::open(path));
  auto dynamic = EBPF_TRY(read_dynamic_symbols(file));
  std::vector<std::uint64_t> offsets;
  offsets.reserve(symbols.size());
  for (const auto& symbol : symbols) {
    auto offset = EBPF_TRY(symbol_file_offset(file, dynamic, symbol));
    if (!offset)
      return Error(Errc::not_found, "uprobe",
                   "no function '" + symbol + "' in the symbol tables (.symtab, .dynsym) of " + path, ENOENT);
    offsets.push_back(*offset);
  }
  return offsets;
}

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::uint64_t offset,
                           const UprobeOptions& options) {
  constexpr std::string_view op = "attach uprobe";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::kprobe)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to a uprobe: it needs a kprobe program");
  if (path.empty()) return Error::invalid(std::string(op), "empty file path");
  if (::access(path.c_str(), R_OK) != 0)
    return Error(Errc::not_found, std::string(op), "cannot read " + path, errno);
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = EBPF_TRY(pmu_type());
  if (options.retprobe) attr.config = EBPF_TRY(retprobe_bit());
  if (options.ref_ctr_offset != 0) attr.config |= EBPF_TRY(ref_ctr_field(options.ref_ctr_offset));
  attr.config1 = reinterpret_cast<std::uintptr_t>(path.c_str());  // uprobe_path
  attr.config2 = offset;                                          // probe_offset
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  int cpu = options.pid < 0 ? 0 : -1;
  long fd = ::syscall(SYS_perf_event_open, &attr, options.pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "perf_event_open(uprobe)", path + " offset " + std::to_string(offset));
  return attach_perf_event(program, Fd(static_cast<int>(fd)), {options.cookie, options.use_link});
}

Result<Link> attach_uprobe(const Program& program, const std::string& path, std::string_view symbol,
                           const UprobeOptions& options) {
  auto offset = EBPF_TRY(uprobe_offset(path, symbol));
  return attach_uprobe(program, path, offset, options);
}

Result<Link> attach_uprobe_multi(const Program& program, const std::string& path,
                                 std::span<const std::uint64_t> offsets, const UprobeMultiOptions& options) {
  constexpr std::string_view op = "attach uprobe_multi";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::kprobe)
    return Error::invalid(std::string(op), detail::program_label(program) + " cannot attach to uprobes: it needs a kprobe program");
  if (path.empty()) return Error::invalid(std::string(op), "empty file path");
  if (offsets.empty()) return Error::invalid(std::string(op), "no offsets to attach to");
  if (offsets.size() > kMaxUprobeMultiTargets)
    return Error::invalid(std::string(op), std::to_string(offsets.size()) + " targets exceed the limit of " +
                                               std::to_string(kMaxUprobeMultiTargets));
  if (!options.cookies.empty() && options.cookies.size() != offsets.size())
    return Error::invalid(std::string(op), "give one cookie per target (" + std::to_string(offsets.size()) + "), not " +
                                               std::to_string(options.cookies.size()));
  if (!options.ref_ctr_offsets.empty() && options.ref_ctr_offsets.size() != offsets.size())
    return Error::invalid(std::string(op), "give one reference counter offset per target, not " +
                                               std::to_string(options.ref_ctr_offsets.size()));
  if (options.pid < -1) return Error::invalid(std::string(op), "pid must be -1 or a process id");
  if (::access(path.c_str(), R_OK) != 0) return Error(Errc::not_found, std::string(op), "cannot read " + path, errno);
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(AttachType::trace_uprobe_multi);
  auto& multi = attr.as<sys::LinkCreateAttr::UprobeMulti>();
  multi.path = reinterpret_cast<std::uintptr_t>(path.c_str());
  multi.offsets = reinterpret_cast<std::uintptr_t>(offsets.data());
  multi.cookies = options.cookies.empty() ? 0 : reinterpret_cast<std::uintptr_t>(options.cookies.data());
  multi.ref_ctr_offsets =
      options.ref_ctr_offsets.empty() ? 0 : reinterpret_cast<std::uintptr_t>(options.ref_ctr_offsets.data());
  multi.cnt = static_cast<std::uint32_t>(offsets.size());
  multi.flags = options.retprobe ? kUprobeMultiReturn : 0;
  multi.pid = options.pid < 0 ? 0 : static_cast<std::uint32_t>(options.pid);
  std::string what = "uprobe_multi " + detail::program_label(program) + " on " + std::to_string(offsets.size()) +
                     " offsets of " + path;
  auto link = sys::link_create(attr);
  if (!link) return uprobe_multi_error(std::move(link).error(), what);
  return Link::from_fd(std::move(*link), what);
}

Result<Link> attach_uprobe_multi(const Program& program, const std::string& path,
                                 std::span<const std::string> symbols, const UprobeMultiOptions& options) {
  if (symbols.empty()) return Error::invalid("attach uprobe_multi", "no symbols to attach to");
  auto offsets = EBPF_TRY(uprobe_offsets(path, symbols));
  return attach_uprobe_multi(program, path, std::span<const std::uint64_t>(offsets), options);
}

}  // namespace ebpf
