// DEFLATE / gzip decoding (RFC 1951 / RFC 1952) written from the RFCs: canonical Huffman codes decoded bit by
// bit (inputs here are /proc/config.gz-sized, so simplicity beats table speed), everything bounds-checked.
#include "ebpf/gzip.hpp"

#include <array>
#include <string>

namespace ebpf::gzip {
namespace {

constexpr std::size_t kMaxBits = 15;
constexpr std::size_t kLiteralCodes = 288, kDistanceCodes = 32, kLengthCodes = 19;

Error corrupt(std::string message) { return Error(Errc::bad_format, "inflate", std::move(message)); }

class BitReader {
 public:
  explicit BitReader(std::span<const std::byte> in) : in_(in) {}

  // The next `n` (≤ 16) bits, least significant first.
  Result<std::uint32_t> bits(unsigned n) {
    while (count_ < n) {
      if (pos_ >= in_.size()) return corrupt("input ends inside a block");
      buffer_ |= static_cast<std::uint32_t>(in_[pos_++]) << count_;
      count_ += 8;
    }
    std::uint32_t v = buffer_ & ((1u << n) - 1);
    buffer_ >>= n;
    count_ -= n;
    return v;
  }
  void align() { buffer_ = 0, count_ = 0; }  // drop the rest of the current byte
  std::size_t position() const { return pos_; }
  std::span<const std::byte> take(std::size_t n) {
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t remaining() const { return in_.size() - pos_; }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  std::uint32_t buffer_ = 0;
  unsigned count_ = 0;
};

// A canonical Huffman code: how many codes of each length and the symbols in code order.
struct Huffman {
  std::array<std::uint16_t, kMaxBits + 1> count{};
  std::array<std::uint16_t, kLiteralCodes> symbol{};
};

Result<Huffman> build(std::span<const std::uint8_t> lengths) {
  Huffman h;
  for (auto len : lengths) ++h.count[len];
  int left = 1;  // codes still available at the current length
  for (std::size_t len = 1; len <= kMaxBits; ++len) {
    left = left * 2 - h.count[len];
    if (left < 0) return corrupt("over-subscribed Huffman code");
  }
  std::array<std::uint16_t, kMaxBits + 2> first_index{};
  for (std::size_t len = 1; len <= kMaxBits; ++len) first_index[len + 1] = first_index[len] + h.count[len];
  for (std::size_t sym = 0; sym < lengths.size(); ++sym)
    if (lengths[sym] != 0) h.symbol[first_index[lengths[sym]]++] = static_cast<std::uint16_t>(sym);
  h.count[0] = 0;
  return h;
}

Result<std::uint32_t> decode(BitReader& in, const Huffman& h) {
  int code = 0, first = 0, index = 0;
  for (std::size_t len = 1; len <= kMaxBits; ++len) {
    code |= static_cast<int>(EBPF_TRY(in.bits(1)));
    int n = h.count[len];
    if (code - first < n) return h.symbol[static_cast<std::size_t>(index + code - first)];
    index += n;
    first = (first + n) << 1;
    code <<= 1;
  }
  return corrupt("bit pattern matches no Huffman code");
}

constexpr std::array<std::uint16_t, 29> kLengthBase = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                       31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<std::uint8_t, 29> kLengthExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<std::uint16_t, 30> kDistBase = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                                     33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                                     1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385, 24577};
constexpr std::array<std::uint8_t, 30> kDistExtra = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

struct Inflater {
  BitReader in;
  std::vector<std::byte> out;
  std::size_t max_output;

  Result<void> emit(std::byte b) {
    if (out.size() >= max_output)
      return Error(Errc::no_space, "inflate", "output exceeds the " + std::to_string(max_output) + "-byte limit");
    out.push_back(b);
    return ok();
  }

