// Creating an object's maps: BTF ids when the object's BTF is loaded, inner map templates, pinning by name,
// global data contents (frozen .rodata / .kconfig), and `values` slots once programs exist.
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstring>

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

// Maps the kernel sizes itself: perf event arrays default to one slot per possible CPU.
Result<void> apply_defaults(MapSpec& m) {
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

void fill_kconfig(MapDefinition& def) {
  for (const auto& v : def.variables) {
    if (v.name == "LINUX_KERNEL_VERSION" && v.size == 4 && v.offset + 4 <= def.contents.size()) {
      auto kv = kernel_version();
      std::uint32_t code = kv ? kv->code() : 0;
      std::memcpy(def.contents.data() + v.offset, &code, 4);
    }
    // Other CONFIG_* values would come from /proc/config.gz (not read: no zlib); they stay 0.
  }
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
  int btf_fd = st.btf_fd.valid() ? st.btf_fd.get() : -1;
  for (auto& def : st.spec.maps) {
    if (def.source == MapSource::kconfig) fill_kconfig(def);
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
