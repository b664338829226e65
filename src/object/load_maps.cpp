// Creating an object's maps: BTF ids when the object's BTF is loaded, inner map templates, pinning by name,
// global data contents (frozen .rodata / .kconfig), and `values` slots once programs exist.
#include <sys/stat.h>
#include <sys/utsname.h>

#include <bit>
#include <cstdint>
#include <cstring>

#include "ebpf/kconfig.hpp"
#include "ebpf/system.hpp"
#include "load_state.hpp"

namespace ebpf::detail {
namespace {

MapSpec to_map_spec(const MapDefinition& def, int btf_fd) {
  MapSpec m;
  m.type = def.type;
  m.name = kernel_name(def.name);
  m.key_size = def.key_size;
  m.value_size = def.value_size;
  m.max_entries = def.max_entries;
  m.flags = def.flags;
  m.map_extra = def.map_extra;
  if (def.numa_node != 0) m.numa_node = def.numa_node;
  if (btf_fd >= 0 && def.btf_value_type != 0) {
    m.btf_fd = btf_fd;
    m.btf_key_type_id = def.btf_key_type;
    m.btf_value_type_id = def.btf_value_type;
  }
  return m;
}

// Ring buffers must be a power-of-two number of pages: a size that is not is rounded up to the next one, as
// libbpf does, so objects may declare "256 KiB-ish" sizes. 0 stays 0 so the kernel's error shows the mistake.
std::uint32_t ringbuf_size(std::uint32_t size) {
  const std::uint64_t page = page_size();
  if (size == 0 || page == 0) return size;
  if (size % page == 0 && std::has_single_bit(size / page)) return size;
  for (std::uint64_t pages = 1; pages * page <= UINT32_MAX; pages <<= 1)
    if (pages * page > size) return static_cast<std::uint32_t>(pages * page);
  return size;  // cannot be satisfied: let the kernel refuse it
}

// Maps the loader sizes itself: perf event arrays default to one slot per possible CPU, ring buffers are
// rounded up to a power-of-two number of pages.
Result<void> apply_defaults(MapSpec& m) {
  if (m.type == MapType::ringbuf || m.type == MapType::user_ringbuf) m.max_entries = ringbuf_size(m.max_entries);
  if (m.type == MapType::perf_event_array) {
    if (m.key_size == 0) m.key_size = 4;
    if (m.value_size == 0) m.value_size = 4;
    if (m.max_entries == 0) m.max_entries = EBPF_TRY(possible_cpus());
  }
  if ((m.type == MapType::array_of_maps || m.type == MapType::hash_of_maps) && m.value_size == 0) m.value_size = 4;
  return ok();
}

Result<Map> create_one(const MapDefinition& def, int btf_fd) {
  MapSpec m = to_map_spec(def, btf_fd);
  EBPF_TRY(apply_defaults(m));
  std::optional<Map> inner;
  if (!def.inner.empty()) {
    auto inner_map = create_one(def.inner[0], btf_fd);
    if (!inner_map) return Error(inner_map.error()).context("inner map of '" + def.name + "'");
    inner.emplace(std::move(*inner_map));
    m.inner_map_fd = inner->fd();
  }
  auto map = Map::create(m);
  if (!map && m.btf_fd >= 0) {  // kernels refuse BTF for some key/value types: retry without, as libbpf does
    m.btf_fd = -1;
    m.btf_key_type_id = m.btf_value_type_id = 0;
    auto plain = Map::create(m);
    if (plain) return plain;
  }
  if (!map) return Error(map.error()).context("map '" + def.name + "'");
  return map;
}

// Values of the loader-defined LINUX_* externs libbpf provides.
Result<std::string> virtual_extern(const Variable& v) {
  auto kv = kernel_version();
  if (v.name == "LINUX_KERNEL_VERSION") return std::to_string(kv ? kv->code() : 0);
  if (v.name == "LINUX_HAS_BPF_COOKIE")  // bpf_get_attach_cookie() exists since 5.15
    return std::string(kv && kv->code() >= ((5u << 16) | (15u << 8)) ? "1" : "0");
  if (v.name == "LINUX_HAS_SYSCALL_WRAPPER") return std::string("1");  // x86-64/arm64 since 4.17
  return Error::invalid("kconfig", "extern '" + v.name + "' is not a LINUX_* value the loader knows");
}

Result<kconfig::ExternType> extern_type(const std::optional<btf::Btf>& btf, const Variable& v) {
  if (btf && v.btf_type != 0) return kconfig::classify(*btf, v.btf_type, v.name);
  if (v.size == 1 || v.size == 2 || v.size == 4 || v.size == 8)  // no BTF: an unsigned integer of its size
    return kconfig::ExternType{kconfig::ValueKind::integer, static_cast<std::uint32_t>(v.size), false};
  return Error::invalid("kconfig", "extern '" + v.name + "' has no BTF type and " + std::to_string(v.size) + " bytes");
}

// Fills .kconfig: LINUX_* values from the loader, CONFIG_* from the kernel's config (read only when needed).
Result<void> fill_kconfig(MapDefinition& def, const std::optional<btf::Btf>& btf) {
  std::optional<Result<kconfig::Config>> config;
  for (const auto& v : def.variables) {
    if (v.offset + v.size > def.contents.size())
      return Error(Errc::bad_format, "kconfig", "extern '" + v.name + "' lies outside .kconfig");
    auto type = EBPF_TRY(extern_type(btf, v));
    if (type.size != v.size)
      return Error(Errc::bad_format, "kconfig", "extern '" + v.name + "' size disagrees with its BTF type");
    auto out = std::span(def.contents).subspan(v.offset, v.size);
    std::string value;
    if (v.name.starts_with("LINUX_")) {
      value = EBPF_TRY(virtual_extern(v));
    } else {
      if (!config) config = kconfig::Config::running_kernel();
      const std::string* found = *config ? (*config)->find(v.name) : nullptr;
      if (found == nullptr) {
        if (v.weak) continue;  // unknown weak externs stay 0
        std::string why = *config ? "is not set in the kernel config" : "cannot be read: " + (*config).error().to_string();
        return Error(Errc::not_found, "kconfig",
                     "strong extern '" + v.name + "' " + why + " (declare it __weak to default to 0)");
      }
      value = *found;
    }
    EBPF_TRY(kconfig::encode(v.name, type, value, out));
  }
  return ok();
}

Result<void> set_contents(Map& map, const MapDefinition& def) {
  if (def.contents.empty()) return ok();
  std::uint32_t key = 0;
  EBPF_TRY(map.update(std::as_bytes(std::span(&key, 1)), def.contents));
  if (def.readonly) EBPF_TRY(map.freeze());
  return ok();
}

}  // namespace

std::string kernel_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (out.size() == 15) break;
    bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    out += okc ? c : '_';
  }
  return out;
}

