// ebpf/ringbuf.hpp — reading BPF_MAP_TYPE_RINGBUF (BPF → user space) without copies.
//
// The kernel lays a ring buffer out for mmap as: one consumer page (user-writable: consumer_pos), one
// producer page (read-only: producer_pos), then the data area mapped twice back to back (read-only), so a
// record that wraps the end of the ring is still contiguous in memory. Each record starts with an 8-byte
// header {u32 len | BUSY bit 31 | DISCARD bit 30, u32 pgoff} and is padded to 8 bytes.
//
//   RingBuffer       one mapped ring: consume(fn) with the callback inlined, consume<T>(fn) decoding into a
//                    trivially copyable struct, or batch() for an iterator over records that stay valid until
//                    the batch is committed. The consumer position is published (release store) once per
//                    batch, not per record.
//   RingBufferReader many rings behind one epoll fd: wait with a timeout or busy-poll, a pollable fd for the
//                    caller's own event loop, stop() from any thread (eventfd), per-ring statistics.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/map.hpp"
#include "ebpf/system.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/types.hpp"

namespace ebpf {

// Record header bits shared by both ring buffer kinds (kernel ABI).
namespace ringbuf_abi {
inline constexpr std::uint32_t kBusyBit = 1U << 31;
inline constexpr std::uint32_t kDiscardBit = 1U << 30;
inline constexpr std::uint32_t kHeaderSize = 8;
inline constexpr std::uint64_t record_span(std::uint32_t len) { return (std::uint64_t(len) + kHeaderSize + 7) & ~7ULL; }
// bpf_ringbuf_output / submit flags.
inline constexpr std::uint64_t kNoWakeup = 1;
inline constexpr std::uint64_t kForceWakeup = 2;
}  // namespace ringbuf_abi

namespace detail {
// What the ring readers need to know about a map fd: map_info() with an error naming the fd.
using MapBasics = MapInfo;
Result<MapBasics> map_basics(int map_fd);
// Checks a ring size the kernel would accept: a power of two and a multiple of the page size.
Result<void> check_ring_size(std::string_view op, std::uint32_t size_bytes);
using ::ebpf::page_size;
// A second owning fd for a descriptor the caller keeps (F_DUPFD_CLOEXEC).
Result<Fd> dup_borrowed(int fd, std::string_view what);
// A read-only or read-write shared mapping, unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  static Result<Mapping> map(int fd, std::size_t length, std::size_t offset, bool writable, std::string_view what);
  ~Mapping() { reset(); }
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  std::size_t size() const noexcept { return len_; }
  void reset() noexcept;

 private:
  void* addr_ = nullptr;
  std::size_t len_ = 0;
};
}  // namespace detail

// How typed consumption checks record sizes against sizeof(T).
enum class SizeCheck {
  at_least,  // a record may be longer than T (a newer producer appended fields); shorter is an error
  exact,     // any size other than sizeof(T) is an error
};

struct RingBufferOptions {
  // Where the BPF program counts the records it could not reserve (ring full), if it does: an ARRAY or
  // PERCPU_ARRAY map with 8-byte values; stats().drops reads (and sums) the value at drop_counter_key.
  int drop_counter_map_fd = -1;
  std::uint32_t drop_counter_key = 0;
};

struct RingBufferStats {
  std::uint64_t records = 0;   // delivered to the callback (discarded records are not counted)
  std::uint64_t bytes = 0;     // payload bytes delivered
  std::uint64_t discarded = 0; // records the producer discarded, skipped
  std::uint64_t wakeups = 0;   // times epoll reported this ring readable
  std::uint64_t drops = 0;     // from the program's drop counter (RingBufferOptions), 0 without one
};

class RingBuffer {
 public:
  RingBuffer() = default;
  // Maps an existing BPF_MAP_TYPE_RINGBUF map. The fd is duplicated, so the caller's map may be closed.
  static Result<RingBuffer> open(int map_fd, const RingBufferOptions& opts = {});
  // Creates a ring buffer map of `size_bytes` (power of two, multiple of the page size) for tests and tools.
  static Result<Fd> create_map(std::string_view name, std::uint32_t size_bytes);

  int fd() const noexcept { return fd_.get(); }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  const std::string& name() const noexcept { return name_; }
  // Bytes written by the producer and not yet consumed (including headers and padding).
  std::uint64_t pending_bytes() const noexcept { return producer_pos() - consumer_pos(); }

