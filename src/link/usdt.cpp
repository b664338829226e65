// USDT notes and argument specs (see ebpf/attach/usdt.hpp). Attaching is in usdt_attach.cpp.
#include <charconv>
#include <cstdlib>
#include <optional>

#include "ebpf/attach/usdt.hpp"
#include "uprobe_elf.hpp"

namespace ebpf {

namespace {

constexpr std::uint32_t kStapsdtNoteType = 3;  // NT_STAPSDT

Error bad_arg(std::string_view arg, std::string_view why) {
  return Error(Errc::bad_format, "parse USDT argument", "'" + std::string(arg) + "': " + std::string(why));
}

// A whole string as a decimal (or 0x hex) signed integer.
std::optional<std::int64_t> parse_int(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "%rax" -> "rax"; nullopt when the '%' is missing or the name is empty.
std::optional<std::string> x86_register(std::string_view text) {
  text = trim(text);
  if (text.size() < 2 || text[0] != '%') return std::nullopt;
  return std::string(text.substr(1));
}

// x86-64 locations: $imm, %reg, off(%reg), off(%base,%index,scale) (off and scale optional).
Result<void> parse_x86_location(std::string_view arg, std::string_view loc, UsdtArg& out) {
  if (loc.starts_with('$')) {
    auto v = parse_int(loc.substr(1));
    if (!v) return bad_arg(arg, "bad constant");
    out.kind = UsdtArg::Kind::constant;
    out.value = *v;
    return {};
  }
  if (loc.starts_with('%')) {
    auto reg = x86_register(loc);
    if (!reg) return bad_arg(arg, "expected a register name after '%'");
    out.kind = UsdtArg::Kind::reg;
    out.base = *reg;
    return {};
  }
  auto open = loc.find('(');
  if (open == std::string_view::npos || !loc.ends_with(')'))
    return bad_arg(arg, "expected $constant, %register or offset(%register)");
  auto offset = loc.substr(0, open);
  if (!offset.empty()) {
    auto v = parse_int(offset);
    // A symbol (e.g. "counter(%rip)") would need the file's symbol table resolved at run time.
    if (!v) return bad_arg(arg, "the offset is not a number");
    out.value = *v;
  }
  auto inside = loc.substr(open + 1, loc.size() - open - 2);
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto comma = inside.find(',', start);
    parts.push_back(inside.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  auto base = x86_register(parts[0]);
  if (!base) return bad_arg(arg, "expected a base register");
  out.base = *base;
  if (parts.size() == 1) {
    out.kind = UsdtArg::Kind::memory;
    return {};
  }
  if (parts.size() > 3) return bad_arg(arg, "too many parts in the address");
  auto index = x86_register(parts[1]);
  if (!index) return bad_arg(arg, "expected an index register");
  out.kind = UsdtArg::Kind::indexed;
  out.index = *index;
  if (parts.size() == 3) {
    auto scale = parse_int(trim(parts[2]));
    if (!scale || (*scale != 1 && *scale != 2 && *scale != 4 && *scale != 8)) return bad_arg(arg, "scale must be 1, 2, 4 or 8");
    out.scale = static_cast<std::uint8_t>(*scale);
  }
  return {};
}

// arm64 locations: imm, reg, [reg], [reg, off].
Result<void> parse_arm64_location(std::string_view arg, std::string_view loc, UsdtArg& out) {
  if (loc.starts_with('[')) {
    if (!loc.ends_with(']')) return bad_arg(arg, "unterminated '['");
    auto inside = loc.substr(1, loc.size() - 2);
    auto comma = inside.find(',');
    out.kind = UsdtArg::Kind::memory;
    out.base = std::string(trim(inside.substr(0, comma)));
    if (out.base.empty()) return bad_arg(arg, "expected a base register");
    if (comma != std::string_view::npos) {
      auto off = trim(inside.substr(comma + 1));
      if (off.starts_with('#')) off.remove_prefix(1);
      auto v = parse_int(off);
      if (!v) return bad_arg(arg, "the offset is not a number");
      out.value = *v;
    }
    return {};
  }
  if (auto v = parse_int(loc)) {
    out.kind = UsdtArg::Kind::constant;
    out.value = *v;
    return {};
  }
  out.kind = UsdtArg::Kind::reg;
  out.base = std::string(loc);
  return {};
}

// Register name -> offset in the pt_regs a uprobe program sees.
std::optional<std::uint16_t> register_offset(std::string_view name, dsl::Arch arch) {
  if (arch == dsl::Arch::arm64) {
    if (name == "sp") return dsl::pt_regs_layout(arch).sp;
    if (name == "pc") return dsl::pt_regs_layout(arch).ip;
    if (name.size() >= 2 && (name[0] == 'x' || name[0] == 'w')) {
      auto n = parse_int(name.substr(1));
      if (n && *n >= 0 && *n <= 30) return static_cast<std::uint16_t>(*n * 8);
    }
    return std::nullopt;
  }
  // struct pt_regs order: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss.
  struct Named {
    std::string_view names[4];
    std::uint16_t offset;
  };
  static constexpr Named kRegs[] = {
      {{"rax", "eax", "ax", "al"}, 80},    {{"rbx", "ebx", "bx", "bl"}, 40},   {{"rcx", "ecx", "cx", "cl"}, 88},
      {{"rdx", "edx", "dx", "dl"}, 96},    {{"rsi", "esi", "si", "sil"}, 104}, {{"rdi", "edi", "di", "dil"}, 112},
      {{"rbp", "ebp", "bp", "bpl"}, 32},   {{"rsp", "esp", "sp", "spl"}, 152}, {{"rip", "eip", "ip", ""}, 128},
      {{"r8", "r8d", "r8w", "r8b"}, 72},   {{"r9", "r9d", "r9w", "r9b"}, 64},  {{"r10", "r10d", "r10w", "r10b"}, 56},
      {{"r11", "r11d", "r11w", "r11b"}, 48}, {{"r12", "r12d", "r12w", "r12b"}, 24},
      {{"r13", "r13d", "r13w", "r13b"}, 16}, {{"r14", "r14d", "r14w", "r14b"}, 8},
      {{"r15", "r15d", "r15w", "r15b"}, 0},
  };
  for (const auto& reg : kRegs)
    for (auto n : reg.names)
      if (!n.empty() && n == name) return reg.offset;
  return std::nullopt;
}

// The section holding `addr` in the file's image: its file offset.
std::optional<std::uint64_t> address_to_offset(const elf::File& file, std::uint64_t addr) {
  for (const auto& sec : file.sections())
    if ((sec.flags & elf::kShfAlloc) != 0 && !sec.nobits() && addr >= sec.addr && addr - sec.addr < sec.size)
      return addr - sec.addr + sec.offset;
  return std::nullopt;
}

using detail::load_le;

// The NUL-terminated string at `pos` of a note descriptor; advances `pos` past it.
std::optional<std::string_view> next_string(std::span<const std::byte> desc, std::size_t& pos) {
  auto start = pos;
  while (pos < desc.size() && desc[pos] != std::byte{0}) ++pos;
  if (pos >= desc.size()) return std::nullopt;
  std::string_view s(reinterpret_cast<const char*>(desc.data()) + start, pos - start);
  ++pos;
  return s;
}

}  // namespace

Result<std::vector<UsdtArg>> parse_usdt_args(std::string_view text, dsl::Arch arch) {
  std::vector<UsdtArg> args;
  std::size_t i = 0;
  // Arguments are separated by spaces, but an arm64 "[sp, 16]" holds one: split outside brackets only.
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    auto start = i;
    int depth = 0;
    while (i < text.size() && (depth > 0 || (text[i] != ' ' && text[i] != '\t'))) {
      if (text[i] == '[') ++depth;
      if (text[i] == ']') --depth;
      ++i;
    }
    auto arg = text.substr(start, i - start);
    if (args.size() == kUsdtMaxArgs) return bad_arg(arg, "more than 12 arguments");
    auto at = arg.find('@');
    if (at == std::string_view::npos) return bad_arg(arg, "expected size@location");
    auto size = parse_int(arg.substr(0, at));
    if (!size || (std::abs(*size) != 1 && std::abs(*size) != 2 && std::abs(*size) != 4 && std::abs(*size) != 8))
      return bad_arg(arg, "the size must be 1, 2, 4 or 8 bytes (negative: signed)");
    UsdtArg out;
    out.size = static_cast<std::uint8_t>(std::abs(*size));
    out.is_signed = *size < 0;
    auto loc = arg.substr(at + 1);
    if (arch == dsl::Arch::x86_64)
      EBPF_TRY(parse_x86_location(arg, loc, out));
    else
      EBPF_TRY(parse_arm64_location(arg, loc, out));
    args.push_back(std::move(out));
  }
  return args;
}

Result<std::vector<UsdtProbe>> usdt_probes(const elf::File& file, dsl::Arch arch) {
  std::vector<UsdtProbe> probes;
  const auto* notes_section = file.section(".note.stapsdt");
  if (notes_section == nullptr) return probes;
  // Prelink may move the image after the notes were written: the notes keep .stapsdt.base's link-time
  // address, the section header has the current one, and the difference moves every marker.
  const auto* base_section = file.section(".stapsdt.base");
  auto notes = EBPF_TRY(file.notes(*notes_section));
  for (const auto& note : notes) {
    if (note.name != "stapsdt" || note.type != kStapsdtNoteType) continue;
    const std::string where = ".note.stapsdt at offset " + std::to_string(note.offset);
    if (note.desc.size() < 3 * 8) return Error(Errc::bad_format, "parse USDT notes", where + ": descriptor too short");
    UsdtProbe probe;
    probe.pc = load_le<std::uint64_t>(note.desc, 0);
    auto link_base = load_le<std::uint64_t>(note.desc, 8);
    probe.semaphore = load_le<std::uint64_t>(note.desc, 16);
    if (base_section != nullptr && link_base != 0) probe.pc += base_section->addr - link_base;
    std::size_t pos = 24;
    auto provider = next_string(note.desc, pos);
    auto name = provider ? next_string(note.desc, pos) : std::nullopt;
    auto text = name ? next_string(note.desc, pos) : std::nullopt;
    if (!text) return Error(Errc::bad_format, "parse USDT notes", where + ": unterminated strings");
    probe.provider = std::string(*provider);
    probe.name = std::string(*name);
    probe.arg_text = std::string(*text);
    auto offset = address_to_offset(file, probe.pc);
    if (!offset)
      return Error(Errc::bad_format, "parse USDT notes",
                   probe.provider + ":" + probe.name + ": address " + std::to_string(probe.pc) + " is in no section");
    probe.pc_offset = *offset;
    if (probe.semaphore != 0) {
      auto sem = address_to_offset(file, probe.semaphore);
      if (!sem)
        return Error(Errc::bad_format, "parse USDT notes",
                     probe.provider + ":" + probe.name + ": semaphore address is in no section");
      probe.semaphore_offset = *sem;
    }
    auto args = parse_usdt_args(probe.arg_text, arch);
    if (args)
      probe.args = std::move(*args);
    else
      probe.arg_error = args.error().to_string();
    probes.push_back(std::move(probe));
  }
  return probes;
}

Result<std::vector<UsdtProbe>> usdt_probes(const std::string& path, dsl::Arch arch) {
  auto file = EBPF_TRY(elf::File::open(path));
  return usdt_probes(file, arch);
}

Result<UsdtSpec> usdt_spec(const UsdtProbe& probe, dsl::Arch arch, std::uint64_t cookie) {
  UsdtSpec spec;
  spec.cookie = cookie;
  if (!probe.arg_error.empty())
    return Error(Errc::bad_format, "USDT spec", probe.provider + ":" + probe.name + ": " + probe.arg_error);
  if (probe.args.size() > kUsdtMaxArgs) return Error::invalid("USDT spec", "more than 12 arguments");
  spec.arg_count = static_cast<std::uint16_t>(probe.args.size());
  for (std::size_t i = 0; i < probe.args.size(); ++i) {
    const auto& arg = probe.args[i];
    auto& out = spec.args[i];
    out.kind = static_cast<std::uint8_t>(arg.kind);
    out.value = arg.value;
    out.is_signed = arg.is_signed ? 1 : 0;
    if (arg.size != 1 && arg.size != 2 && arg.size != 4 && arg.size != 8)
      return Error::invalid("USDT spec", "argument " + std::to_string(i) + " has size " + std::to_string(arg.size));
    out.shift = static_cast<std::uint8_t>(64 - 8 * arg.size);
    if (arg.kind == UsdtArg::Kind::constant) continue;
    auto reg = register_offset(arg.base, arch);
    if (!reg)
      return Error::invalid("USDT spec", probe.provider + ":" + probe.name + " argument " + std::to_string(i) +
                                             ": unknown register '" + arg.base + "'");
    out.reg_off = *reg;
    if (arg.kind == UsdtArg::Kind::indexed) {
      auto index = register_offset(arg.index, arch);
      if (!index)
        return Error::invalid("USDT spec", probe.provider + ":" + probe.name + " argument " + std::to_string(i) +
                                               ": unknown register '" + arg.index + "'");
      out.index_off = *index;
      out.scale_shift = static_cast<std::uint8_t>(arg.scale == 8 ? 3 : arg.scale == 4 ? 2 : arg.scale == 2 ? 1 : 0);
    }
  }
  return spec;
}

}  // namespace ebpf
