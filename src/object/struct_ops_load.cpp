// Loading struct_ops maps: the object's struct is matched member by member (by name) with the kernel's
// struct of the same name, programs get the kernel struct's BTF id and member index, and the map value is
// rebuilt in the kernel's layout (struct bpf_struct_ops_<name>: a common header, then the struct) with
// program fds in the function-pointer slots and data members copied.
#include <algorithm>
#include <cstring>

#include "struct_ops.hpp"

namespace ebpf::detail {
namespace {

constexpr std::string_view kOp = "struct_ops";

// The kernel's struct, its bpf_struct_ops_<name> value wrapper and where the struct sits inside that value.
struct KernelStructOps {
  btf::Type kstruct;
  btf::Type value;
  std::uint32_t data_offset = 0;
};

// "tcp_congestion_ops___v2" names the kernel's "tcp_congestion_ops" (CO-RE flavour suffix).
std::string_view essential_name(std::string_view name) {
  auto at = name.find("___");
  return at == std::string_view::npos ? name : name.substr(0, at);
}

Result<KernelStructOps> kernel_struct_ops(const btf::Btf& kbtf, std::string_view local_name) {
  std::string name(essential_name(local_name));
  auto kstruct = kbtf.find(name, btf::Kind::struct_);
  if (!kstruct) return Error(Errc::not_found, std::string(kOp), "the kernel's BTF has no struct '" + name + "'");
  auto value = kbtf.find("bpf_struct_ops_" + name, btf::Kind::struct_);
  if (!value)
    return Error(Errc::not_supported, std::string(kOp),
                 "struct '" + name + "' is not a struct_ops type of this kernel (no bpf_struct_ops_" + name +
                     " in its BTF)");
  for (std::uint32_t i = 0; i < value->vlen(); ++i) {
    auto m = value->member(i);
    auto t = kbtf.skip_modifiers(m.type);
    if (t && t->id() == kstruct->id()) return KernelStructOps{*kstruct, *value, m.bit_offset / 8};
  }
  return Error(Errc::bad_format, std::string(kOp), "bpf_struct_ops_" + name + " does not contain struct " + name);
}

std::optional<std::uint32_t> member_index(const btf::Type& s, std::string_view name) {
  for (std::uint32_t i = 0; i < s.vlen(); ++i)
    if (s.member(i).name == name) return i;
  return std::nullopt;
}

bool is_function_pointer(const btf::Btf& btf, btf::TypeId id) {
  auto t = btf.skip_modifiers(id);
  if (!t || t->kind() != btf::Kind::ptr) return false;
  auto target = btf.skip_modifiers(t->ref());
  return target && target->kind() == btf::Kind::func_proto;
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

Error map_error(const MapDefinition& def, std::string message, Errc code = Errc::invalid_argument) {
  return Error(code, std::string(kOp), "map '" + def.name + "': " + std::move(message));
}

const std::string* slot_program(const MapDefinition& def, std::uint32_t offset) {
  for (const auto& [at, prog] : def.initial_slots)
    if (at == offset) return &prog;
  return nullptr;
}

// Writes one member of the object's struct into the kernel value.
Result<void> place_member(Object::State& st, const MapDefinition& def, const KernelStructOps& k,
                          const btf::Member& m, std::vector<std::byte>& value) {
  const btf::Btf& local = *st.spec.btf;
  const btf::Btf& kbtf = **kernel_btf(st);
  std::uint32_t lo = m.bit_offset / 8;
  std::uint32_t lsize = EBPF_TRY(local.resolve_size(m.type));
  if (lo + lsize > def.contents.size()) return map_error(def, "member '" + std::string(m.name) + "' is out of range");
  auto bytes = std::span(def.contents).subspan(lo, lsize);
  const std::string* prog = slot_program(def, lo);
  auto ki = member_index(k.kstruct, m.name);
  if (!ki) {
    if (prog == nullptr && all_zero(bytes) && m.bitfield_size == 0) return ok();  // unset: nothing to carry over
    return map_error(def, "the kernel's struct " + std::string(k.kstruct.name()) + " has no member '" +
                              std::string(m.name) + "'", Errc::not_supported);
  }
  if (m.bitfield_size != 0) return map_error(def, "bitfield member '" + std::string(m.name) + "' is not supported");
  auto km = k.kstruct.member(*ki);
  std::size_t at = k.data_offset + km.bit_offset / 8;
  if (is_function_pointer(local, m.type)) {
    if (!is_function_pointer(kbtf, km.type))
      return map_error(def, "member '" + std::string(m.name) + "' is a function pointer here but not in the kernel");
    if (prog == nullptr) return ok();
    auto loaded = st.programs.find(*prog);
    if (loaded == st.programs.end())
      return map_error(def, "program '" + *prog + "' for member '" + std::string(m.name) + "' was not loaded");
    auto fd = static_cast<std::uint64_t>(loaded->second.fd());
    std::memcpy(value.data() + at, &fd, sizeof fd);
    return ok();
  }
  std::uint32_t ksize = EBPF_TRY(kbtf.resolve_size(km.type));
  if (ksize != lsize)
    return map_error(def, "member '" + std::string(m.name) + "' is " + std::to_string(lsize) + " bytes, the kernel's is " +
                              std::to_string(ksize));
  std::memcpy(value.data() + at, bytes.data(), lsize);
  return ok();
}

// The MapDefinition (struct_ops) whose function pointers name `prog`, and the byte offset of that pointer.
std::pair<const MapDefinition*, std::uint32_t> user_of(const ObjectSpec& spec, std::string_view prog) {
  for (const auto& def : spec.maps)
    if (def.type == MapType::struct_ops)
      for (const auto& [at, name] : def.initial_slots)
        if (name == prog) return {&def, at};
  return {nullptr, 0};
}

}  // namespace

Result<StructOpsTarget> struct_ops_target(Object::State& st, const ProgramSpec& prog) {
  auto [def, offset] = user_of(st.spec, prog.name);
  if (def == nullptr || !st.spec.btf)
    return Error::invalid("BPF_PROG_LOAD", "struct_ops program '" + prog.name +
                                               "' is not referenced by any SEC(\".struct_ops\") variable");
  const btf::Type local = st.spec.btf->at(def->btf_value_type);
  const btf::Btf* kbtf = EBPF_TRY(kernel_btf(st));
  auto k = EBPF_TRY(kernel_struct_ops(*kbtf, local.name()));
  for (std::uint32_t i = 0; i < local.vlen(); ++i) {
    auto m = local.member(i);
    if (m.bit_offset / 8 != offset) continue;
    auto ki = member_index(k.kstruct, m.name);
    if (!ki)
      return map_error(*def, "the kernel's struct " + std::string(k.kstruct.name()) + " has no member '" +
                                 std::string(m.name) + "'", Errc::not_supported);
    return StructOpsTarget{k.kstruct.id(), *ki};
  }
  return map_error(*def, "no member at offset " + std::to_string(offset) + " for program '" + prog.name + "'",
                   Errc::bad_format);
}

Result<void> create_struct_ops_maps(Object::State& st) {
  for (auto& def : st.spec.maps) {
    if (def.type != MapType::struct_ops) continue;
    if (!st.btf_fd.valid())
      return map_error(def, "struct_ops maps need the object's BTF in the kernel, and it did not load");
    const btf::Type local = st.spec.btf->at(def.btf_value_type);
    const btf::Btf* kbtf = EBPF_TRY(kernel_btf(st));
    auto k = EBPF_TRY(kernel_struct_ops(*kbtf, local.name()));
    std::vector<std::byte> value(EBPF_TRY(kbtf->resolve_size(k.value.id())));
    for (std::uint32_t i = 0; i < local.vlen(); ++i) EBPF_TRY(place_member(st, def, k, local.member(i), value));
    MapSpec spec;
    spec.type = MapType::struct_ops;
    spec.name = kernel_name(def.name);
    spec.key_size = 4;
    spec.value_size = static_cast<std::uint32_t>(value.size());
    spec.max_entries = 1;
    spec.flags = def.flags;
    spec.btf_fd = st.btf_fd.get();
    spec.btf_vmlinux_value_type_id = k.value.id();
    auto map = Map::create(spec);
    if (!map) return Error(map.error()).context("struct_ops map '" + def.name + "'");
    def.contents = std::move(value);
    def.value_size = spec.value_size;
    st.maps.emplace(def.name, std::move(*map));
  }
  return ok();
}

}  // namespace ebpf::detail
