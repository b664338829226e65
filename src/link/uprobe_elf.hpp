// Private helper of the uprobe and USDT code: reading little-endian fields of ELF records (symbols, version
// definitions, notes) at any alignment. Callers check the bounds first.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>

namespace ebpf::detail {

template <class T>
T load_le(std::span<const std::byte> bytes, std::size_t off) {
  T v{};
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

}  // namespace ebpf::detail
