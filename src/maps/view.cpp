// The single check a typed map view makes when it is created.
#include <string>

#include "ebpf/map.hpp"

namespace ebpf::detail {

Result<void> check_view(const Map& map, std::string_view view, std::initializer_list<MapType> types,
                        std::uint32_t key_size, std::uint32_t value_size) {
  auto fail = [&](std::string why) {
    return Error::invalid(std::string(view), "map '" + map.name() + "' (" + std::string(name(map.type())) +
                                                 ") cannot be viewed as " + std::string(view) + ": " + why);
  };
  if (!map.valid()) return Error::invalid(std::string(view), "the map has no descriptor");
  if (std::find(types.begin(), types.end(), map.type()) == types.end()) {
    std::string expected;
    for (auto type : types) expected += (expected.empty() ? "" : " or ") + std::string(name(type));
    return fail("expected a " + expected + " map");
  }
  if (map.key_size() != key_size)
    return fail("key size " + std::to_string(map.key_size()) + ", the view's key type has " + std::to_string(key_size));
  if (map.value_size() != value_size)
    return fail("value size " + std::to_string(map.value_size()) + ", the view's value type has " +
                std::to_string(value_size));
  return ok();
}

}  // namespace ebpf::detail
