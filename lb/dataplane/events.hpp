// lb/dataplane/events.hpp — the data path's flow events (lb_events ring buffer) delivered to user space.
//
// The XDP program emits an open event when it inserts a flow and the programs emit a close event when they
// remove one (RST, both FINs); records are lb::FlowEvent. FlowEventReader maps the ring and hands each
// decoded event to a callback, either on its own thread (start) or when the caller polls (open + poll).
// Records of the wrong size are counted and skipped, never delivered half-read.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "ebpf/error.hpp"
#include "ebpf/ringbuf.hpp"
#include "lb/common/abi.hpp"

namespace lb {

class FlowEventReader {
 public:
  using Handler = std::function<void(const FlowEvent&)>;

  // Maps the ring buffer `ring_fd` (lb_events; the fd is duplicated). No thread yet: call poll().
  static ebpf::Result<std::unique_ptr<FlowEventReader>> open(int ring_fd, Handler handler);
  // open() plus a thread that polls until stop() or destruction.
  static ebpf::Result<std::unique_ptr<FlowEventReader>> start(int ring_fd, Handler handler);
  ~FlowEventReader();
  FlowEventReader(const FlowEventReader&) = delete;
  FlowEventReader& operator=(const FlowEventReader&) = delete;

  // The programs submit events without waking the reader (BPF_RB_NO_WAKEUP: at thousands of new connections
  // per second a wakeup per event cost the balancer ~3% of its requests/s in the e2e bench), so the reader
  // drains the ring at least this often; the 4 MiB ring holds far more than one interval of events.
  static constexpr std::chrono::milliseconds kDrainInterval{20};

  // Waits up to `timeout` for events and delivers what is there; returns how many were delivered.
  ebpf::Result<std::size_t> poll(std::chrono::milliseconds timeout);
  // Stops and joins the thread (if any); safe to call twice.
  void stop();

  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t malformed() const { return malformed_; }

 private:
  explicit FlowEventReader(Handler handler) : handler_(std::move(handler)) {}
  void deliver(std::span<const std::byte> record);

  Handler handler_;
  ebpf::RingBufferReader reader_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> malformed_{0};
};

}  // namespace lb
