// Kernel configuration for `__kconfig` externs: reading /proc/config.gz or /boot/config-*, classifying an
// extern's BTF type and encoding a config value into it with libbpf's semantics (see ebpf/kconfig.hpp).
#include "ebpf/kconfig.hpp"

#include <sys/utsname.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "ebpf/gzip.hpp"

namespace ebpf::kconfig {
namespace {

constexpr std::string_view kOp = "kconfig";

Result<std::vector<std::byte>> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno ? errno : ENOENT;
    if (err == ENOENT) return Error(Errc::not_found, "open", path + " does not exist", ENOENT);
    return Error::from_errno(err, "open", path);
  }
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Error::from_errno(EIO, "read", path);
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

Error extern_error(std::string_view name, Errc code, std::string message) {
  return Error(code, std::string(kOp), "extern '" + std::string(name) + "': " + std::move(message));
}

Result<ExternType> classify_int(const btf::Type& t, std::string_view name) {
  std::uint32_t enc = t.int_encoding();
  if (enc & btf::kIntBool) {
    if (t.size() != 1) return extern_error(name, Errc::not_supported, "bool of " + std::to_string(t.size()) + " bytes");
    return ExternType{ValueKind::boolean, 1, false};
  }
  if (t.size() == 1) return ExternType{ValueKind::character, 1, (enc & btf::kIntSigned) != 0};
  if (t.size() != 2 && t.size() != 4 && t.size() != 8)
    return extern_error(name, Errc::not_supported, "integer of " + std::to_string(t.size()) + " bytes");
  return ExternType{ValueKind::integer, t.size(), (enc & btf::kIntSigned) != 0};
}

bool fits(const ExternType& type, std::uint64_t v) {
  if (type.size >= 8) return true;
  unsigned bits = type.size * 8;
  if (type.is_signed) return v + (std::uint64_t{1} << (bits - 1)) < (std::uint64_t{1} << bits);
  return (v >> bits) == 0;
}

void store(std::span<std::byte> out, std::uint64_t v) {
  for (std::size_t i = 0; i < out.size() && i < 8; ++i) out[i] = static_cast<std::byte>(v >> (8 * i));  // LE
}

Result<void> encode_letter(std::string_view name, const ExternType& type, char c, std::span<std::byte> out) {
  switch (type.kind) {
    case ValueKind::boolean:
      if (c == 'm') return extern_error(name, Errc::invalid_argument, "value 'm' needs a tristate or char extern, not bool");
      store(out, c == 'y' ? 1 : 0);
      return ok();
    case ValueKind::tristate:
      store(out, static_cast<std::uint64_t>(c == 'y' ? Tristate::yes : c == 'm' ? Tristate::module : Tristate::no));
      return ok();
    case ValueKind::character:
      store(out, static_cast<unsigned char>(c));
      return ok();
    default:
      return extern_error(name, Errc::invalid_argument,
                          std::string("value '") + c + "' needs a bool, tristate or char extern");
  }
}

Result<void> encode_string(std::string_view name, const ExternType& type, std::string_view value,
                           std::span<std::byte> out) {
  if (type.kind != ValueKind::char_array)
    return extern_error(name, Errc::invalid_argument, "string value " + std::string(value) + " needs a char array extern");
  if (value.size() < 2 || value.back() != '"')
    return extern_error(name, Errc::bad_format, "unterminated string value " + std::string(value));
  std::string_view text = value.substr(1, value.size() - 2);
  std::size_t n = std::min(text.size(), out.size() - 1);  // truncated, as libbpf does, keeping the NUL
  std::memcpy(out.data(), text.data(), n);
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), std::byte{0});
  return ok();
}

Result<std::uint64_t> parse_number(std::string_view name, std::string_view value) {
  std::string s(value);
  errno = 0;
  char* end = nullptr;
  std::uint64_t v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0')
    return extern_error(name, Errc::bad_format, "value '" + s + "' is not a number");
  return v;
}

