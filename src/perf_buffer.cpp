// PerfBuffer: per-CPU BPF_OUTPUT perf events, their mmapped rings, epoll over all CPUs, pause/resume and
// snapshots of overwritable (backward) rings.
#include "ebpf/perf_buffer.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <fstream>
#include <string>

#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr std::uint64_t kStopTag = ~0ULL;

// Parses a CPU list such as "0-3,5" (/sys/devices/system/cpu/online).
std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string list;
  std::getline(in, list);
  std::size_t i = 0;
  while (i < list.size()) {
    std::size_t next = list.find(',', i);
    if (next == std::string::npos) next = list.size();
    const std::string part = list.substr(i, next - i);
    const std::size_t dash = part.find('-');
    const int lo = std::stoi(part.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    i = next + 1;
  }
  return cpus;
}

Result<Fd> open_bpf_output_event(int cpu, const PerfBufferOptions& opts) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_BPF_OUTPUT;
  attr.sample_type = PERF_SAMPLE_RAW;
  attr.sample_period = 1;
  if (opts.wakeup_watermark > 0) {
    attr.watermark = 1;
    attr.wakeup_watermark = opts.wakeup_watermark;
  } else {
    attr.wakeup_events = opts.wakeup_events;
  }
  attr.write_backward = opts.overwritable ? 1 : 0;
  const long fd = ::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    return Error::from_errno(errno, "perf_event_open",
                             "PERF_COUNT_SW_BPF_OUTPUT event on CPU " + std::to_string(cpu));
  }
  return Fd(static_cast<int>(fd));
}

}  // namespace

PerfBuffer::PerfBuffer(PerfBuffer&& o) noexcept
    : rings_(std::move(o.rings_)),
      map_(std::move(o.map_)),
      epoll_(std::move(o.epoll_)),
      stop_event_(std::move(o.stop_event_)),
      stop_requested_(o.stop_requested_.load()),
      scratch_(std::move(o.scratch_)),
      ready_(std::move(o.ready_)),
      events_(std::move(o.events_)),
      stats_(o.stats_),
      overwritable_(o.overwritable_) {}

PerfBuffer& PerfBuffer::operator=(PerfBuffer&& o) noexcept {
  if (this != &o) {
    this->~PerfBuffer();
    new (this) PerfBuffer(std::move(o));
  }
  return *this;
}

PerfBuffer::~PerfBuffer() {
  // The map holds its own reference to each event: take them out so no one writes into a ring nobody reads.
  if (!map_) return;
  for (auto& ring : rings_) {
    const std::uint32_t key = static_cast<std::uint32_t>(ring->cpu);
    [[maybe_unused]] auto r = sys::map_delete_elem(map_.get(), &key);
  }
}

Result<PerfBuffer> PerfBuffer::open(int map_fd, const PerfBufferOptions& opts) {
  constexpr std::string_view op = "perf buffer open";
  auto info = EBPF_TRY(detail::map_basics(map_fd));
  if (info.type != MapType::perf_event_array) {
    return Error::invalid(std::string(op), "map '" + info.name + "' is a " + std::string(ebpf::name(info.type)) +
                                               " map, not a perf_event_array map");
  }
  if (opts.pages_per_cpu == 0 || !std::has_single_bit(opts.pages_per_cpu))
    return Error::invalid(std::string(op), "pages_per_cpu " + std::to_string(opts.pages_per_cpu) +
                                               " must be a power of two");
  if (opts.wakeup_watermark == 0 && opts.wakeup_events == 0)
    return Error::invalid(std::string(op), "wakeup_events and wakeup_watermark are both 0: the reader would never wake");
  std::vector<int> cpus = opts.cpus.empty() ? online_cpus() : opts.cpus;
  if (opts.cpus.empty()) std::erase_if(cpus, [&](int c) { return c >= static_cast<int>(info.max_entries); });
  for (int c : cpus) {
    if (c < 0 || c >= static_cast<int>(info.max_entries))
      return Error::invalid(std::string(op), "CPU " + std::to_string(c) + " is outside the map's " +
                                                 std::to_string(info.max_entries) + " entries");
  }
  if (cpus.empty()) return Error::invalid(std::string(op), "no CPU to open a ring on");

  PerfBuffer pb;
  pb.overwritable_ = opts.overwritable;
  pb.map_ = EBPF_TRY(detail::dup_borrowed(map_fd, "perf event array map"));
  pb.epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!pb.epoll_) return Error::from_errno(errno, "epoll_create1", "perf buffer");
  pb.stop_event_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!pb.stop_event_) return Error::from_errno(errno, "eventfd", "perf buffer stop event");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kStopTag;
  if (::epoll_ctl(pb.epoll_.get(), EPOLL_CTL_ADD, pb.stop_event_.get(), &ev) != 0)
    return Error::from_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)", "perf buffer stop event");

  const std::size_t page = detail::page_size();
  for (int cpu : cpus) {
    auto ring = std::make_unique<detail::PerfRing>();
    ring->cpu = cpu;
    ring->event = EBPF_TRY(open_bpf_output_event(cpu, opts));
    ring->mapping = EBPF_TRY(detail::Mapping::map(ring->event.get(), page * (1 + opts.pages_per_cpu), 0,
                                                  !opts.overwritable, "perf ring of CPU " + std::to_string(cpu)));
    ring->meta = reinterpret_cast<perf_event_mmap_page*>(ring->mapping.data());
    ring->data = ring->mapping.data() + page;
    ring->mask = page * opts.pages_per_cpu - 1;
    const std::uint32_t key = static_cast<std::uint32_t>(cpu);
    const std::uint32_t value = static_cast<std::uint32_t>(ring->event.get());
    auto put = sys::map_update_elem(pb.map_.get(), &key, &value);
    if (!put) return put.error().context("storing CPU " + std::to_string(cpu) + "'s perf event in the map");
    ev.data.u64 = pb.rings_.size();
    pb.rings_.push_back(std::move(ring));  // before epoll: the destructor must clear the map entry
    if (::epoll_ctl(pb.epoll_.get(), EPOLL_CTL_ADD, pb.rings_.back()->event.get(), &ev) != 0)
      return Error::from_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)", "perf ring of CPU " + std::to_string(cpu));
  }
  pb.events_.resize(pb.rings_.size() + 1);
  pb.ready_.resize(pb.rings_.size() + 1);
  pb.scratch_.resize(64 * 1024);  // perf_event_header::size is 16 bits: no record is larger
  return pb;
}

