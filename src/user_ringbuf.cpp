// UserRingBuffer: the user-space producer side of BPF_MAP_TYPE_USER_RINGBUF.
#include "ebpf/user_ringbuf.hpp"

#include <sys/epoll.h>

#include <atomic>
#include <cstdio>

#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {
constexpr std::string_view kReserve = "user ring buffer reserve";
}

Result<Fd> UserRingBuffer::create_map(std::string_view name, std::uint32_t size_bytes) {
  EBPF_TRY(detail::check_ring_size("BPF_MAP_CREATE", size_bytes));
  sys::MapCreateAttr attr;
  attr.map_type = static_cast<std::uint32_t>(MapType::user_ringbuf);
  attr.max_entries = size_bytes;
  std::snprintf(attr.map_name, sizeof(attr.map_name), "%.*s", static_cast<int>(std::min<std::size_t>(name.size(), 15)),
                name.data());
  return sys::map_create(attr);
}

Result<UserRingBuffer> UserRingBuffer::open(int map_fd) {
  auto info = EBPF_TRY(detail::map_basics(map_fd));
  if (info.type != MapType::user_ringbuf) {
    return Error::invalid("user ring buffer open", "map '" + info.name + "' is a " +
                                                       std::string(ebpf::name(info.type)) +
                                                       " map, not a user_ringbuf map");
  }
  EBPF_TRY(detail::check_ring_size("user ring buffer open", info.max_entries));
  UserRingBuffer rb;
  rb.fd_ = EBPF_TRY(detail::dup_borrowed(map_fd, "user ring buffer map"));
  rb.name_ = info.name;
  const std::size_t page = detail::page_size();
  rb.consumer_map_ = EBPF_TRY(detail::Mapping::map(rb.fd_.get(), page, 0, false, "user ring buffer consumer page"));
  rb.producer_map_ = EBPF_TRY(detail::Mapping::map(rb.fd_.get(), page + 2 * std::size_t(info.max_entries), page,
                                                   true, "user ring buffer producer page and data"));
  rb.consumer_pos_ = reinterpret_cast<const std::uint64_t*>(rb.consumer_map_.data());
  rb.producer_pos_ = reinterpret_cast<std::uint64_t*>(rb.producer_map_.data());
  rb.data_ = rb.producer_map_.data() + page;
  rb.mask_ = info.max_entries - 1;
  rb.prod_ = std::atomic_ref(*rb.producer_pos_).load(std::memory_order_acquire);
  return rb;
}

std::uint64_t UserRingBuffer::pending_bytes() const noexcept {
  if (consumer_pos_ == nullptr) return 0;
  auto cons = std::atomic_ref(*const_cast<std::uint64_t*>(consumer_pos_)).load(std::memory_order_acquire);
  return prod_ - cons;
}

Result<std::span<std::byte>> UserRingBuffer::reserve(std::uint32_t size) {
  if (!fd_) return Error::invalid(std::string(kReserve), "the user ring buffer is not open");
  if (size == 0 || size > max_sample_size() || size >= ringbuf_abi::kDiscardBit) {
    return Error::invalid(std::string(kReserve), "sample size " + std::to_string(size) + " must be between 1 and " +
                                                     std::to_string(max_sample_size()) + " bytes for ring '" +
                                                     name_ + "'");
  }
  const std::uint64_t span = ringbuf_abi::record_span(size);
  if (pending_bytes() + span > capacity()) {
    return Error(Errc::no_space, std::string(kReserve),
                 "ring '" + name_ + "' has no room for a " + std::to_string(size) + "-byte sample right now", ENOSPC);
  }
  std::byte* hdr = data_ + (prod_ & mask_);
  const std::uint32_t busy_len = size | ringbuf_abi::kBusyBit;
  std::memcpy(hdr + 4, "\0\0\0\0", 4);
  std::atomic_ref(*reinterpret_cast<std::uint32_t*>(hdr)).store(busy_len, std::memory_order_relaxed);
  prod_ += span;
  // The header must be visible as BUSY before the program can see the new producer position.
  std::atomic_ref(*producer_pos_).store(prod_, std::memory_order_release);
  return std::span<std::byte>(hdr + ringbuf_abi::kHeaderSize, size);
}

void UserRingBuffer::finish(std::span<std::byte> sample, bool discard) noexcept {
  auto* len = reinterpret_cast<std::uint32_t*>(sample.data() - ringbuf_abi::kHeaderSize);
  std::uint32_t value = static_cast<std::uint32_t>(sample.size());
  if (discard) value |= ringbuf_abi::kDiscardBit;
  // Release: the sample's bytes are visible before the BPF side sees it is no longer BUSY.
  std::atomic_ref(*len).exchange(value, std::memory_order_acq_rel);
}

Result<std::span<std::byte>> UserRingBuffer::reserve_blocking(std::uint32_t size, std::chrono::milliseconds timeout) {
  auto first = reserve(size);
  if (first || first.error().code() != Errc::no_space) return first;
  if (!epoll_) {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) return Error::from_errno(errno, "epoll_create1", "user ring buffer");
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLET;  // edge: woken when the BPF side drains, not while merely not full
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd_.get(), &ev) != 0)
      return Error::from_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)", "user ring buffer '" + name_ + "'");
    epoll_ = std::move(ep);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto r = reserve(size);
    if (r || r.error().code() != Errc::no_space) return r;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    epoll_event ev;
    const int n = ::epoll_wait(epoll_.get(), &ev, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, INT32_MAX)));
    if (n < 0 && errno != EINTR) return Error::from_errno(errno, "epoll_wait", "user ring buffer '" + name_ + "'");
  }
  return Error(Errc::timeout, std::string(kReserve),
               "no room for a " + std::to_string(size) + "-byte sample in ring '" + name_ + "' within " +
                   std::to_string(timeout.count()) + " ms",
               ETIMEDOUT);
}

}  // namespace ebpf
