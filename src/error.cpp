#include "ebpf/error.hpp"

#include <cstring>
#include <vector>

namespace ebpf {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::key_not_found: return "key not found";
    case Errc::key_exists: return "key exists";
    case Errc::not_found: return "not found";
    case Errc::permission: return "permission denied";
    case Errc::not_supported: return "not supported";
    case Errc::verifier: return "rejected by the verifier";
    case Errc::no_space: return "no space";
    case Errc::busy: return "busy";
    case Errc::bad_format: return "bad format";
    case Errc::io: return "i/o error";
    case Errc::timeout: return "timed out";
  }
  return "unknown";
}

std::string_view errno_name(int e) noexcept {
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ENOTSUP: return "EOPNOTSUPP";
    case ENOTSOCK: return "ENOTSOCK";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case ENETDOWN: return "ENETDOWN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENXIO: return "ENXIO";
    case EOVERFLOW: return "EOVERFLOW";
    case 524: return "ENOTSUPP";
    default: return "errno";
  }
}

Error Error::from_errno(int e, std::string operation, std::string message) {
  Errc code;
  switch (e) {
    case ENOENT: code = Errc::key_not_found; break;
    case EEXIST: code = Errc::key_exists; break;
    case EPERM:
    case EACCES: code = Errc::permission; break;
    case EOPNOTSUPP:
    case 524 /* ENOTSUPP, kernel-internal */:
    case ENOSYS: code = Errc::not_supported; break;
    case E2BIG:
    case ENOSPC:
    case ENOMEM: code = Errc::no_space; break;
    case EBUSY:
    case EAGAIN: code = Errc::busy; break;
    case EINVAL: code = Errc::invalid_argument; break;
    case ETIMEDOUT: code = Errc::timeout; break;
    default: code = Errc::io; break;
  }
  if (message.empty()) message = e == 524 ? "operation not supported by the kernel" : std::strerror(e);
  return Error(code, std::move(operation), std::move(message), e);
}

Error& Error::with_verifier_log(std::string log, bool truncated) {
  log_ = std::make_shared<const std::string>(std::move(log));
  log_truncated_ = truncated;
  return *this;
}

Error& Error::context(std::string_view what) {
  message_ = std::string(what) + ": " + message_;
  return *this;
}

std::string Error::summary(std::size_t max_lines) const {
  if (!log_ || log_->empty()) return message_;
  // Collect the last non-empty lines, skipping the verifier's statistics trailer ("processed N insns ...").
  std::vector<std::string_view> lines;
  std::string_view rest(*log_);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    if (!line.empty() && !line.starts_with("processed ") && !line.starts_with("verification time"))
      lines.push_back(line);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  std::string out;
  auto first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (auto i = first; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += lines[i];
  }
  if (log_truncated_) out += " (log truncated)";
  return out;
}

std::string Error::to_string() const {
  std::string out = operation_;
  if (!out.empty()) out += ": ";
  out += message_;
  if (errno_ != 0) {
    out += " (";
    auto name = errno_name(errno_);
    out += name == "errno" ? "errno " + std::to_string(errno_) : std::string(name);
    out += ")";
  }
  if (log_ && !log_->empty()) {
    out += "; verifier: ";
    out += summary();
  }
  return out;
}

}  // namespace ebpf
