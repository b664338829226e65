// Map creation, validation, opening (fd / id / pin), pinning and info.
#include "ebpf/map.hpp"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cstring>

#include "ebpf/system.hpp"

namespace ebpf {

namespace {

constexpr std::string_view kCreate = "BPF_MAP_CREATE";
// Every map_flags bit the kernel knows (up to BPF_F_NO_USER_CONV).
constexpr std::uint32_t kKnownFlags = (map_flags::no_user_conv << 1) - 1;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

bool is_power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Collects the first problem found in a spec, so each rule is one line.
class SpecChecker {
 public:
  explicit SpecChecker(const MapSpec& spec) : spec_(spec) {}

  void key(std::uint32_t size) { expect(spec_.key_size == size, "key_size must be " + std::to_string(size)); }
  void key_nonzero() { expect(spec_.key_size > 0, "key_size must be greater than 0"); }
  void value(std::uint32_t size) { expect(spec_.value_size == size, "value_size must be " + std::to_string(size)); }
  void value_either(std::uint32_t a, std::uint32_t b) {
    expect(spec_.value_size == a || spec_.value_size == b,
           "value_size must be " + std::to_string(a) + " or " + std::to_string(b));
  }
  void value_nonzero() { expect(spec_.value_size > 0, "value_size must be greater than 0"); }
  void entries_nonzero(std::string_view hint = {}) {
    expect(spec_.max_entries > 0, "max_entries must be greater than 0" + std::string(hint));
  }
  void entries_zero() { expect(spec_.max_entries == 0, "max_entries must be 0 (storage is per object)"); }
  void needs_flag(std::uint32_t flag, std::string_view flag_name) {
    expect((spec_.flags & flag) != 0, "flags must include " + std::string(flag_name));
  }
  void expect(bool ok, std::string message) {
    if (!ok && problem_.empty()) problem_ = std::move(message);
  }
  const std::string& problem() const { return problem_; }

