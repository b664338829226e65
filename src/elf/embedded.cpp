// Locating BPF ELF objects embedded in other files (skeleton-style executables carry their .bpf.o as bytes).
#include <algorithm>
#include <cstring>

#include "ebpf/elf.hpp"

namespace ebpf::elf {
namespace {

std::uint64_t le(std::span<const std::byte> b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t(std::to_integer<std::uint8_t>(b[at + i])) << (8 * i);
  return v;
}

// Size of the ELF object starting at b[0]: the furthest of its section header table end and its sections'
// ends. 0 when the header is not a plausible little-endian ELF64 BPF header or runs past the buffer.
std::uint64_t embedded_size(std::span<const std::byte> b) {
  if (b.size() < 64 || std::to_integer<int>(b[4]) != 2 || std::to_integer<int>(b[5]) != 1) return 0;
  if (le(b, 18, 2) != kMachineBpf) return 0;
  std::uint64_t shoff = le(b, 40, 8), shentsize = le(b, 58, 2), shnum = le(b, 60, 2);
  if (shoff == 0 || shentsize < 64 || shnum == 0) return 0;
  if (shoff > b.size() || shnum > (b.size() - shoff) / shentsize) return 0;
  std::uint64_t end = shoff + shnum * shentsize;
  for (std::uint64_t i = 1; i < shnum; ++i) {
    std::size_t at = shoff + i * shentsize;
    if (le(b, at + 4, 4) == kShtNobits) continue;
    std::uint64_t off = le(b, at + 24, 8), size = le(b, at + 32, 8);
    if (off > b.size() || size > b.size() - off) return 0;
    end = std::max(end, off + size);
  }
  return end;
}

}  // namespace

std::vector<EmbeddedObject> find_embedded_bpf_objects(std::span<const std::byte> bytes) {
  std::vector<EmbeddedObject> found;
  static constexpr char kMagic[] = "\x7f" "ELF";
  const auto* base = reinterpret_cast<const char*>(bytes.data());
  std::size_t pos = 0;
  while (pos + 4 <= bytes.size()) {
    const void* hit = ::memmem(base + pos, bytes.size() - pos, kMagic, 4);
    if (hit == nullptr) break;
    std::size_t at = static_cast<const char*>(hit) - base;
    auto rest = bytes.subspan(at);
    std::uint64_t size = embedded_size(rest);
    if (size != 0 && File::view(rest.first(size))) {
      found.push_back({at, size, rest.first(size)});
      pos = at + size;
    } else {
      pos = at + 1;
    }
  }
  return found;
}

}  // namespace ebpf::elf
