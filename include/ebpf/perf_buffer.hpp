// ebpf/perf_buffer.hpp — reading BPF_MAP_TYPE_PERF_EVENT_ARRAY output (bpf_perf_event_output).
//
// One perf ring per CPU: perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, sample_type
// PERF_SAMPLE_RAW) on that CPU, mmapped (a metadata page + 2^n data pages) and stored in the map at key = cpu,
// value = fd. Unlike the BPF ring buffer the data area is mapped once, so a record that wraps the ring's end is
// copied into a scratch buffer; all others are delivered in place. PERF_RECORD_LOST records (samples the
// kernel dropped because the ring was full or paused) are reported with their counts.
//
// A sample's payload is what the program passed plus the kernel's padding (the raw size is rounded so that
// the u32 size field and the data end on 8 bytes): expect up to 7 bytes more than the program wrote.
//
// Overwritable mode (write_backward) keeps the newest records instead of dropping new ones: read them with
// snapshot(), which pauses the output, reads what was written since the last snapshot, and resumes.
#pragma once

#include <linux/perf_event.h>
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/ringbuf.hpp"

namespace ebpf {

struct PerfBufferOptions {
  std::size_t pages_per_cpu = 64;  // data pages per CPU ring: a power of two
  // Wake the reader after this many samples (wakeup_events), or, when wakeup_watermark > 0, after that many
  // bytes are in the ring.
  std::uint32_t wakeup_events = 1;
  std::uint32_t wakeup_watermark = 0;
  bool overwritable = false;  // write_backward: newest records overwrite the oldest; read with snapshot()
  // CPUs to open rings for; empty: every online CPU below the map's max_entries.
  std::vector<int> cpus;
};

struct PerfBufferStats {
  std::uint64_t records = 0;  // samples delivered
  std::uint64_t bytes = 0;    // sample payload bytes delivered (with the kernel's padding)
  std::uint64_t lost = 0;     // samples the kernel reported lost (PERF_RECORD_LOST)
  std::uint64_t wakeups = 0;  // epoll reports of a ready CPU ring
  std::uint64_t split = 0;    // records copied because they wrapped the ring's end
};

namespace detail {
// One CPU's mmapped perf ring.
struct PerfRing {
  int cpu = -1;
  Fd event;
  Mapping mapping;
  perf_event_mmap_page* meta = nullptr;
  const std::byte* data = nullptr;
  std::uint64_t mask = 0;
  std::uint64_t last_head = 0;  // overwritable mode: head at the previous snapshot
};
}  // namespace detail

class PerfBuffer {
 public:
  PerfBuffer() = default;
  // Opens a ring on every CPU and stores its fd in the PERF_EVENT_ARRAY map (key = cpu).
  static Result<PerfBuffer> open(int map_fd, const PerfBufferOptions& opts = {});
  PerfBuffer(PerfBuffer&&) noexcept;
  PerfBuffer& operator=(PerfBuffer&&) noexcept;
  ~PerfBuffer();

  // Reads every CPU ring: on_sample(int cpu, std::span<const std::byte>) for each sample, on_lost(int cpu,
  // std::uint64_t count) for each PERF_RECORD_LOST. Returns the number of samples delivered. An
  // overwritable buffer delivers nothing here (its rings are read-only: use snapshot()).
  template <class OnSample, class OnLost>
  std::size_t consume(OnSample&& on_sample, OnLost&& on_lost);
  template <class OnSample>
  std::size_t consume(OnSample&& on_sample) {
    return consume(on_sample, [](int, std::uint64_t) {});
  }
  // Waits up to `timeout` (negative: forever) for a ring to be ready, then reads the ready rings.
  // Returns 0 on timeout or after stop().
  template <class OnSample, class OnLost>
  Result<std::size_t> poll(std::chrono::milliseconds timeout, OnSample&& on_sample, OnLost&& on_lost);

  // Overwritable mode: pauses every ring, delivers the records written since the previous snapshot (newest
  // first, per CPU), and resumes.
  template <class OnSample>
  Result<std::size_t> snapshot(OnSample&& on_sample);

  // PERF_EVENT_IOC_PAUSE_OUTPUT: while paused, samples are not written (the kernel counts them as lost and
  // reports them with a PERF_RECORD_LOST after resume()).
  Result<void> pause();
  Result<void> resume();

  void stop() noexcept;  // thread-safe: wakes a blocked poll(), which returns 0
  bool stopped() const noexcept { return stop_requested_.load(std::memory_order_relaxed); }
  void reset_stop() noexcept;

  int epoll_fd() const noexcept { return epoll_.get(); }
  std::size_t cpu_count() const noexcept { return rings_.size(); }
  const PerfBufferStats& stats() const noexcept { return stats_; }
  bool overwritable() const noexcept { return overwritable_; }