Result<void> encode_number(std::string_view name, const ExternType& type, std::string_view value,
                           std::span<std::byte> out) {
  std::uint64_t v = EBPF_TRY(parse_number(name, value));
  if (type.kind != ValueKind::integer && type.kind != ValueKind::character && type.kind != ValueKind::boolean)
    return extern_error(name, Errc::invalid_argument, "number " + std::string(value) + " needs an integer, char or bool extern");
  if (type.kind == ValueKind::boolean && v > 1)
    return extern_error(name, Errc::invalid_argument, "number " + std::string(value) + " is not a boolean");
  if (!fits(type, v))
    return extern_error(name, Errc::no_space,
                        "value " + std::string(value) + " doesn't fit in " + std::to_string(type.size) + " bytes");
  store(out, v);
  return ok();
}

}  // namespace

Result<Config> Config::parse(std::string_view text) {
  Config config;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t eq = line.find('=');
    if (!line.starts_with("CONFIG_") || eq == std::string_view::npos || eq + 1 == line.size())
      return Error(Errc::bad_format, std::string(kOp),
                   "line " + std::to_string(line_no) + " is not CONFIG_NAME=value: '" + std::string(line.substr(0, 80)) + "'");
    config.values_.insert_or_assign(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return config;
}

Result<Config> Config::read_file(const std::string& path) {
  auto bytes = EBPF_TRY(read_bytes(path));
  if (gzip::is_gzip(bytes)) {
    auto text = gzip::decompress(bytes);
    if (!text) return Error(text.error()).context(path);
    bytes = std::move(*text);
  }
  auto config = parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!config) return Error(config.error()).context(path);
  return config;
}

Result<Config> Config::running_kernel() {
  if (auto proc = read_file("/proc/config.gz"); proc || proc.error().code() != Errc::not_found) return proc;
  struct utsname u {};
  if (::uname(&u) != 0) return Error::from_errno(errno, "uname");
  std::string boot = std::string("/boot/config-") + u.release;
  auto config = read_file(boot);
  if (!config && config.error().code() == Errc::not_found)
    return Error(Errc::not_found, std::string(kOp), "neither /proc/config.gz nor " + boot + " exists");
  return config;
}

const std::string* Config::find(std::string_view name) const noexcept {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

Result<ExternType> classify(const btf::Btf& btf, btf::TypeId type, std::string_view name) {
  auto t = btf.skip_modifiers(type);
  if (!t) return Error(t.error()).context("extern '" + std::string(name) + "'");
  switch (t->kind()) {
    case btf::Kind::int_:
      return classify_int(*t, name);
    case btf::Kind::enum_:
    case btf::Kind::enum64:
      if (t->name() != "libbpf_tristate" || (t->kind() == btf::Kind::enum_ && t->size() != 4))
        return extern_error(name, Errc::not_supported, "enum '" + std::string(t->name()) + "' (only enum libbpf_tristate)");
      return ExternType{ValueKind::tristate, t->size(), false};
    case btf::Kind::array: {
      auto info = t->array();
      auto elem = btf.skip_modifiers(info.elem_type);
      if (info.nelems == 0 || !elem || elem->kind() != btf::Kind::int_ || elem->size() != 1 ||
          (elem->int_encoding() & btf::kIntBool))
        return extern_error(name, Errc::not_supported, "arrays must be non-empty char arrays");
      return ExternType{ValueKind::char_array, info.nelems, false};
    }
    default:
      return extern_error(name, Errc::not_supported,
                          "type " + std::string(btf::kind_name(t->kind())) + " cannot hold a kconfig value");
  }
}

Result<void> encode(std::string_view name, const ExternType& type, std::string_view value, std::span<std::byte> out) {
  if (out.size() != type.size)
    return extern_error(name, Errc::invalid_argument,
                        "output is " + std::to_string(out.size()) + " bytes, the extern " + std::to_string(type.size));
  if (value.empty()) return extern_error(name, Errc::bad_format, "empty value");
  if (value.size() == 1 && (value[0] == 'y' || value[0] == 'n' || value[0] == 'm'))
    return encode_letter(name, type, value[0], out);
  if (value.front() == '"') return encode_string(name, type, value, out);
  return encode_number(name, type, value, out);
}

}  // namespace ebpf::kconfig