 private:
  const MapSpec& spec_;
  std::string problem_;
};

void check_sizes(SpecChecker& c, const MapSpec& s) {
  switch (s.type) {
    case MapType::hash: case MapType::lru_hash: case MapType::percpu_hash: case MapType::lru_percpu_hash:
      c.key_nonzero(); c.value_nonzero(); c.entries_nonzero(); break;
    case MapType::array: case MapType::percpu_array:
      c.key(4); c.value_nonzero(); c.entries_nonzero(); break;
    case MapType::prog_array: case MapType::cgroup_array: case MapType::xskmap:
      c.key(4); c.value(4); c.entries_nonzero(); break;
    case MapType::perf_event_array:
      c.key(4); c.value(4); c.entries_nonzero(" (usually possible_cpus())"); break;
    case MapType::stack_trace: {
      // Values are arrays of u64 instruction pointers, or of 32-byte bpf_stack_build_id records.
      std::uint32_t unit = (s.flags & map_flags::stack_build_id) ? 32 : 8;
      c.key(4); c.value_nonzero();
      c.expect(s.value_size % unit == 0, "value_size must be a multiple of " + std::to_string(unit));
      c.entries_nonzero(); break;
    }
    case MapType::lpm_trie:
      c.expect(s.key_size > 4 && s.key_size <= 4 + 256,
               "key_size must be 4 (prefixlen) + 1..256 data bytes");
      c.value_nonzero(); c.entries_nonzero(); c.needs_flag(map_flags::no_prealloc, "no_prealloc"); break;
    case MapType::array_of_maps: case MapType::hash_of_maps:
      if (s.type == MapType::array_of_maps) c.key(4); else c.key_nonzero();
      c.value(4); c.entries_nonzero();
      c.expect(s.inner_map_fd >= 0, "inner_map_fd (a template inner map) is required"); break;
    case MapType::devmap: case MapType::devmap_hash:
      c.key(4); c.value_either(4, 8); c.entries_nonzero(); break;
    case MapType::cpumap: {
      c.key(4); c.value_either(4, 8); c.entries_nonzero();
      auto cpus = possible_cpus();
      if (cpus) c.expect(s.max_entries <= *cpus, "max_entries must be at most the " + std::to_string(*cpus) +
                                                      " possible CPUs");
      break;
    }
    case MapType::sockmap: case MapType::reuseport_sockarray:
      c.key(4); c.value_either(4, 8); c.entries_nonzero(); break;
    case MapType::sockhash:
      c.key_nonzero(); c.value_either(4, 8); c.entries_nonzero(); break;
    case MapType::cgroup_storage: case MapType::percpu_cgroup_storage:
      c.expect(s.key_size == 8 || s.key_size == 16,
               "key_size must be 8 (cgroup id) or 16 (struct bpf_cgroup_storage_key)");
      c.value_nonzero(); c.entries_zero(); break;
    case MapType::queue: case MapType::stack:
      c.key(0); c.value_nonzero(); c.entries_nonzero(); break;
    case MapType::sk_storage: case MapType::inode_storage: case MapType::task_storage:
    case MapType::cgrp_storage:
      c.key(4); c.value_nonzero(); c.entries_zero(); c.needs_flag(map_flags::no_prealloc, "no_prealloc");
      c.expect(s.btf_fd >= 0 && s.btf_value_type_id != 0,
               "local storage needs BTF (btf_fd, btf_key_type_id, btf_value_type_id)"); break;
    case MapType::struct_ops:
      c.key(4); c.value_nonzero(); c.expect(s.max_entries == 1, "max_entries must be 1");
      c.expect(s.btf_vmlinux_value_type_id != 0, "btf_vmlinux_value_type_id (the kernel's struct) is required");
      break;
    case MapType::ringbuf: case MapType::user_ringbuf:
      c.key(0); c.value(0);
      c.expect(is_power_of_two(s.max_entries) && s.max_entries % page_size() == 0,
               "max_entries (the buffer size in bytes) must be a power of two and a multiple of the page size (" +
                   std::to_string(page_size()) + ")");
      break;
    case MapType::bloom_filter:
      c.key(0); c.value_nonzero(); c.entries_nonzero();
      c.expect(s.map_extra <= 15, "map_extra (number of hash functions) must be at most 15"); break;
    case MapType::arena:
      c.key(0); c.value(0); c.entries_nonzero(" (pages)"); c.needs_flag(map_flags::mmapable, "mmapable");
      c.expect(s.map_extra % page_size() == 0, "map_extra (user address) must be page aligned"); break;
    case MapType::unspec: c.expect(false, "map type 'unspec' cannot be created"); break;
  }
}

void check_flags(SpecChecker& c, const MapSpec& s) {
  c.expect((s.flags & ~kKnownFlags) == 0, "unknown flag bits " + hex(s.flags & ~kKnownFlags));
  c.expect(!((s.flags & map_flags::mmapable) && s.type != MapType::array && s.type != MapType::arena),
           "mmapable is only valid for array and arena maps");
  c.expect(!((s.flags & map_flags::no_common_lru) && s.type != MapType::lru_hash &&
             s.type != MapType::lru_percpu_hash),
           "no_common_lru is only valid for LRU hash maps");
  c.expect((s.flags & (map_flags::rdonly_prog | map_flags::wronly_prog)) !=
               (map_flags::rdonly_prog | map_flags::wronly_prog),
           "rdonly_prog and wronly_prog exclude each other");
  c.expect((s.flags & (map_flags::rdonly | map_flags::wronly)) != (map_flags::rdonly | map_flags::wronly),
           "rdonly and wronly exclude each other");
  c.expect(!(s.inner_map_fd >= 0 && s.type != MapType::array_of_maps && s.type != MapType::hash_of_maps),
           "inner_map_fd is only valid for array_of_maps and hash_of_maps");
}

std::string describe(const MapSpec& s) {
  return "map '" + s.name + "' (" + std::string(name(s.type)) + ")";
}

// Adds what the spec was and, for common failures, what to do about it.
Error explain_create_failure(Error error, const MapSpec& s) {
  std::string hint;
  switch (error.sys_errno()) {
    case EPERM:
      hint = "creating maps needs CAP_BPF (or CAP_SYS_ADMIN)";
      break;
    case E2BIG:
      if (s.type == MapType::cpumap) hint = "cpumap max_entries exceeds the possible CPUs";
      break;
    case EINVAL:
      hint = "the kernel rejected key_size " + std::to_string(s.key_size) + ", value_size " +
             std::to_string(s.value_size) + ", max_entries " + std::to_string(s.max_entries) + ", flags " +
             hex(s.flags);
      break;
    default:
      break;
  }
  if (!hint.empty()) error.context(hint);
  error.context(describe(s));
  return error;
}

MapInfo decode(const BpfMapInfo& raw) {
  MapInfo info;
  info.type = static_cast<MapType>(raw.type);
  info.id = raw.id;
  info.key_size = raw.key_size;
  info.value_size = raw.value_size;
  info.max_entries = raw.max_entries;
  info.flags = raw.map_flags;
  info.name.assign(raw.name, strnlen(raw.name, sizeof raw.name));
  info.ifindex = raw.ifindex;
  info.netns_dev = raw.netns_dev;
  info.netns_ino = raw.netns_ino;
  info.btf_id = raw.btf_id;
  info.btf_key_type_id = raw.btf_key_type_id;
  info.btf_value_type_id = raw.btf_value_type_id;
  info.btf_vmlinux_value_type_id = raw.btf_vmlinux_value_type_id;
  info.btf_vmlinux_id = raw.btf_vmlinux_id;
  info.map_extra = raw.map_extra;
  return info;
}

Result<BpfMapInfo> raw_info(int fd) {
  BpfMapInfo raw;
  std::uint32_t len = sizeof raw;
  EBPF_TRY(sys::obj_get_info_by_fd(fd, &raw, len));
  return raw;
}

// What a descriptor refers to ("anon_inode:bpf-map", "/dev/null", ...), or empty if /proc is unavailable.
std::string describe_fd(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  auto n = ::readlink(link, target, sizeof target - 1);
  if (n < 0) return {};
  return std::string(target, static_cast<std::size_t>(n));
}

}  // namespace

bool is_per_cpu(MapType type) noexcept {
  return type == MapType::percpu_hash || type == MapType::percpu_array || type == MapType::lru_percpu_hash ||
         type == MapType::percpu_cgroup_storage;
}

Result<std::size_t> value_buffer_size(MapType type, std::uint32_t value_size) {
  if (!is_per_cpu(type)) return std::size_t{value_size};
  auto cpus = EBPF_TRY(possible_cpus());
  return std::size_t{cpus} * ((std::size_t{value_size} + 7) & ~std::size_t{7});
}

Result<void> validate_object_name(std::string_view name, std::string_view operation) {
  if (name.size() > 15)
    return Error::invalid(std::string(operation), "name '" + std::string(name) + "' is longer than 15 characters");
  for (char ch : name) {
    bool allowed = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                   ch == '.';
    if (!allowed)
      return Error::invalid(std::string(operation), "name '" + std::string(name) +
                                                        "' may only contain letters, digits, '_' and '.'");
  }
  return ok();
}

Result<void> validate(const MapSpec& spec) {
  EBPF_TRY(validate_object_name(spec.name, kCreate));
  if (static_cast<std::uint32_t>(spec.type) >= kMapTypeCount)
    return Error::invalid(std::string(kCreate), "unknown map type " +
                                                    std::to_string(static_cast<std::uint32_t>(spec.type)));
  SpecChecker checker(spec);
  check_flags(checker, spec);
  check_sizes(checker, spec);
  if (!checker.problem().empty()) return Error::invalid(std::string(kCreate), describe(spec) + ": " + checker.problem());
  return ok();
}

Result<Map> Map::make(Fd fd, MapType type, std::string name, std::uint32_t key_size, std::uint32_t value_size,
                      std::uint32_t max_entries, std::uint32_t flags) {
  Map map;
  map.value_buffer_size_ = EBPF_TRY(ebpf::value_buffer_size(type, value_size));
  map.fd_ = std::move(fd);
  map.type_ = type;
  map.name_ = std::move(name);
  map.key_size_ = key_size;
  map.value_size_ = value_size;
  map.max_entries_ = max_entries;
  map.flags_ = flags;
  return map;
}

Result<Map> Map::create(const MapSpec& spec) {
  EBPF_TRY(validate(spec));
  EBPF_TRY(raise_memlock_limit());
  sys::MapCreateAttr attr;
  attr.map_type = static_cast<std::uint32_t>(spec.type);
  attr.key_size = spec.key_size;
  attr.value_size = spec.value_size;
  attr.max_entries = spec.max_entries;
  attr.map_flags = spec.flags;
  if (spec.inner_map_fd >= 0) attr.inner_map_fd = static_cast<std::uint32_t>(spec.inner_map_fd);
  if (spec.numa_node) {
    attr.map_flags |= map_flags::numa_node;
    attr.numa_node = *spec.numa_node;
  }
  std::memcpy(attr.map_name, spec.name.data(), spec.name.size());
  attr.map_ifindex = spec.ifindex;
  if (spec.btf_fd >= 0) {
    attr.btf_fd = static_cast<std::uint32_t>(spec.btf_fd);
    attr.btf_key_type_id = spec.btf_key_type_id;
    attr.btf_value_type_id = spec.btf_value_type_id;
  }
  attr.btf_vmlinux_value_type_id = spec.btf_vmlinux_value_type_id;
  attr.map_extra = spec.map_extra;
  if (spec.value_type_btf_obj_fd >= 0) {
    attr.map_flags |= map_flags::vtype_btf_obj_fd;
    attr.value_type_btf_obj_fd = spec.value_type_btf_obj_fd;
  }
  if (spec.token_fd >= 0) {
    attr.map_flags |= map_flags::token_fd;
    attr.map_token_fd = spec.token_fd;
  }
  auto fd = sys::map_create(attr);
  if (!fd) return explain_create_failure(std::move(fd).error(), spec);
  auto map = EBPF_TRY(
      make(std::move(*fd), spec.type, spec.name, spec.key_size, spec.value_size, spec.max_entries, spec.flags));
  if (spec.type == MapType::arena) map.arena_address_ = spec.map_extra;
  return map;
}

Result<Map> Map::from_info(Fd fd, const BpfMapInfo& raw) {
  auto map = EBPF_TRY(make(std::move(fd), static_cast<MapType>(raw.type),
                           std::string(raw.name, strnlen(raw.name, sizeof raw.name)), raw.key_size, raw.value_size,
                           raw.max_entries, raw.map_flags));
  if (map.type_ == MapType::arena) map.arena_address_ = raw.map_extra;
  return map;
}

Result<Map> Map::from_fd(Fd fd) {
  constexpr std::string_view kOp = "BPF_OBJ_GET_INFO_BY_FD";
  if (!fd.valid()) return Error::invalid(std::string(kOp), "not a BPF map: the descriptor is empty");
  if (::fcntl(fd.get(), F_GETFD) < 0)
    return Error::from_errno(errno, std::string(kOp), "descriptor " + std::to_string(fd.get()) + " is not open");
  // bpf_obj_get_info_by_fd answers for programs, links and BTF too, with their own layout: check the kind.
  auto target = describe_fd(fd.get());
  if (!target.empty() && target != "anon_inode:bpf-map")
    return Error::invalid(std::string(kOp), "descriptor " + std::to_string(fd.get()) + " is not a BPF map (it is " +
                                                target + ")");
  auto raw = raw_info(fd.get());
  if (!raw) {
    auto error = std::move(raw).error();
    return error.context("descriptor " + std::to_string(fd.get()) + " is not a usable BPF map");
  }
  return from_info(std::move(fd), *raw);
}

Result<Map> Map::from_id(std::uint32_t id) {
  auto fd = EBPF_TRY(sys::get_fd_by_id(sys::ObjKind::map, id));
  return from_fd(std::move(fd));
}

Result<Map> Map::open_pinned(const std::string& path, std::uint32_t file_flags) {
  auto fd = sys::obj_get(path.c_str(), file_flags);
  if (!fd) {
    auto error = std::move(fd).error();
    if (error.sys_errno() == ENOENT)
      return Error(Errc::not_found, error.operation(), "no pinned object at '" + path + "'", ENOENT);
    return error.context("open pinned map '" + path + "'");
  }
  auto map = from_fd(std::move(*fd));
  if (!map) return std::move(map).error().context("'" + path + "'");
  return map;
}

Result<void> Map::pin(const std::string& path) const {
  auto r = sys::obj_pin(fd(), path.c_str());
  if (!r) return std::move(r).error().context("pin map '" + name_ + "' at '" + path + "'");
  return ok();
}

Result<void> Map::unpin(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    int e = errno;
    if (e == ENOENT) return Error(Errc::not_found, "unlink", "no pinned object at '" + path + "'", ENOENT);
    return Error::from_errno(e, "unlink", "cannot unpin '" + path + "'");
  }
  return ok();
}

Result<Map> Map::clone() const {
  auto fd = EBPF_TRY(fd_.dup());
  auto copy = EBPF_TRY(make(std::move(fd), type_, name_, key_size_, value_size_, max_entries_, flags_));
  copy.arena_address_ = arena_address_;
  return copy;
}

Result<MapInfo> map_info(int map_fd) {
  auto raw = EBPF_TRY(raw_info(map_fd));
  return decode(raw);
}

Result<MapInfo> Map::info() const { return map_info(fd()); }

Result<std::uint32_t> Map::id() const {
  auto raw = EBPF_TRY(raw_info(fd()));
  return raw.id;
}

}  // namespace ebpf