  // Delivers every committed record to fn(std::span<const std::byte>) — fn may return void, or bool
  // (false stops after this record). Discarded records are skipped; a record still being written (BUSY)
  // ends the batch. Returns the number of records delivered. The spans are valid only during the call.
  template <class F>
  std::size_t consume(F&& fn);
  // Like consume(), decoding each record into T. A record shorter than T (or of any other size with
  // SizeCheck::exact) stops consumption with Errc::bad_format; that record is consumed (skipped) so the
  // reader can go on, and the records before it were delivered.
  template <class T, class F>
    requires std::is_trivially_copyable_v<T>
  Result<std::size_t> consume(F&& fn, SizeCheck check = SizeCheck::at_least);

  // Zero-copy iteration: `auto b = ring.batch(); for (auto rec : b) use(rec); b.commit();` Records stay
  // valid (and their space unavailable to the producer) until commit() or the batch's destruction.
  class Batch;
  Batch batch();

  RingBufferStats stats() const;
  // Counts a wake-up (used by RingBufferReader).
  void note_wakeup() noexcept { ++stats_.wakeups; }

 private:
  friend class Batch;
  std::uint64_t producer_pos() const noexcept { return std::atomic_ref(*producer_pos_).load(std::memory_order_acquire); }
  std::uint64_t consumer_pos() const noexcept { return std::atomic_ref(*consumer_pos_).load(std::memory_order_relaxed); }
  void publish(std::uint64_t pos) noexcept;
  const std::byte* at(std::uint64_t pos) const noexcept { return data_ + (pos & mask_); }
  static std::uint32_t header(const std::byte* p) noexcept {
    return std::atomic_ref(*reinterpret_cast<std::uint32_t*>(const_cast<std::byte*>(p)))
        .load(std::memory_order_acquire);
  }

  Fd fd_;
  std::string name_;
  detail::Mapping consumer_map_, producer_map_;
  std::uint64_t* consumer_pos_ = nullptr;
  std::uint64_t* producer_pos_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint64_t mask_ = 0;
  RingBufferOptions opts_;
  RingBufferStats stats_;
};

class RingBuffer::Batch {
 public:
  class iterator {
   public:
    using value_type = std::span<const std::byte>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    value_type operator*() const noexcept { return {batch_->ring_->at(pos_) + ringbuf_abi::kHeaderSize, len_}; }
    iterator& operator++() noexcept {
      batch_->advance(pos_, len_);
      return *this;
    }
    void operator++(int) noexcept { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return pos_ == batch_->end_; }

   private:
    friend class Batch;
    explicit iterator(Batch* b) : batch_(b), pos_(b->pos_) { b->settle(pos_, len_); }
    Batch* batch_ = nullptr;
    std::uint64_t pos_ = 0;
    std::uint32_t len_ = 0;
  };

  explicit Batch(RingBuffer* ring) noexcept;
  Batch(Batch&& o) noexcept : ring_(std::exchange(o.ring_, nullptr)), pos_(o.pos_), end_(o.end_), start_(o.start_) {}
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  Batch& operator=(Batch&&) = delete;
  ~Batch() { commit(); }