  Result<void> stored_block() {
    in.align();
    if (in.remaining() < 4) return corrupt("stored block header truncated");
    auto hdr = in.take(4);
    auto len = static_cast<std::uint16_t>(std::to_integer<unsigned>(hdr[0]) | std::to_integer<unsigned>(hdr[1]) << 8);
    auto nlen = static_cast<std::uint16_t>(std::to_integer<unsigned>(hdr[2]) | std::to_integer<unsigned>(hdr[3]) << 8);
    if (len != static_cast<std::uint16_t>(~nlen)) return corrupt("stored block length check failed");
    if (in.remaining() < len) return corrupt("stored block truncated");
    for (auto b : in.take(len)) EBPF_TRY(emit(b));
    return ok();
  }

  Result<void> codes(const Huffman& lit, const Huffman& dist) {
    for (;;) {
      std::uint32_t sym = EBPF_TRY(decode(in, lit));
      if (sym < 256) {
        EBPF_TRY(emit(static_cast<std::byte>(sym)));
        continue;
      }
      if (sym == 256) return ok();
      sym -= 257;
      if (sym >= kLengthBase.size()) return corrupt("invalid length symbol " + std::to_string(sym + 257));
      std::size_t length = kLengthBase[sym] + EBPF_TRY(in.bits(kLengthExtra[sym]));
      std::uint32_t dsym = EBPF_TRY(decode(in, dist));
      if (dsym >= kDistBase.size()) return corrupt("invalid distance symbol " + std::to_string(dsym));
      std::size_t distance = kDistBase[dsym] + EBPF_TRY(in.bits(kDistExtra[dsym]));
      if (distance > out.size())
        return corrupt("back-reference " + std::to_string(distance) + " bytes before the start of the output");
      for (std::size_t i = 0; i < length; ++i) EBPF_TRY(emit(out[out.size() - distance]));
    }
  }

