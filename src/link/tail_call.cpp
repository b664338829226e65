// Tail-call chains over a PROG_ARRAY: register / unregister / close all.
#include "ebpf/attach/tail_call.hpp"

#include "ebpf/link.hpp"
#include "ebpf/map.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

Result<TailCallChain> TailCallChain::create(std::uint32_t slots, const std::string& name) {
  MapSpec spec;
  spec.type = MapType::prog_array;
  spec.name = name;
  spec.key_size = 4;
  spec.value_size = 4;
  spec.max_entries = slots;
  auto map = EBPF_TRY(Map::create(spec));
  auto fd = EBPF_TRY(detail::dup_fd(map.fd(), "tail-call chain"));
  return TailCallChain(std::move(fd), slots);
}

Result<TailCallChain> TailCallChain::adopt(int prog_array_fd) {
  if (prog_array_fd < 0) return Error::invalid("tail-call chain", "no PROG_ARRAY descriptor given");
  auto dup = EBPF_TRY(detail::dup_fd(prog_array_fd, "tail-call chain"));
  auto map = EBPF_TRY(Map::from_fd(std::move(dup)));
  if (map.type() != MapType::prog_array)
    return Error::invalid("tail-call chain", "map '" + map.name() + "' is a " + std::string(name(map.type())) +
                                                 " map, not a prog_array");
  auto fd = EBPF_TRY(detail::dup_fd(map.fd(), "tail-call chain"));
  return TailCallChain(std::move(fd), map.max_entries());
}

TailCallChain& TailCallChain::operator=(TailCallChain&& other) noexcept {
  if (this != &other) {
    (void)clear_all();
    map_ = std::move(other.map_);
    slots_ = other.slots_;
    owned_ = std::move(other.owned_);
  }
  return *this;
}

TailCallChain::~TailCallChain() { (void)clear_all(); }

Result<void> TailCallChain::check_slot(std::uint32_t slot, std::string_view op) const {
  if (!map_) return Error::invalid(std::string(op), "the chain has no prog array (moved from)");
  if (slot >= slots_)
    return Error::invalid(std::string(op), "slot " + std::to_string(slot) + " is out of range: the prog array has " +
                                               std::to_string(slots_) + " slots");
  return ok();
}

Result<void> TailCallChain::set(std::uint32_t slot, const Program& program) {
  EBPF_TRY(check_slot(slot, "tail-call chain set"));
  if (!program.valid()) return Error::invalid("tail-call chain set", "the program is not loaded");
  int fd = program.fd();
  auto r = sys::map_update_elem(map_.get(), &slot, &fd);
  if (!r) return std::move(Error(r.error()).context(program.name() + " in slot " + std::to_string(slot)));
  owned_.erase(slot);  // a program the chain owned in this slot is replaced: close it
  return ok();
}

Result<void> TailCallChain::set(std::uint32_t slot, Program&& program) {
  EBPF_TRY(set(slot, static_cast<const Program&>(program)));
  owned_.insert_or_assign(slot, std::move(program));
  return ok();
}

Result<void> TailCallChain::clear(std::uint32_t slot) {
  EBPF_TRY(check_slot(slot, "tail-call chain clear"));
  auto r = sys::map_delete_elem(map_.get(), &slot);
  owned_.erase(slot);
  if (!r) {
    if (r.error().sys_errno() == ENOENT)
      return Error(Errc::key_not_found, "tail-call chain clear", "slot " + std::to_string(slot) + " is empty", ENOENT);
    return r.error();
  }
  return ok();
}

Result<void> TailCallChain::clear_all() {
  if (!map_) return ok();
  std::optional<Error> first;
  for (std::uint32_t slot = 0; slot < slots_; ++slot) {
    auto r = sys::map_delete_elem(map_.get(), &slot);
    if (!r && r.error().sys_errno() != ENOENT && !first) first = r.error();
  }
  owned_.clear();
  if (first) return *first;
  return ok();
}

Result<std::optional<std::uint32_t>> TailCallChain::program_id(std::uint32_t slot) const {
  EBPF_TRY(check_slot(slot, "tail-call chain lookup"));
  std::uint32_t id = 0;
  auto r = sys::map_lookup_elem(map_.get(), &slot, &id);
  if (!r) {
    if (r.error().sys_errno() == ENOENT) return std::optional<std::uint32_t>();
    return r.error();
  }
  return std::optional<std::uint32_t>(id);
}

}  // namespace ebpf
