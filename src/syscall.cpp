// The bpf() seam. Every command is one small function: fill the attribute, call, name the error.
#include "ebpf/syscall.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace ebpf::sys {

namespace {

constexpr std::array<std::string_view, 37> kCmdNames = {
    "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
    "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
    "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
    "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
    "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH",
    "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE",
    "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS", "BPF_ITER_CREATE",
    "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
};

template <class Attr>
Result<long> call(Cmd cmd, Attr& attr) noexcept {
  return bpf(cmd, &attr, sizeof attr);
}

template <class Attr>
Result<Fd> call_fd(Cmd cmd, Attr& attr) noexcept {
  auto r = call(cmd, attr);
  if (!r) return std::move(r).error();
  return Fd(static_cast<int>(*r));
}

template <class Attr>
Result<void> call_void(Cmd cmd, Attr& attr) noexcept {
  auto r = call(cmd, attr);
  if (!r) return std::move(r).error();
  return ok();
}

}  // namespace

std::string_view name(Cmd cmd) noexcept {
  auto i = static_cast<std::size_t>(cmd);
  return i < kCmdNames.size() ? kCmdNames[i] : std::string_view("BPF_UNKNOWN_CMD");
}

Result<long> bpf(Cmd cmd, void* attr, std::size_t size) noexcept {
  long r;
  do {
    r = ::syscall(SYS_bpf, static_cast<int>(cmd), attr, size);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Error::from_errno(errno, std::string(name(cmd)));
  return r;
}

Result<Fd> map_create(const MapCreateAttr& attr) {
  MapCreateAttr copy = attr;
  return call_fd(Cmd::map_create, copy);
}

namespace {
Result<void> elem_op(Cmd cmd, int map_fd, const void* key, const void* value, std::uint64_t flags) noexcept {
  MapElemAttr attr{.map_fd = static_cast<std::uint32_t>(map_fd), .key = ptr(key), .value = ptr(value),
                   .flags = flags};
  return call_void(cmd, attr);
}
}  // namespace

Result<void> map_lookup_elem(int fd, const void* key, void* value, std::uint64_t flags) noexcept {
  return elem_op(Cmd::map_lookup_elem, fd, key, value, flags);
}
Result<void> map_update_elem(int fd, const void* key, const void* value, std::uint64_t flags) noexcept {
  return elem_op(Cmd::map_update_elem, fd, key, value, flags);
}
Result<void> map_delete_elem(int fd, const void* key, std::uint64_t flags) noexcept {
  return elem_op(Cmd::map_delete_elem, fd, key, nullptr, flags);
}
Result<void> map_get_next_key(int fd, const void* key, void* next_key) noexcept {
  return elem_op(Cmd::map_get_next_key, fd, key, next_key, 0);
}
Result<void> map_lookup_and_delete_elem(int fd, const void* key, void* value, std::uint64_t flags) noexcept {
  return elem_op(Cmd::map_lookup_and_delete_elem, fd, key, value, flags);
}
Result<void> map_freeze(int fd) noexcept { return elem_op(Cmd::map_freeze, fd, nullptr, nullptr, 0); }

Result<void> map_batch(Cmd cmd, MapBatchAttr& attr) noexcept { return call_void(cmd, attr); }

Result<Fd> prog_load(ProgLoadAttr& attr) noexcept {
  // The kernel returns EAGAIN when the verifier was interrupted or memory was short; retry a few times.
  for (int attempt = 0;; ++attempt) {
    auto r = call_fd(Cmd::prog_load, attr);
    if (r || r.error().sys_errno() != EAGAIN || attempt == 4) return r;
  }
}

Result<void> obj_pin(int fd, const char* path) noexcept {
  ObjPinAttr attr{.pathname = ptr(path), .bpf_fd = static_cast<std::uint32_t>(fd)};
  return call_void(Cmd::obj_pin, attr);
}

Result<Fd> obj_get(const char* path, std::uint32_t file_flags) noexcept {
  ObjPinAttr attr{.pathname = ptr(path), .file_flags = file_flags};
  return call_fd(Cmd::obj_get, attr);
}

Result<void> prog_attach(const ProgAttachAttr& attr) noexcept {
  ProgAttachAttr copy = attr;
  return call_void(Cmd::prog_attach, copy);
}
Result<void> prog_detach(const ProgAttachAttr& attr) noexcept {
  ProgAttachAttr copy = attr;
  return call_void(Cmd::prog_detach, copy);
}

Result<void> prog_test_run(TestRunAttr& attr) noexcept { return call_void(Cmd::prog_test_run, attr); }

namespace {
struct IdAttr {
  std::uint32_t id = 0;  // start_id / prog_id / map_id / btf_id / link_id
  std::uint32_t next_id = 0;
  std::uint32_t open_flags = 0;
};

Cmd next_id_cmd(ObjKind kind) noexcept {
  switch (kind) {
    case ObjKind::prog: return Cmd::prog_get_next_id;
    case ObjKind::map: return Cmd::map_get_next_id;
    case ObjKind::btf: return Cmd::btf_get_next_id;
    case ObjKind::link: return Cmd::link_get_next_id;
  }
  return Cmd::prog_get_next_id;
}

Cmd fd_by_id_cmd(ObjKind kind) noexcept {
  switch (kind) {
    case ObjKind::prog: return Cmd::prog_get_fd_by_id;
    case ObjKind::map: return Cmd::map_get_fd_by_id;
    case ObjKind::btf: return Cmd::btf_get_fd_by_id;
    case ObjKind::link: return Cmd::link_get_fd_by_id;
  }
  return Cmd::prog_get_fd_by_id;
}
}  // namespace

Result<std::uint32_t> get_next_id(ObjKind kind, std::uint32_t start_id) noexcept {
  IdAttr attr{.id = start_id};
  auto r = call(next_id_cmd(kind), attr);
  if (!r) return std::move(r).error();
  return attr.next_id;
}

Result<Fd> get_fd_by_id(ObjKind kind, std::uint32_t id, std::uint32_t open_flags) noexcept {
  IdAttr attr{.id = id, .open_flags = open_flags};
  auto r = call_fd(fd_by_id_cmd(kind), attr);
  if (!r && r.error().sys_errno() == ENOENT)
    return Error(Errc::not_found, std::string(name(fd_by_id_cmd(kind))), "no object with id " + std::to_string(id),
                 ENOENT);
  return r;
}

Result<void> obj_get_info_by_fd(int fd, void* info, std::uint32_t& len) noexcept {
  struct {
    std::uint32_t bpf_fd;
    std::uint32_t info_len;
    std::uint64_t info;
  } attr{static_cast<std::uint32_t>(fd), len, ptr(info)};
  auto r = call(Cmd::obj_get_info_by_fd, attr);
  if (!r) return std::move(r).error();
  len = attr.info_len;
  return ok();
}

Result<void> prog_query(ProgQueryAttr& attr) noexcept { return call_void(Cmd::prog_query, attr); }

Result<Fd> raw_tracepoint_open(const char* tp_name, int prog_fd, std::uint64_t cookie) noexcept {
  struct {
    std::uint64_t name;
    std::uint32_t prog_fd;
    std::uint32_t pad;
    std::uint64_t cookie;
  } attr{ptr(tp_name), static_cast<std::uint32_t>(prog_fd), 0, cookie};
  // Kernels before 6.10 reject a non-zero tail they do not know; pass the cookie only when used.
  auto size = cookie != 0 ? sizeof attr : offsetof(decltype(attr), pad);
  auto r = bpf(Cmd::raw_tracepoint_open, &attr, size);
  if (!r) return std::move(r).error();
  return Fd(static_cast<int>(*r));
}

Result<Fd> btf_load(BtfLoadAttr& attr) noexcept { return call_fd(Cmd::btf_load, attr); }

Result<void> task_fd_query(TaskFdQueryAttr& attr) noexcept { return call_void(Cmd::task_fd_query, attr); }

Result<Fd> link_create(const LinkCreateAttr& attr) noexcept {
  LinkCreateAttr copy = attr;
  return call_fd(Cmd::link_create, copy);
}

Result<void> link_update(int link_fd, int new_prog_fd, std::uint32_t flags, int old_prog_fd) noexcept {
  struct {
    std::uint32_t link_fd, new_prog_fd, flags, old_prog_fd;
  } attr{static_cast<std::uint32_t>(link_fd), static_cast<std::uint32_t>(new_prog_fd), flags,
         static_cast<std::uint32_t>(old_prog_fd)};
  return call_void(Cmd::link_update, attr);
}

Result<void> link_detach(int link_fd) noexcept {
  struct {
    std::uint32_t link_fd;
  } attr{static_cast<std::uint32_t>(link_fd)};
  return call_void(Cmd::link_detach, attr);
}

Result<Fd> enable_stats(std::uint32_t type) noexcept {
  struct {
    std::uint32_t type;
  } attr{type};
  return call_fd(Cmd::enable_stats, attr);
}

Result<Fd> iter_create(int link_fd, std::uint32_t flags) noexcept {
  struct {
    std::uint32_t link_fd, flags;
  } attr{static_cast<std::uint32_t>(link_fd), flags};
  return call_fd(Cmd::iter_create, attr);
}

Result<void> prog_bind_map(int prog_fd, int map_fd, std::uint32_t flags) noexcept {
  struct {
    std::uint32_t prog_fd, map_fd, flags;
  } attr{static_cast<std::uint32_t>(prog_fd), static_cast<std::uint32_t>(map_fd), flags};
  return call_void(Cmd::prog_bind_map, attr);
}

Result<Fd> token_create(int bpffs_fd, std::uint32_t flags) noexcept {
  struct {
    std::uint32_t flags, bpffs_fd;
  } attr{flags, static_cast<std::uint32_t>(bpffs_fd)};
  return call_fd(Cmd::token_create, attr);
}

}  // namespace ebpf::sys
