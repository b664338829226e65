// Registering struct_ops maps: bpf_link (BPF_LINK_CREATE on a map_flags::link map) or legacy map update.
#include "ebpf/attach/struct_ops.hpp"

#include <cstdint>

#include "ebpf/map.hpp"
#include "ebpf/object.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {
namespace {

constexpr std::uint32_t kKey = 0;

// Legacy registration: the map itself is registered while key 0 holds the value; deleting it unregisters.
class LegacyStructOps final : public Attachment {
 public:
  LegacyStructOps(Fd map, std::string description) : map_(std::move(map)), description_(std::move(description)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::prog_attach; }
  std::string describe() const override { return description_; }
  Result<void> detach() override {
    auto r = sys::map_delete_elem(map_.get(), &kKey);
    map_.reset();
    if (!r) return std::move(Error(r.error()).context("unregistering " + description_));
    return ok();
  }

 private:
  Fd map_;
  std::string description_;
};

Result<const Map*> struct_ops_map(Object& object, std::string_view map_name, std::string_view op) {
  if (!object.loaded()) return Error::invalid(std::string(op), "the object is not loaded");
  const Map* map = object.map(map_name);
  const MapDefinition* def = object.spec().map(map_name);
  if (map == nullptr || def == nullptr)
    return Error(Errc::not_found, std::string(op), "the object has no map '" + std::string(map_name) + "'");
  if (def->type != MapType::struct_ops)
    return Error::invalid(std::string(op), "map '" + std::string(map_name) + "' is a " + std::string(name(def->type)) +
                                               " map, not struct_ops");
  return map;
}

}  // namespace

Result<Link> attach_struct_ops(const Map& map, std::span<const std::byte> value) {
  constexpr std::string_view op = "attach struct_ops";
  if (map.fd() < 0) return Error::invalid(std::string(op), "the map is not open");
  if (map.type() != MapType::struct_ops)
    return Error::invalid(std::string(op), "map '" + map.name() + "' is a " + std::string(name(map.type())) +
                                               " map, not struct_ops");
  if (value.size() != map.value_size())
    return Error::invalid(std::string(op), "value of " + std::to_string(value.size()) + " bytes for map '" +
                                               map.name() + "' whose values are " + std::to_string(map.value_size()));
  std::string what = "struct_ops map '" + map.name() + "'";
  auto updated = sys::map_update_elem(map.fd(), &kKey, value.data());
  if (!updated) return std::move(Error(updated.error()).context("registering " + what));
  if ((map.flags() & map_flags::link) == 0) {
    auto dup = EBPF_TRY(detail::dup_fd(map.fd(), op));
    return Link(std::make_unique<LegacyStructOps>(std::move(dup), what + " (legacy registration)"));
  }
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(map.fd());  // map_fd for struct_ops links
  attr.attach_type = static_cast<std::uint32_t>(AttachType::struct_ops);
  auto link = sys::link_create(attr);
  if (!link) return std::move(Error(link.error()).context(what));
  return Link::from_fd(std::move(*link), what + " via bpf_link");
}

Result<Link> attach_struct_ops(Object& object, std::string_view map_name) {
  const Map* map = EBPF_TRY(struct_ops_map(object, map_name, "attach struct_ops"));
  return attach_struct_ops(*map, object.spec().map(map_name)->contents);
}

Result<void> update_struct_ops(Link& link, Object& object, std::string_view map_name) {
  constexpr std::string_view op = "BPF_LINK_UPDATE";
  if (link.fd() < 0) return Error::invalid(std::string(op), "not a bpf_link (legacy struct_ops cannot be swapped)");
  const Map* map = EBPF_TRY(struct_ops_map(object, map_name, op));
  if ((map->flags() & map_flags::link) == 0)
    return Error::invalid(std::string(op), "map '" + std::string(map_name) +
                                               "' is not a link map: declare it in SEC(\".struct_ops.link\")");
  auto value = object.spec().map(map_name)->contents;
  auto prepared = sys::map_update_elem(map->fd(), &kKey, value.data());
  if (!prepared) return std::move(Error(prepared.error()).context("preparing struct_ops map '" + std::string(map_name) + "'"));
  auto updated = sys::link_update(link.fd(), map->fd());
  if (!updated) return std::move(Error(updated.error()).context("struct_ops map '" + std::string(map_name) + "'"));
  return ok();
}

}  // namespace ebpf
