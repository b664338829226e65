// Object: open (parse), adjust, load (BTF, maps, programs, slots), then access by name.
#include <cstring>

#include "load_state.hpp"
#include "struct_ops.hpp"

namespace ebpf {
namespace {

// The data-section map and variable holding global `name`.
std::pair<MapDefinition*, const Variable*> find_global(ObjectSpec& spec, std::string_view name) {
  for (auto& m : spec.maps) {
    if (m.source != MapSource::data_section) continue;
    for (const auto& v : m.variables)
      if (v.name == name) return {&m, &v};
  }
  return {nullptr, nullptr};
}

Error no_global(std::string_view name) {
  return Error(Errc::not_found, "BPF object", "no global variable '" + std::string(name) + "' in any data section");
}

}  // namespace

Object::Object(std::unique_ptr<State> state) : state_(std::move(state)) {}
Object::Object(Object&&) noexcept = default;
Object& Object::operator=(Object&&) noexcept = default;
Object::~Object() = default;

Result<Object> Object::open(const std::string& path) { return from_spec(EBPF_TRY(ObjectSpec::open(path))); }
Result<Object> Object::open(std::span<const std::byte> bytes) { return from_spec(EBPF_TRY(ObjectSpec::parse(bytes))); }

Object Object::from_spec(ObjectSpec spec) {
  auto st = std::make_unique<State>();
  st->spec = std::move(spec);
  return Object(std::move(st));
}

ObjectSpec& Object::spec() noexcept { return state_->spec; }
const ObjectSpec& Object::spec() const noexcept { return state_->spec; }
bool Object::loaded() const noexcept { return state_->loaded; }

Result<void> Object::set_global(std::string_view name, std::span<const std::byte> value) {
  if (state_->loaded)
    return Error::invalid("BPF object", "set_global('" + std::string(name) + "') after load: use write_global()");
  auto [map, var] = find_global(state_->spec, name);
  if (map == nullptr) return no_global(name);
  if (var->size != value.size())
    return Error::invalid("BPF object", "global '" + std::string(name) + "' is " + std::to_string(var->size) +
                                            " bytes, got " + std::to_string(value.size()));
  if (var->offset + value.size() > map->contents.size())
    return Error(Errc::bad_format, "BPF object", "global '" + std::string(name) + "' lies outside its section");
  std::memcpy(map->contents.data() + var->offset, value.data(), value.size());
  return ok();
}

Result<void> Object::load(const ObjectLoadOptions& options) {
  State& st = *state_;
  if (st.loaded) return Error::invalid("BPF object", "already loaded");
  if (options.kernel_btf) st.kernel_btf = options.kernel_btf;
  if (st.spec.btf) {
    // Programs and maps load without BTF when the kernel refuses it (as libbpf does); only features that
    // need BTF (global functions, spin locks, kptrs) then fail, each with its own error.
    if (auto blob = detail::kernel_ready_btf(st.spec))
      if (auto fixed = btf::Btf::parse(*blob))
        if (auto fd = fixed->load_into_kernel()) st.btf_fd = std::move(*fd);
  }
  EBPF_TRY(detail::create_maps(st, options));
  EBPF_TRY(detail::load_programs(st, options));
  EBPF_TRY(detail::fill_map_slots(st));
  EBPF_TRY(detail::create_struct_ops_maps(st));  // needs the programs' fds
  st.loaded = true;
  return ok();
}

Program* Object::program(std::string_view name) noexcept {
  auto it = state_->programs.find(name);
  return it == state_->programs.end() ? nullptr : &it->second;
}

Map* Object::map(std::string_view name) noexcept {
  auto it = state_->maps.find(name);
  return it == state_->maps.end() ? nullptr : &it->second;
}

const Error* Object::program_error(std::string_view name) const noexcept {
  auto it = state_->program_errors.find(name);
  return it == state_->program_errors.end() ? nullptr : &it->second;
}

std::vector<std::string> Object::loaded_programs() const {
  std::vector<std::string> out;
  for (const auto& p : state_->spec.programs)
    if (state_->programs.contains(p.name)) out.push_back(p.name);
  return out;
}

std::vector<std::string> Object::failed_programs() const {
  std::vector<std::string> out;
  for (const auto& p : state_->spec.programs)
    if (state_->program_errors.contains(p.name)) out.push_back(p.name);
  return out;
}

Result<std::span<std::byte>> Object::global_data(std::string_view section) {
  if (auto it = state_->mappings.find(section); it != state_->mappings.end()) return it->second.bytes();
  const MapDefinition* def = state_->spec.map(section);
  Map* m = map(section);
  if (def == nullptr || m == nullptr || def->source == MapSource::btf || def->source == MapSource::legacy)
    return Error(Errc::not_found, "BPF object", "no loaded global data section '" + std::string(section) + "'");
  auto mapping = EBPF_TRY(m->mmap(!def->readonly));
  auto [it, _] = state_->mappings.emplace(std::string(section), std::move(mapping));
  return it->second.bytes().first(def->value_size);
}

Result<void> Object::read_global(std::string_view name, std::span<std::byte> out) const {
  auto [def, var] = find_global(state_->spec, name);
  if (def == nullptr) return no_global(name);
  if (out.size() != var->size)
    return Error::invalid("BPF object", "global '" + std::string(name) + "' is " + std::to_string(var->size) + " bytes");
  if (var->offset + var->size > def->value_size)
    return Error(Errc::bad_format, "BPF object", "global '" + std::string(name) + "' lies outside its section");
  auto it = state_->maps.find(def->name);
  if (it == state_->maps.end()) return Error::invalid("BPF object", "read_global before load");
  std::vector<std::byte> value(def->value_size);
  std::uint32_t key = 0;
  EBPF_TRY(it->second.lookup(std::as_bytes(std::span(&key, 1)), value));
  std::memcpy(out.data(), value.data() + var->offset, out.size());
  return ok();
}

Result<void> Object::write_global(std::string_view name, std::span<const std::byte> value) {
  auto [def, var] = find_global(state_->spec, name);
  if (def == nullptr) return no_global(name);
  if (value.size() != var->size)
    return Error::invalid("BPF object", "global '" + std::string(name) + "' is " + std::to_string(var->size) + " bytes");
  if (def->readonly) return Error::invalid("BPF object", "global '" + std::string(name) + "' is read-only after load");
  auto data = EBPF_TRY(global_data(def->name));
  if (var->offset + var->size > data.size())
    return Error(Errc::bad_format, "BPF object", "global '" + std::string(name) + "' lies outside its section");
  std::memcpy(data.data() + var->offset, value.data(), value.size());
  return ok();
}

}  // namespace ebpf
