// Flow event reader (see events.hpp).
#include "lb/dataplane/events.hpp"

#include <algorithm>
#include <cstring>

namespace lb {

ebpf::Result<std::unique_ptr<FlowEventReader>> FlowEventReader::open(int ring_fd, Handler handler) {
  if (!handler) return ebpf::Error::invalid("FlowEventReader::open", "a handler is required");
  std::unique_ptr<FlowEventReader> events(new FlowEventReader(std::move(handler)));
  events->reader_ = EBPF_TRY(ebpf::RingBufferReader::create());
  auto* raw = events.get();
  EBPF_TRY(events->reader_.add(ring_fd, [raw](std::span<const std::byte> record) { raw->deliver(record); }));
  return events;
}

ebpf::Result<std::unique_ptr<FlowEventReader>> FlowEventReader::start(int ring_fd, Handler handler) {
  auto events = EBPF_TRY(open(ring_fd, std::move(handler)));
  auto* raw = events.get();
  events->thread_ = std::thread([raw] {
    while (!raw->stopping_.load(std::memory_order_relaxed)) (void)raw->poll(kDrainInterval);
  });
  return events;
}

FlowEventReader::~FlowEventReader() { stop(); }

void FlowEventReader::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  reader_.stop();
  if (thread_.joinable()) thread_.join();
}

ebpf::Result<std::size_t> FlowEventReader::poll(std::chrono::milliseconds timeout) {
  const auto before = delivered_.load();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Records submitted without a wakeup raise no epoll event: wait in short steps and drain after each.
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    EBPF_TRY(reader_.poll(std::clamp(left, std::chrono::milliseconds(0), kDrainInterval)));
    reader_.consume();
    if (delivered_.load() != before || left <= std::chrono::milliseconds(0) || stopping_.load()) break;
  }
  return static_cast<std::size_t>(delivered_.load() - before);
}

void FlowEventReader::deliver(std::span<const std::byte> record) {
  // Exact size: the producer is our own program built from the same struct.
  if (record.size() != sizeof(FlowEvent)) {
    ++malformed_;
    return;
  }
  FlowEvent event;
  std::memcpy(&event, record.data(), sizeof event);
  ++delivered_;
  handler_(event);
}

}  // namespace lb
