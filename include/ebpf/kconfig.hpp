// ebpf/kconfig.hpp — the running kernel's build configuration, and the values BPF `__kconfig` externs get.
//
// Objects declare `extern int CONFIG_HZ __kconfig;` (or bool / enum libbpf_tristate / char / char[N] ...);
// the loader fills them from /proc/config.gz (decoded by ebpf/gzip.hpp) or /boot/config-$(uname -r) with
// libbpf's semantics, which object authors rely on:
//   - `y`/`n`/`m` go into bool (y=1, n=0, m refused), enum libbpf_tristate (n=0, y=1, m=2) or char (the letter);
//   - `"str"` into char arrays (quotes stripped, truncated to N-1 bytes, NUL-terminated);
//   - numbers (decimal, 0x hex, 0 octal) into integers, bool (0/1) or char, if they fit the extern's size
//     and signedness (Errc::no_space "doesn't fit" otherwise);
//   - `LINUX_KERNEL_VERSION` is the running kernel's KERNEL_VERSION(a,b,c) code;
//   - an option that is absent (or "# ... is not set") leaves a weak extern 0 and makes a strong one an error.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "ebpf/btf.hpp"
#include "ebpf/error.hpp"

namespace ebpf::kconfig {

class Config {
 public:
  // Parses "CONFIG_X=value" lines; comments and blank lines are skipped, anything else is Errc::bad_format.
  static Result<Config> parse(std::string_view text);
  // Reads a config file, gzip-compressed or plain (detected by its magic number).
  static Result<Config> read_file(const std::string& path);
  // /proc/config.gz, else /boot/config-<release>; Errc::not_found naming both when neither exists.
  static Result<Config> running_kernel();

  // The raw value ("y", "m", "\"text\"", "1000", "0x10"), or nullptr when the option is not set.
  const std::string* find(std::string_view name) const noexcept;
  std::size_t size() const noexcept { return values_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// libbpf's `enum libbpf_tristate`.
enum class Tristate : std::int32_t { no = 0, yes = 1, module = 2 };

// How an extern's BTF type receives a value.
enum class ValueKind { boolean, tristate, character, integer, char_array };
struct ExternType {
  ValueKind kind = ValueKind::integer;
  std::uint32_t size = 0;  // bytes the extern occupies
  bool is_signed = false;  // integers
};

// Classifies the type of a `__kconfig` extern (through typedefs and qualifiers); Errc::not_supported for types
// libbpf refuses (structs, pointers, non-char arrays, enums other than libbpf_tristate, odd-sized ints).
Result<ExternType> classify(const btf::Btf& btf, btf::TypeId type, std::string_view extern_name);

// Writes `value` (a raw config value) for extern `name` of `type` into `out` (exactly type.size bytes).
Result<void> encode(std::string_view name, const ExternType& type, std::string_view value, std::span<std::byte> out);

}  // namespace ebpf::kconfig
