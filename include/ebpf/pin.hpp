// ebpf/pin.hpp — pinning kernel objects on the BPF filesystem.
//
// Any map, program, link or BTF fd can be pinned to a path on a bpffs mount so it outlives the process.
// These functions add what the raw BPF_OBJ_PIN / BPF_OBJ_GET commands lack: a check that the path is on
// bpffs (with an error saying so, instead of a bare EPERM/EINVAL), creation of missing parent directories,
// and mounting bpffs where it is absent.
#pragma once

#include <cstdint>
#include <string>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace ebpf {

inline constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

// True when `path` lies on a bpffs mount (statfs magic BPF_FS_MAGIC).
bool is_bpffs(const std::string& path) noexcept;

// Mounts bpffs at `dir` (mode 0700) unless it already is bpffs. Needs CAP_SYS_ADMIN.
Result<void> ensure_bpffs(const std::string& dir = kDefaultBpffs);

struct PinOptions {
  bool create_parents = true;  // mkdir -p the parent directories (on bpffs) first
  bool replace = false;        // unlink an existing pin at the same path first
};

// BPF_OBJ_PIN: pins `fd` at `path`, which must be on bpffs.
Result<void> pin_object(int fd, const std::string& path, const PinOptions& options = {});

enum class PinAccess : std::uint32_t { read_write = 0, read_only = 1U << 3, write_only = 1U << 4 };

// BPF_OBJ_GET: opens the object pinned at `path`. A missing pin is Errc::not_found.
Result<Fd> open_pinned_object(const std::string& path, PinAccess access = PinAccess::read_write);

// Removes a pin (the object lives on while other references exist). A missing pin is Errc::not_found.
Result<void> unpin(const std::string& path);

}  // namespace ebpf
