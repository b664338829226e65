// RingBuffer: mapping a BPF_MAP_TYPE_RINGBUF and the batch iterator; shared map/mmap helpers.
#include "ebpf/ringbuf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstdio>

#include "ebpf/syscall.hpp"

namespace ebpf {
namespace detail {

Result<MapBasics> map_basics(int map_fd) {
  if (map_fd < 0)
    return Error::invalid("BPF_OBJ_GET_INFO_BY_FD", "map fd " + std::to_string(map_fd) + " is not open");
  auto r = map_info(map_fd);
  if (!r) return r.error().context("fd " + std::to_string(map_fd) + " is not a BPF map");
  return r;
}

Result<void> check_ring_size(std::string_view op, std::uint32_t size_bytes) {
  if (size_bytes < page_size() || !std::has_single_bit(size_bytes)) {
    return Error::invalid(std::string(op), "ring size " + std::to_string(size_bytes) +
                                               " must be a power of two and at least the page size (" +
                                               std::to_string(page_size()) + " bytes)");
  }
  return ok();
}

Result<Mapping> Mapping::map(int fd, std::size_t length, std::size_t offset, bool writable, std::string_view what) {
  const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* addr = ::mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) {
    return Error::from_errno(errno, "mmap", "mapping the " + std::string(what) + " (" + std::to_string(length) +
                                                " bytes at offset " + std::to_string(offset) + ")");
  }
  Mapping m;
  m.addr_ = addr;
  m.len_ = length;
  return m;
}

void Mapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, len_);
  addr_ = nullptr;
  len_ = 0;
}

Result<Fd> dup_borrowed(int fd, std::string_view what) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC)", "duplicating the " + std::string(what) + " fd");
  return Fd(copy);
}

Error record_size_error(std::string_view ring, std::size_t got, std::size_t want, SizeCheck) {
  std::string msg = "ring buffer '" + std::string(ring) + "': a record of " + std::to_string(got) + " bytes ";
  if (got < want)
    msg += "is smaller than the " + std::to_string(want) + "-byte type it is decoded into";
  else
    msg += "is bigger than the " + std::to_string(want) + "-byte type it is decoded into (exact size checking)";
  msg += "; the record was skipped";
  return Error(Errc::bad_format, "ring buffer consume", std::move(msg));
}

}  // namespace detail

Result<Fd> RingBuffer::create_map(std::string_view name, std::uint32_t size_bytes) {
  EBPF_TRY(detail::check_ring_size("BPF_MAP_CREATE", size_bytes));
  sys::MapCreateAttr attr;
  attr.map_type = static_cast<std::uint32_t>(MapType::ringbuf);
  attr.max_entries = size_bytes;
  std::snprintf(attr.map_name, sizeof(attr.map_name), "%.*s", static_cast<int>(std::min<std::size_t>(name.size(), 15)),
                name.data());
  return sys::map_create(attr);
}

Result<RingBuffer> RingBuffer::open(int map_fd, const RingBufferOptions& opts) {
  auto info = EBPF_TRY(detail::map_basics(map_fd));
  if (info.type != MapType::ringbuf) {
    return Error::invalid("ring buffer open", "map '" + info.name + "' is a " + std::string(ebpf::name(info.type)) +
                                                  " map, not a ringbuf map");
  }
  EBPF_TRY(detail::check_ring_size("ring buffer open", info.max_entries));
  if (opts.drop_counter_map_fd >= 0) {
    auto counter = EBPF_TRY(detail::map_basics(opts.drop_counter_map_fd));
    if ((counter.type != MapType::array && counter.type != MapType::percpu_array) || counter.value_size != 8)
      return Error::invalid("ring buffer open", "drop counter map '" + counter.name +
                                                    "' must be an array or percpu_array with 8-byte values");
  }
  RingBuffer rb;
  rb.fd_ = EBPF_TRY(detail::dup_borrowed(map_fd, "ring buffer map"));
  rb.name_ = info.name;
  rb.opts_ = opts;
  const std::size_t page = detail::page_size();
  rb.consumer_map_ = EBPF_TRY(detail::Mapping::map(rb.fd_.get(), page, 0, true, "ring buffer consumer page"));
  rb.producer_map_ = EBPF_TRY(detail::Mapping::map(rb.fd_.get(), page + 2 * std::size_t(info.max_entries), page,
                                                   false, "ring buffer producer page and data"));
  rb.consumer_pos_ = reinterpret_cast<std::uint64_t*>(rb.consumer_map_.data());
  rb.producer_pos_ = reinterpret_cast<std::uint64_t*>(rb.producer_map_.data());
  rb.data_ = rb.producer_map_.data() + page;
  rb.mask_ = info.max_entries - 1;
  return rb;
}

void RingBuffer::publish(std::uint64_t pos) noexcept {
  std::atomic_ref(*consumer_pos_).store(pos, std::memory_order_release);
  // The producer decides whether to wake us by reading consumer_pos after committing a record; a full
  // fence keeps our next look at the ring from passing this store, so no wake-up can be lost.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

RingBufferStats RingBuffer::stats() const {
  RingBufferStats s = stats_;
  if (opts_.drop_counter_map_fd < 0) return s;
  std::uint64_t values[512] = {};  // enough for the per-CPU value of any machine we run on
  if (sys::map_lookup_elem(opts_.drop_counter_map_fd, &opts_.drop_counter_key, values)) {
    for (std::uint64_t v : values) s.drops += v;  // an array fills values[0] only
  }
  return s;
}

// ---- Batch -------------------------------------------------------------------------------------------------

RingBuffer::Batch::Batch(RingBuffer* ring) noexcept : ring_(ring) {
  pos_ = start_ = ring->consumer_pos();
  end_ = ring->producer_pos();
}

void RingBuffer::Batch::settle(std::uint64_t& pos, std::uint32_t& len) noexcept {
  using ringbuf_abi::kBusyBit;
  using ringbuf_abi::kDiscardBit;
  while (pos < end_) {
    const std::uint32_t hdr = header(ring_->at(pos));
    if (hdr & kBusyBit) {
      end_ = pos;  // the producer is still writing this one: the batch stops here
      break;
    }
    len = hdr & ~(kBusyBit | kDiscardBit);
    if (!(hdr & kDiscardBit)) break;
    ++ring_->stats_.discarded;
    pos += ringbuf_abi::record_span(len);
  }
  if (pos > pos_) pos_ = pos;
}

void RingBuffer::Batch::advance(std::uint64_t& pos, std::uint32_t& len) noexcept {
  ++ring_->stats_.records;
  ring_->stats_.bytes += len;
  pos += ringbuf_abi::record_span(len);
  settle(pos, len);
}

void RingBuffer::Batch::commit() noexcept {
  if (ring_ == nullptr || pos_ == start_) return;
  ring_->publish(pos_);
  start_ = pos_;
}

}  // namespace ebpf
