// RingBufferReader: many ring buffers behind one epoll fd, with an eventfd to stop it from another thread.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ebpf/ringbuf.hpp"

namespace ebpf {

namespace {
constexpr std::uint64_t kStopTag = ~0ULL;  // epoll data of the eventfd; rings use their index
}

struct RingBufferReader::State {
  struct Entry {
    RingBuffer ring;
    Handler handler;
  };
  RingBufferReaderOptions opts;
  Fd epoll;
  Fd stop_event;
  std::atomic<bool> stop_requested{false};
  std::vector<std::unique_ptr<Entry>> entries;
  std::vector<epoll_event> events;

  std::size_t consume_one(Entry& e) {
    return e.ring.consume([&](std::span<const std::byte> rec) {
      e.handler(rec);
      return !stop_requested.load(std::memory_order_relaxed);  // a stop ends even an endless batch
    });
  }
  void drain_stop_event() noexcept {
    std::uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(stop_event.get(), &count, sizeof(count));
  }
};

RingBufferReader::RingBufferReader() noexcept = default;
RingBufferReader::RingBufferReader(RingBufferReader&&) noexcept = default;
RingBufferReader& RingBufferReader::operator=(RingBufferReader&&) noexcept = default;
RingBufferReader::~RingBufferReader() = default;

Result<RingBufferReader> RingBufferReader::create(const RingBufferReaderOptions& opts) {
  if (opts.max_events <= 0) return Error::invalid("ring buffer reader", "max_events must be positive");
  auto state = std::make_unique<State>();
  state->opts = opts;
  state->epoll = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!state->epoll) return Error::from_errno(errno, "epoll_create1", "ring buffer reader");
  state->stop_event = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->stop_event) return Error::from_errno(errno, "eventfd", "ring buffer reader stop event");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kStopTag;
  if (::epoll_ctl(state->epoll.get(), EPOLL_CTL_ADD, state->stop_event.get(), &ev) != 0)
    return Error::from_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)", "ring buffer reader stop event");
  state->events.resize(static_cast<std::size_t>(opts.max_events));
  RingBufferReader reader;
  reader.state_ = std::move(state);
  return reader;
}

Result<std::size_t> RingBufferReader::add(int map_fd, Handler handler, const RingBufferOptions& opts) {
  if (!state_) return Error::invalid("ring buffer reader add", "the reader was not created (use create())");
  if (!handler) return Error::invalid("ring buffer reader add", "the record handler is empty");
  auto ring = EBPF_TRY(RingBuffer::open(map_fd, opts));
  const std::size_t index = state_->entries.size();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = index;
  if (::epoll_ctl(state_->epoll.get(), EPOLL_CTL_ADD, ring.fd(), &ev) != 0)
    return Error::from_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)", "ring buffer '" + ring.name() + "'");
  state_->entries.push_back(std::make_unique<State::Entry>(State::Entry{std::move(ring), std::move(handler)}));
  return index;
}

std::size_t RingBufferReader::size() const noexcept { return state_ ? state_->entries.size() : 0; }
RingBuffer& RingBufferReader::ring(std::size_t index) { return state_->entries.at(index)->ring; }
int RingBufferReader::epoll_fd() const noexcept { return state_ ? state_->epoll.get() : -1; }

std::size_t RingBufferReader::consume() {
  std::size_t total = 0;
  if (!state_) return 0;
  for (auto& e : state_->entries) total += state_->consume_one(*e);
  return total;
}

Result<std::size_t> RingBufferReader::poll(std::chrono::milliseconds timeout) {
  if (!state_) return Error::invalid("ring buffer reader poll", "the reader was not created (use create())");
  State& s = *state_;
  if (s.opts.busy_poll) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopped()) {
      if (std::size_t n = consume(); n > 0) return n;
      if (timeout.count() >= 0 && std::chrono::steady_clock::now() >= deadline) break;
    }
    return 0;
  }
  if (stopped()) return 0;
  const int wait_ms = timeout.count() < 0 ? -1 : static_cast<int>(std::min<std::int64_t>(timeout.count(), INT32_MAX));
  const int ready = ::epoll_wait(s.epoll.get(), s.events.data(), static_cast<int>(s.events.size()), wait_ms);
  if (ready < 0) {
    if (errno == EINTR) return 0;
    return Error::from_errno(errno, "epoll_wait", "ring buffer reader");
  }
  std::size_t total = 0;
  for (int i = 0; i < ready; ++i) {
    const std::uint64_t tag = s.events[static_cast<std::size_t>(i)].data.u64;
    if (tag == kStopTag) {
      s.drain_stop_event();
      continue;
    }
    auto& e = *s.entries[tag];
    e.ring.note_wakeup();
    total += s.consume_one(e);
  }
  return total;
}

Result<std::uint64_t> RingBufferReader::run() {
  std::uint64_t total = 0;
  while (!stopped()) total += EBPF_TRY(poll(std::chrono::milliseconds(-1)));
  return total;
}

void RingBufferReader::stop() noexcept {
  if (!state_) return;
  state_->stop_requested.store(true, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(state_->stop_event.get(), &one, sizeof(one));
}

bool RingBufferReader::stopped() const noexcept {
  return state_ && state_->stop_requested.load(std::memory_order_relaxed);
}

void RingBufferReader::reset_stop() noexcept {
  if (!state_) return;
  state_->stop_requested.store(false, std::memory_order_relaxed);
  state_->drain_stop_event();
}

}  // namespace ebpf
