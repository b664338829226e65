// ebpf/error.hpp — the library's one error model.
//
// Every fallible function returns `ebpf::Result<T>` (a [[nodiscard]] std::expected<T, ebpf::Error>).
// An Error carries:
//   - code():      a small closed enum to branch on (key_not_found, not_supported, verifier, ...);
//   - sys_errno(): the errno the kernel (or libc) returned, 0 when the error was found before any syscall;
//   - operation(): what was attempted, named after the kernel interface ("BPF_MAP_CREATE", "netlink RTM_NEWLINK");
//   - message():   a sentence for humans;
//   - verifier_log(): for program loads, the full verifier log (shared, so copying an Error stays cheap);
//     summary() picks its last meaningful lines.
// Success costs nothing: Result<T> holds just a T.
#pragma once

#include <cerrno>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace ebpf {

enum class Errc {
  invalid_argument,  // bad input caught by the library or EINVAL from the kernel
  key_not_found,     // ENOENT on a map key (also "no more keys")
  key_exists,        // EEXIST on BPF_NOEXIST updates
  not_found,         // a named thing (pin, interface, section, symbol, BTF type) does not exist
  permission,        // EPERM / EACCES: missing capability or kernel policy (lockdown)
  not_supported,     // the kernel lacks the feature (EOPNOTSUPP, ENOTSUPP, unknown type/command)
  verifier,          // BPF_PROG_LOAD rejected by the verifier; verifier_log() holds the log
  no_space,          // E2BIG / ENOSPC / ENOMEM: a map or buffer is full or too big
  busy,              // EBUSY / EAGAIN: hook occupied, try again
  bad_format,        // malformed ELF / BTF / text input
  io,                // other system errors
  timeout,           // a wait ran out of time
};

std::string_view to_string(Errc code) noexcept;

class Error {
 public:
  Error(Errc code, std::string operation, std::string message, int sys_errno = 0)
      : code_(code), errno_(sys_errno), operation_(std::move(operation)), message_(std::move(message)) {}

  // Builds an error from an errno returned by `operation`, mapping it onto an Errc.
  static Error from_errno(int sys_errno, std::string operation, std::string message = {});
  // Bad input detected before any syscall.
  static Error invalid(std::string operation, std::string message) {
    return Error(Errc::invalid_argument, std::move(operation), std::move(message), EINVAL);
  }

  Errc code() const noexcept { return code_; }
  int sys_errno() const noexcept { return errno_; }
  const std::string& operation() const noexcept { return operation_; }
  const std::string& message() const noexcept { return message_; }

  // Program loads: the verifier's full log, and its last meaningful lines.
  bool has_verifier_log() const noexcept { return log_ != nullptr; }
  std::string_view verifier_log() const noexcept { return log_ ? std::string_view(*log_) : std::string_view(); }
  bool log_truncated() const noexcept { return log_truncated_; }
  std::string summary(std::size_t max_lines = 3) const;
  Error& with_verifier_log(std::string log, bool truncated = false);

  // Prefixes the message with context ("map 'counters': ..."), keeping code and errno.
  Error& context(std::string_view what);

  // "BPF_MAP_UPDATE_ELEM: key size 3 does not match the map's key size 4 (EINVAL)".
  std::string to_string() const;

 private:
  Errc code_;
  int errno_;
  std::string operation_;
  std::string message_;
  std::shared_ptr<const std::string> log_;
  bool log_truncated_ = false;
};

// Name of an errno constant ("EINVAL"), or "errno N".
std::string_view errno_name(int sys_errno) noexcept;

template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
  using Base = std::expected<T, Error>;

 public:
  using Base::Base;
  Result(Error error) : Base(std::unexpect, std::move(error)) {}  // NOLINT: implicit by design
  Result(std::unexpected<Error> error) : Base(std::move(error)) {}

  // Success with a value, for symmetry with Error returns.
  bool ok() const noexcept { return this->has_value(); }
};

// Result<void> success value: `return ebpf::ok();`.
inline Result<void> ok() { return Result<void>(); }

}  // namespace ebpf

// Early return on failure: `auto fd = EBPF_TRY(sys::map_create(attr));`
// Evaluates to the value (or void) on success; returns the Error from the enclosing function otherwise.
// The enclosing function must return some ebpf::Result<U>.
#define EBPF_TRY(...)                                             \
  ({                                                              \
    auto ebpf_try_result_ = (__VA_ARGS__);                        \
    if (!ebpf_try_result_.has_value())                            \
      return ::ebpf::Error(std::move(ebpf_try_result_).error());  \
    std::move(ebpf_try_result_).value();                          \
  })
