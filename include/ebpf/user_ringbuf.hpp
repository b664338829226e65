// ebpf/user_ringbuf.hpp — writing into BPF_MAP_TYPE_USER_RINGBUF (user space → BPF).
//
// The mirror image of ebpf/ringbuf.hpp: user space is the producer and a BPF program drains the ring with
// bpf_user_ringbuf_drain(). The kernel maps the consumer page read-only and lets user space write the
// producer page and the (double-mapped) data area. A sample is reserved (its header marked BUSY and the
// producer position advanced), filled in place, then submitted or discarded; the BPF side stops at the first
// BUSY sample, so samples reach the program in reservation order.
//
// One producer at a time: reserve/submit are not synchronised between threads (guard them yourself).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/ringbuf.hpp"

namespace ebpf {

class UserRingBuffer {
 public:
  UserRingBuffer() = default;
  // Maps an existing BPF_MAP_TYPE_USER_RINGBUF map (the fd is duplicated).
  static Result<UserRingBuffer> open(int map_fd);
  // Creates a user ring buffer map of `size_bytes` (power of two, multiple of the page size).
  static Result<Fd> create_map(std::string_view name, std::uint32_t size_bytes);

  int fd() const noexcept { return fd_.get(); }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  // Bytes the BPF side has not drained yet (headers and padding included).
  std::uint64_t pending_bytes() const noexcept;
  // Largest sample that can ever be reserved in this ring.
  std::uint32_t max_sample_size() const noexcept { return static_cast<std::uint32_t>(capacity() - ringbuf_abi::kHeaderSize); }

  // Reserves `size` bytes (8-byte aligned, writable until submit/discard). Errc::no_space when the ring
  // lacks room right now; Errc::invalid_argument for a size of 0 or above max_sample_size().
  Result<std::span<std::byte>> reserve(std::uint32_t size);
  // Like reserve(), but waits (epoll on the map fd, woken when the BPF side drains) up to `timeout` for
  // room. Errc::timeout when none appeared in time.
  Result<std::span<std::byte>> reserve_blocking(std::uint32_t size, std::chrono::milliseconds timeout);
  // Hands a reserved sample to the BPF side / gives it up (the program skips it). `sample` must be a span
  // returned by reserve() on this ring.
  void submit(std::span<std::byte> sample) noexcept { finish(sample, false); }
  void discard(std::span<std::byte> sample) noexcept { finish(sample, true); }

  // Reserve + copy + submit of a trivially copyable value.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  Result<void> write(const T& value) {
    auto sample = EBPF_TRY(reserve(sizeof(T)));
    std::memcpy(sample.data(), &value, sizeof(T));
    submit(sample);
    return ok();
  }

 private:
  void finish(std::span<std::byte> sample, bool discard) noexcept;

  Fd fd_;
  Fd epoll_;  // created on the first blocking reserve
  std::string name_;
  detail::Mapping consumer_map_, producer_map_;
  const std::uint64_t* consumer_pos_ = nullptr;
  std::uint64_t* producer_pos_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t prod_ = 0;  // our producer position (we are the only writer)
};

}  // namespace ebpf