Result<void> create_maps(Object::State& st, const ObjectLoadOptions& options) {
  if (st.spec.btf && !st.btf_fd.valid() && !st.btf_error) {  // refused (or not tried): keep the kernel's reason
    auto fd = load_object_btf(st.spec);
    if (fd) st.btf_fd = std::move(*fd);
    else st.btf_error = fd.error();
  }
  int btf_fd = st.btf_fd.valid() ? st.btf_fd.get() : -1;
  for (auto& def : st.spec.maps) {
    if (def.type == MapType::struct_ops) continue;  // struct_ops_load.cpp creates them once programs are loaded
    if (def.source == MapSource::kconfig) EBPF_TRY(fill_kconfig(def, st.spec.btf));
    std::string pin_path;
    if (def.pinning != PinType::none) {
      pin_path = options.pin_root + "/" + def.name;
      struct stat sb {};
      if (::stat(pin_path.c_str(), &sb) == 0) {
        auto pinned = Map::open_pinned(pin_path);
        if (!pinned) return Error(pinned.error()).context("pinned map '" + def.name + "'");
        if (pinned->type() != def.type || pinned->key_size() != def.key_size ||
            pinned->value_size() != def.value_size || pinned->max_entries() != def.max_entries)
          return Error::invalid("BPF_OBJ_GET", "pinned map " + pin_path + " does not match the definition of '" +
                                                   def.name + "' (type, key/value size or max_entries differ)");
        st.maps.emplace(def.name, std::move(*pinned));
        continue;
      }
    }
    auto map = EBPF_TRY(create_one(def, btf_fd));
    auto filled = set_contents(map, def);
    if (!filled) return Error(filled.error()).context("initial data of '" + def.name + "'");
    if (!pin_path.empty()) {
      auto pinned = map.pin(pin_path);
      if (!pinned) return Error(pinned.error()).context("pinning map '" + def.name + "'");
    }
    st.maps.emplace(def.name, std::move(map));
  }
  return ok();
}

Result<void> fill_map_slots(Object::State& st) {
  for (const auto& def : st.spec.maps) {
    if (def.initial_slots.empty()) continue;
    auto it = st.maps.find(def.name);
    if (it == st.maps.end()) continue;
    for (const auto& [slot, target] : def.initial_slots) {
      int fd = -1;
      if (def.type == MapType::prog_array) {
        auto p = st.programs.find(target);
        if (p == st.programs.end()) continue;  // not loaded (autoload off or failed): leave the slot empty
        fd = p->second.fd();
      } else {
        auto m = st.maps.find(target);
        if (m == st.maps.end()) return Error::invalid("BPF_MAP_UPDATE_ELEM", "map '" + def.name + "' slot " +
                                                          std::to_string(slot) + " names unknown map '" + target + "'");
        fd = m->second.fd();
      }
      auto r = it->second.set_fd(std::as_bytes(std::span(&slot, 1)), fd);
      if (!r) return Error(r.error()).context("map '" + def.name + "' slot " + std::to_string(slot));
    }
  }
  return ok();
}

}  // namespace ebpf::detail
