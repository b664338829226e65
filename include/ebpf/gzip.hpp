// ebpf/gzip.hpp — a small, bounds-checked DEFLATE (RFC 1951) and gzip (RFC 1952) decoder.
//
// The library reads /proc/config.gz for kconfig externs without linking zlib. Every read is checked against
// the input, every back-reference against the output, and the output against `max_output`, so malformed or
// hostile input gives Errc::bad_format (or Errc::no_space past the limit), never a crash or a hang.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "ebpf/error.hpp"

namespace ebpf::gzip {

inline constexpr std::size_t kDefaultMaxOutput = std::size_t{64} << 20;

// Decodes a raw DEFLATE stream; `consumed` (optional) receives the number of input bytes used.
Result<std::vector<std::byte>> inflate(std::span<const std::byte> input, std::size_t max_output = kDefaultMaxOutput,
                                       std::size_t* consumed = nullptr);

// Decodes a gzip file (one or more concatenated members), checking each member's CRC-32 and length.
Result<std::vector<std::byte>> decompress(std::span<const std::byte> input,
                                          std::size_t max_output = kDefaultMaxOutput);

// True when the bytes start with the gzip magic number.
bool is_gzip(std::span<const std::byte> input) noexcept;

// CRC-32 (IEEE 802.3, as gzip uses), continuing from `crc` (0 to start).
std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

}  // namespace ebpf::gzip