  Result<void> fixed_block() {
    static const auto tables = [] {
      std::array<std::uint8_t, kLiteralCodes> lit{};
      for (std::size_t i = 0; i < kLiteralCodes; ++i) lit[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
      std::array<std::uint8_t, kDistanceCodes> dist{};
      dist.fill(5);
      return std::pair{*build(lit), *build(dist)};
    }();
    return codes(tables.first, tables.second);
  }

  Result<void> dynamic_block() {
    std::size_t nlit = EBPF_TRY(in.bits(5)) + 257, ndist = EBPF_TRY(in.bits(5)) + 1, ncode = EBPF_TRY(in.bits(4)) + 4;
    if (nlit > 286 || ndist > 30) return corrupt("too many literal/length or distance codes");
    static constexpr std::array<std::uint8_t, kLengthCodes> kOrder = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    std::array<std::uint8_t, kLengthCodes> code_lengths{};
    for (std::size_t i = 0; i < ncode; ++i) code_lengths[kOrder[i]] = static_cast<std::uint8_t>(EBPF_TRY(in.bits(3)));
    Huffman lencode = EBPF_TRY(build(code_lengths));
    std::array<std::uint8_t, kLiteralCodes + kDistanceCodes> lengths{};
    for (std::size_t i = 0; i < nlit + ndist;) {
      std::uint32_t sym = EBPF_TRY(decode(in, lencode));
      if (sym < 16) {
        lengths[i++] = static_cast<std::uint8_t>(sym);
        continue;
      }
      std::uint8_t value = 0;
      std::size_t repeat = 0;
      if (sym == 16) {
        if (i == 0) return corrupt("length repeat with no previous length");
        value = lengths[i - 1];
        repeat = 3 + EBPF_TRY(in.bits(2));
      } else {
        repeat = sym == 17 ? 3 + EBPF_TRY(in.bits(3)) : 11 + EBPF_TRY(in.bits(7));
      }
      if (i + repeat > nlit + ndist) return corrupt("code lengths overrun the table");
      while (repeat--) lengths[i++] = value;
    }
    if (lengths[256] == 0) return corrupt("no end-of-block code");
    Huffman lit = EBPF_TRY(build(std::span(lengths).first(nlit)));
    Huffman dist = EBPF_TRY(build(std::span(lengths).subspan(nlit, ndist)));
    return codes(lit, dist);
  }

  Result<void> run() {
    for (bool last = false; !last;) {
      last = EBPF_TRY(in.bits(1)) == 1;
      switch (EBPF_TRY(in.bits(2))) {
        case 0: EBPF_TRY(stored_block()); break;
        case 1: EBPF_TRY(fixed_block()); break;
        case 2: EBPF_TRY(dynamic_block()); break;
        default: return corrupt("reserved block type 3");
      }
    }
    return ok();
  }
};

std::uint32_t le32(std::span<const std::byte> b) {
  return std::to_integer<std::uint32_t>(b[0]) | std::to_integer<std::uint32_t>(b[1]) << 8 |
         std::to_integer<std::uint32_t>(b[2]) << 16 | std::to_integer<std::uint32_t>(b[3]) << 24;
}

// Skips a gzip member header; returns its length.
Result<std::size_t> header_length(std::span<const std::byte> in) {
  auto fail = [](std::string m) { return Error(Errc::bad_format, "gunzip", std::move(m)); };
  if (in.size() < 18) return fail("input too short for a gzip member (" + std::to_string(in.size()) + " bytes)");
  if (!is_gzip(in)) return fail("no gzip magic number");
  if (in[2] != std::byte{8}) return fail("compression method " + std::to_string(std::to_integer<int>(in[2])) + " is not deflate");
  unsigned flags = std::to_integer<unsigned>(in[3]);
  if (flags & 0xe0) return fail("reserved header flags set");
  std::size_t pos = 10;
  if (flags & 4) {  // FEXTRA
    if (pos + 2 > in.size()) return fail("header truncated");
    pos += 2 + (std::to_integer<std::size_t>(in[pos]) | std::to_integer<std::size_t>(in[pos + 1]) << 8);
  }
  for (unsigned flag : {8u, 16u}) {  // FNAME, FCOMMENT: zero-terminated
    if (!(flags & flag)) continue;
    while (pos < in.size() && in[pos] != std::byte{0}) ++pos;
    ++pos;
  }
  if (flags & 2) pos += 2;  // FHCRC
  if (pos > in.size()) return fail("header truncated");
  return pos;
}

}  // namespace

bool is_gzip(std::span<const std::byte> input) noexcept {
  return input.size() >= 2 && input[0] == std::byte{0x1f} && input[1] == std::byte{0x8b};
}

std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (auto b : data) crc = table[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Result<std::vector<std::byte>> inflate(std::span<const std::byte> input, std::size_t max_output,
                                       std::size_t* consumed) {
  Inflater inf{BitReader(input), {}, max_output};
  EBPF_TRY(inf.run());
  if (consumed) *consumed = inf.in.position();
  return std::move(inf.out);
}

Result<std::vector<std::byte>> decompress(std::span<const std::byte> input, std::size_t max_output) {
  std::vector<std::byte> out;
  do {
    std::size_t header = EBPF_TRY(header_length(input));
    std::size_t used = 0;
    auto member = inflate(input.subspan(header), max_output - out.size(), &used);
    if (!member) return Error(member.error()).context("gzip member");
    auto rest = input.subspan(header + used);
    if (rest.size() < 8) return Error(Errc::bad_format, "gunzip", "member trailer (CRC-32, length) truncated");
    if (le32(rest) != crc32(*member)) return Error(Errc::bad_format, "gunzip", "CRC-32 mismatch");
    if (le32(rest.subspan(4)) != static_cast<std::uint32_t>(member->size()))
      return Error(Errc::bad_format, "gunzip", "length mismatch");
    out.insert(out.end(), member->begin(), member->end());
    input = rest.subspan(8);
  } while (is_gzip(input));
  return out;
}

}  // namespace ebpf::gzip