  iterator begin() noexcept { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  // Releases the records iterated so far to the producer. Later iteration continues after them.
  void commit() noexcept;

 private:
  // Moves `pos` to the next deliverable record at or after it (skipping discarded ones); stops at a busy
  // record or the producer position, which becomes the batch end.
  void settle(std::uint64_t& pos, std::uint32_t& len) noexcept;
  void advance(std::uint64_t& pos, std::uint32_t& len) noexcept;

  RingBuffer* ring_;
  std::uint64_t pos_;    // furthest position iterated (committed by commit())
  std::uint64_t end_;    // producer position snapshot, or a busy record
  std::uint64_t start_;  // position at the last commit
};

inline RingBuffer::Batch RingBuffer::batch() { return Batch(this); }

template <class F>
std::size_t RingBuffer::consume(F&& fn) {
  using ringbuf_abi::kBusyBit;
  using ringbuf_abi::kDiscardBit;
  // Locals, not members: the callback may write anywhere, which would force the compiler to reload them.
  const std::byte* const data = data_;
  const std::uint64_t mask = mask_;
  std::uint64_t cons = consumer_pos();
  std::size_t delivered = 0;
  std::uint64_t bytes = 0, discarded = 0, guess = 0;
  for (bool go_on = true; go_on;) {
    const std::uint64_t prod = producer_pos();
    if (cons == prod) break;
    while (cons < prod) {
      const std::byte* rec = data + (cons & mask);
      const std::uint32_t hdr = header(rec);
      if (hdr & kBusyBit) {
        go_on = false;
        break;
      }
      const std::uint32_t len = hdr & ~(kBusyBit | kDiscardBit);
      const std::uint64_t span = ringbuf_abi::record_span(len);
      // Records of one stream tend to have one size. Walking the ring is a chain of dependent loads (the
      // next header's address comes from this header); advancing by a *predicted* span behind a branch
      // turns the data dependency into a control dependency, so the CPU fetches the next headers while
      // this one is still being checked. `guess` goes through an empty asm so the compiler cannot replace
      // it by `span` (they are equal on that path) and bring the dependency back.
      if (__builtin_expect(span == guess, 1)) {
        std::uint64_t step = guess;
        asm("" : "+r"(step));
        cons += step;
      } else {
        guess = span;
        cons += span;
      }
      __builtin_prefetch(data + ((cons + 4 * guess) & mask));
      if (hdr & kDiscardBit) {
        ++discarded;
        continue;
      }
      ++delivered;
      bytes += len;
      const std::span<const std::byte> payload(rec + ringbuf_abi::kHeaderSize, len);
      if constexpr (std::is_same_v<std::invoke_result_t<F&, std::span<const std::byte>>, bool>) {
        if (!fn(payload)) {
          go_on = false;
          break;
        }
      } else {
        fn(payload);
      }
    }
    // Publish once per pass over what the producer had committed, then look again for newer records.
    publish(cons);
  }
  stats_.records += delivered;
  stats_.bytes += bytes;
  stats_.discarded += discarded;
  return delivered;
}

namespace detail {
Error record_size_error(std::string_view ring, std::size_t got, std::size_t want, SizeCheck check);
}

template <class T, class F>
  requires std::is_trivially_copyable_v<T>
Result<std::size_t> RingBuffer::consume(F&& fn, SizeCheck check) {
  std::size_t bad_size = 0;
  bool bad = false;
  std::size_t n = consume([&](std::span<const std::byte> rec) -> bool {
    if (rec.size() < sizeof(T) || (check == SizeCheck::exact && rec.size() != sizeof(T))) {
      bad = true;
      bad_size = rec.size();
      return false;
    }
    T value;
    std::memcpy(&value, rec.data(), sizeof(T));
    fn(static_cast<const T&>(value));
    return true;
  });
  if (bad) {
    // The offending record was counted as delivered by consume(); it was not.
    stats_.records -= 1;
    stats_.bytes -= bad_size;
    return detail::record_size_error(name_, bad_size, sizeof(T), check);
  }
  return n;
}

// ---- many rings, one epoll ------------------------------------------------------------------------------

struct RingBufferReaderOptions {
  // Spin (epoll with a zero timeout) instead of sleeping: lowest latency, one CPU busy.
  bool busy_poll = false;
  // Events epoll reports at once.
  int max_events = 64;
};

class RingBufferReader {
 public:
  using Handler = std::function<void(std::span<const std::byte>)>;

  RingBufferReader() noexcept;
  static Result<RingBufferReader> create(const RingBufferReaderOptions& opts = {});
  RingBufferReader(RingBufferReader&&) noexcept;
  RingBufferReader& operator=(RingBufferReader&&) noexcept;
  ~RingBufferReader();

  // Adds a ring buffer map; handler receives each record of it. Returns the ring's index.
  Result<std::size_t> add(int map_fd, Handler handler, const RingBufferOptions& opts = {});
  std::size_t size() const noexcept;
  RingBuffer& ring(std::size_t index);

  // Waits up to `timeout` (negative: forever) for records, then consumes every ring that has some.
  // Returns the number of records delivered; 0 on timeout or stop. In busy-poll mode it spins instead.
  Result<std::size_t> poll(std::chrono::milliseconds timeout);
  // Consumes whatever is available in every ring, without waiting.
  std::size_t consume();
  // Polls until stop() is called; returns the total number of records delivered.
  Result<std::uint64_t> run();
  // Thread-safe and async-signal-safe: wakes a blocked poll()/run() and makes run() return.
  void stop() noexcept;
  bool stopped() const noexcept;
  // Clears a previous stop() so the reader can run again.
  void reset_stop() noexcept;

  // An fd that becomes readable when some ring has records: add it to your own event loop, then call
  // poll(0ms) or consume().
  int epoll_fd() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ebpf