 private:
  template <class OnSample, class OnLost>
  std::size_t read_ring(detail::PerfRing& ring, OnSample& on_sample, OnLost& on_lost);
  // Copies a record that wraps the ring's end into scratch_ and returns it.
  const std::byte* unsplit(const detail::PerfRing& ring, std::uint64_t pos, std::size_t size);
  Result<int> wait(std::chrono::milliseconds timeout);
  Result<void> set_paused(bool paused);
  std::size_t snapshot_ring(detail::PerfRing& ring, void* ctx, void (*deliver)(void*, int, std::span<const std::byte>));

  std::vector<std::unique_ptr<detail::PerfRing>> rings_;
  Fd map_;  // our own reference, to clear the map's entries on destruction
  Fd epoll_, stop_event_;
  std::atomic<bool> stop_requested_{false};
  std::vector<std::byte> scratch_;
  std::vector<std::uint64_t> ready_;  // ring indices epoll reported
  std::vector<struct epoll_event> events_;
  PerfBufferStats stats_;
  bool overwritable_ = false;
};

// ---- implementation of the templates -------------------------------------------------------------------

template <class OnSample, class OnLost>
std::size_t PerfBuffer::read_ring(detail::PerfRing& ring, OnSample& on_sample, OnLost& on_lost) {
  // Locals, not members: the callbacks may write anywhere, which would force the compiler to reload them.
  const std::byte* const data = ring.data;
  const std::uint64_t mask = ring.mask;
  std::uint64_t tail = ring.meta->data_tail;
  const std::uint64_t head = std::atomic_ref(ring.meta->data_head).load(std::memory_order_acquire);
  std::size_t delivered = 0;
  std::uint64_t bytes = 0, guess = 0;
  while (tail < head) {
    const std::size_t off = tail & mask;
    const std::byte* rec = data + off;
    const auto* hdr = reinterpret_cast<const perf_event_header*>(rec);
    const std::size_t size = hdr->size;
    const std::uint32_t type = hdr->type;
    if (size < sizeof(perf_event_header)) break;  // corrupt: never loop forever
    if (off + size > mask + 1) rec = unsplit(ring, tail, size);
    // Advance by a predicted size behind a branch (see RingBuffer::consume): the next header is fetched
    // while this record is being delivered instead of after.
    if (__builtin_expect(size == guess, 1)) {
      std::uint64_t step = guess;
      asm("" : "+r"(step));
      tail += step;
    } else {
      guess = size;
      tail += size;
    }
    if (type == PERF_RECORD_SAMPLE) {
      std::uint32_t raw_size;
      std::memcpy(&raw_size, rec + sizeof(perf_event_header), 4);
      ++delivered;
      bytes += raw_size;
      on_sample(ring.cpu, std::span<const std::byte>(rec + sizeof(perf_event_header) + 4, raw_size));
    } else if (type == PERF_RECORD_LOST) {
      std::uint64_t lost;
      std::memcpy(&lost, rec + sizeof(perf_event_header) + 8, 8);
      stats_.lost += lost;
      on_lost(ring.cpu, lost);
    }
  }
  std::atomic_ref(ring.meta->data_tail).store(tail, std::memory_order_release);
  stats_.records += delivered;
  stats_.bytes += bytes;
  return delivered;
}

template <class OnSample, class OnLost>
std::size_t PerfBuffer::consume(OnSample&& on_sample, OnLost&& on_lost) {
  std::size_t total = 0;
  if (overwritable_) return 0;
  for (auto& ring : rings_) total += read_ring(*ring, on_sample, on_lost);
  return total;
}

template <class OnSample, class OnLost>
Result<std::size_t> PerfBuffer::poll(std::chrono::milliseconds timeout, OnSample&& on_sample, OnLost&& on_lost) {
  if (overwritable_) return Error::invalid("perf buffer poll", "the buffer is overwritable; read it with snapshot()");
  const int ready = EBPF_TRY(wait(timeout));
  std::size_t total = 0;
  for (int i = 0; i < ready; ++i) {
    auto& ring = *rings_[ready_[static_cast<std::size_t>(i)]];
    ++stats_.wakeups;
    total += read_ring(ring, on_sample, on_lost);
  }
  return total;
}

template <class OnSample>
Result<std::size_t> PerfBuffer::snapshot(OnSample&& on_sample) {
  if (!overwritable_) return Error::invalid("perf buffer snapshot", "the buffer is not overwritable; use consume()");
  EBPF_TRY(pause());
  std::size_t total = 0;
  auto deliver = [](void* ctx, int cpu, std::span<const std::byte> rec) {
    (*static_cast<std::remove_reference_t<OnSample>*>(ctx))(cpu, rec);
  };
  for (auto& ring : rings_) total += snapshot_ring(*ring, &on_sample, deliver);
  EBPF_TRY(resume());
  return total;
}

}  // namespace ebpf