const std::byte* PerfBuffer::unsplit(const detail::PerfRing& ring, std::uint64_t pos, std::size_t size) {
  const std::size_t ring_size = ring.mask + 1;
  const std::size_t off = pos & ring.mask;
  const std::size_t first = std::min(size, ring_size - off);
  std::memcpy(scratch_.data(), ring.data + off, first);
  std::memcpy(scratch_.data() + first, ring.data, size - first);
  ++stats_.split;
  return scratch_.data();
}

Result<int> PerfBuffer::wait(std::chrono::milliseconds timeout) {
  if (!epoll_) return Error::invalid("perf buffer poll", "the perf buffer is not open");
  if (stopped()) return 0;
  const int wait_ms = timeout.count() < 0 ? -1 : static_cast<int>(std::min<std::int64_t>(timeout.count(), INT32_MAX));
  const int n = ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()), wait_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    return Error::from_errno(errno, "epoll_wait", "perf buffer");
  }
  int ready = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t tag = events_[static_cast<std::size_t>(i)].data.u64;
    if (tag == kStopTag) {
      std::uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(stop_event_.get(), &count, sizeof(count));
      continue;
    }
    ready_[static_cast<std::size_t>(ready++)] = tag;
  }
  return stopped() ? 0 : ready;
}

Result<void> PerfBuffer::set_paused(bool paused) {
  for (auto& ring : rings_) {
    if (::ioctl(ring->event.get(), PERF_EVENT_IOC_PAUSE_OUTPUT, paused ? 1 : 0) != 0)
      return Error::from_errno(errno, "ioctl(PERF_EVENT_IOC_PAUSE_OUTPUT)",
                               std::string(paused ? "pausing" : "resuming") + " CPU " + std::to_string(ring->cpu));
  }
  return ok();
}

Result<void> PerfBuffer::pause() { return set_paused(true); }
Result<void> PerfBuffer::resume() { return set_paused(false); }

void PerfBuffer::stop() noexcept {
  stop_requested_.store(true, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  if (stop_event_) [[maybe_unused]] ssize_t n = ::write(stop_event_.get(), &one, sizeof(one));
}

void PerfBuffer::reset_stop() noexcept {
  stop_requested_.store(false, std::memory_order_relaxed);
  std::uint64_t count;
  if (stop_event_) [[maybe_unused]] ssize_t n = ::read(stop_event_.get(), &count, sizeof(count));
}

std::size_t PerfBuffer::snapshot_ring(detail::PerfRing& ring, void* ctx,
                                      void (*deliver)(void*, int, std::span<const std::byte>)) {
  // A backward ring's head moves down from 0: what was written since the last snapshot lies in
  // [head, last_head), newest first, and at most one ring's worth of it survives.
  const std::uint64_t head = std::atomic_ref(ring.meta->data_head).load(std::memory_order_acquire);
  const std::uint64_t avail = std::min<std::uint64_t>(ring.last_head - head, ring.mask + 1);
  std::uint64_t done = 0;
  std::size_t delivered = 0;
  while (done + sizeof(perf_event_header) <= avail) {
    const std::uint64_t pos = head + done;
    const auto* hdr = reinterpret_cast<const perf_event_header*>(ring.data + (pos & ring.mask));
    if (hdr->size < sizeof(perf_event_header) || done + hdr->size > avail) break;  // unwritten or overwritten
    const std::byte* rec = ring.data + (pos & ring.mask);
    if ((pos & ring.mask) + hdr->size > ring.mask + 1) rec = unsplit(ring, pos, hdr->size);
    if (hdr->type == PERF_RECORD_SAMPLE) {
      std::uint32_t raw_size;
      std::memcpy(&raw_size, rec + sizeof(perf_event_header), 4);
      deliver(ctx, ring.cpu, std::span<const std::byte>(rec + sizeof(perf_event_header) + 4, raw_size));
      ++delivered;
      stats_.bytes += raw_size;
    } else if (hdr->type == PERF_RECORD_LOST) {
      std::uint64_t lost;
      std::memcpy(&lost, rec + sizeof(perf_event_header) + 8, 8);
      stats_.lost += lost;
    }
    done += hdr->size;
  }
  ring.last_head = head;
  stats_.records += delivered;
  return delivered;
}

}  // namespace ebpf
