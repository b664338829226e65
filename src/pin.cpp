#include "ebpf/pin.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr long kBpffsMagic = 0xcafe4a11;

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> make_dirs(const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) return ok();
  if (auto parent = parent_of(dir); parent != dir) EBPF_TRY(make_dirs(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error::from_errno(errno, "mkdir", "cannot create directory '" + dir + "'");
  return ok();
}

Error not_bpffs(const char* op, const std::string& path) {
  return Error(Errc::invalid_argument, op,
               "'" + path + "' is not on a bpffs mount (mount one with ensure_bpffs(), or pin under " +
                   kDefaultBpffs + ")",
               EINVAL);
}

}  // namespace

bool is_bpffs(const std::string& path) noexcept {
  struct statfs fs{};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == kBpffsMagic;
}

Result<void> ensure_bpffs(const std::string& dir) {
  if (is_bpffs(dir)) return ok();
  EBPF_TRY(make_dirs(dir));
  if (::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0)
    return Error::from_errno(errno, "mount(bpf)", "cannot mount bpffs at '" + dir + "'");
  return ok();
}

Result<void> pin_object(int fd, const std::string& path, const PinOptions& options) {
  if (fd < 0) return Error::invalid("BPF_OBJ_PIN", "empty file descriptor");
  if (path.empty() || path.back() == '/') return Error::invalid("BPF_OBJ_PIN", "pin path must name a file");
  auto dir = parent_of(path);
  // Only create directories below an existing bpffs mount: creating them elsewhere would hide the mistake.
  if (options.create_parents && !is_bpffs(dir)) {
    auto base = dir;
    while (base != "/" && !is_bpffs(base)) base = parent_of(base);
    if (base != "/") EBPF_TRY(make_dirs(dir));
  }
  if (!is_bpffs(dir)) return not_bpffs("BPF_OBJ_PIN", dir);
  if (options.replace) ::unlink(path.c_str());
  auto r = sys::obj_pin(fd, path.c_str());
  if (!r) {
    auto e = std::move(r).error();
    if (e.sys_errno() == EEXIST)
      return Error(Errc::key_exists, "BPF_OBJ_PIN", "'" + path + "' is already pinned", EEXIST);
    return e.context("pin '" + path + "'");
  }
  return ok();
}

Result<Fd> open_pinned_object(const std::string& path, PinAccess access) {
  auto r = sys::obj_get(path.c_str(), static_cast<std::uint32_t>(access));
  if (!r) {
    auto e = std::move(r).error();
    if (e.sys_errno() == ENOENT)
      return Error(Errc::not_found, "BPF_OBJ_GET", "nothing is pinned at '" + path + "'", ENOENT);
    if (e.sys_errno() == EINVAL && !is_bpffs(parent_of(path))) return not_bpffs("BPF_OBJ_GET", path);
    return e.context("open pinned '" + path + "'");
  }
  return r;
}

Result<void> unpin(const std::string& path) {
  if (!is_bpffs(parent_of(path))) return not_bpffs("unpin", path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Error(Errc::not_found, "unpin", "nothing is pinned at '" + path + "'", ENOENT);
    return Error::from_errno(errno, "unpin", "cannot remove '" + path + "'");
  }
  return ok();
}

}  // namespace ebpf
