// Health checks on one epoll thread (see health.hpp).
#include "lb/control/health.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "ebpf/fd.hpp"

namespace lb {
namespace {

using Clock = std::chrono::steady_clock;

enum class Phase { idle, connecting, reading };

struct Probe {
  ebpf::Fd fd;
  Phase phase = Phase::idle;
  Clock::time_point deadline;
  std::uint64_t token = 0;
  std::string response;
};

struct TargetState {
  HealthTarget target;
  HealthStatus status;
  Clock::time_point next_due;
  Probe probe;
};

bool same_target(const HealthTarget& a, const HealthTarget& b) {
  const auto& x = a.check;
  const auto& y = b.check;
  return a.id == b.id && a.endpoint.address == b.endpoint.address && a.endpoint.port == b.endpoint.port &&
         x.type == y.type && x.path == y.path && x.expected_status == y.expected_status && x.interval == y.interval &&
         x.timeout == y.timeout && x.rise == y.rise && x.fall == y.fall;
}

socklen_t to_sockaddr(const Endpoint& ep, sockaddr_storage& storage) {
  std::memset(&storage, 0, sizeof storage);
  if (ep.address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.address.addr.bytes.data() + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port);
  std::memcpy(&sin6->sin6_addr, ep.address.addr.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string http_request(const HealthTarget& t) {
  return "GET " + t.check.path + " HTTP/1.1\r\nHost: " + t.endpoint.to_string() +
         "\r\nUser-Agent: ebpf-lb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

ebpf::Result<void> validate(const HealthTarget& t) {
  const std::string who = "health target " + std::to_string(t.id);
  if (t.endpoint.address.family == 0) return ebpf::Error::invalid("health", who + ": address is unset");
  if (t.endpoint.port == 0) return ebpf::Error::invalid("health", who + ": port is 0");
  if (t.check.type == HealthCheckType::none) return ebpf::ok();
  if (t.check.rise == 0 || t.check.fall == 0) return ebpf::Error::invalid("health", who + ": rise and fall must be >= 1");
  if (t.check.interval.count() <= 0 || t.check.timeout.count() <= 0)
    return ebpf::Error::invalid("health", who + ": interval and timeout must be positive");
  return ebpf::ok();
}

}  // namespace

std::optional<int> parse_http_status(std::string_view head) {
  const auto eol = head.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  const auto line = head.substr(0, eol);
  if (!line.starts_with("HTTP/") || line.size() < 12 || line[8] != ' ') return std::nullopt;
  int code = 0;
  auto [end, ec] = std::from_chars(line.data() + 9, line.data() + 12, code);
  if (ec != std::errc() || end != line.data() + 12 || code < 100 || code > 999) return std::nullopt;
  return code;
}

struct HealthChecker::Impl {
  HealthCheckerOptions options;
  ebpf::Fd epoll;
  ebpf::Fd wake;
  std::thread thread;
  std::atomic<bool> stopping{false};
  mutable std::mutex mutex;  // guards targets (the thread holds it while working, never while sleeping)
  std::map<std::uint32_t, TargetState> targets;
  std::map<std::uint64_t, std::uint32_t> token_owner;  // epoll token -> target id
  std::uint64_t next_token = 1;
  std::vector<HealthEvent> pending;  // transitions to report once the lock is released

  void run();
  void start_probe(TargetState& s, Clock::time_point now);
  void on_ready(TargetState& s, std::uint32_t events);
  void finish(TargetState& s, bool ok, std::string reason);
  void close_probe(TargetState& s);
  void check_deadlines(Clock::time_point now, int& wait_ms);
};

void HealthChecker::Impl::close_probe(TargetState& s) {
  if (s.probe.fd) {
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, s.probe.fd.get(), nullptr);
    s.probe.fd.reset();
  }
  token_owner.erase(s.probe.token);
  s.probe.phase = Phase::idle;
  s.probe.response.clear();
}

void HealthChecker::Impl::finish(TargetState& s, bool ok, std::string reason) {
  close_probe(s);
  auto& st = s.status;
  ++st.checks;
  st.last_reason = std::move(reason);
  if (ok) {
    ++st.successes;
    st.failures = 0;
  } else {
    ++st.failures;
    st.successes = 0;
  }
  if (!st.healthy && ok && st.successes >= s.target.check.rise) {
    st.healthy = true;
    pending.push_back({s.target.id, true, st.successes, st.checks, st.last_reason});
  } else if (st.healthy && !ok && st.failures >= s.target.check.fall) {
    st.healthy = false;
    pending.push_back({s.target.id, false, st.failures, st.checks, st.last_reason});
  }
}

void HealthChecker::Impl::start_probe(TargetState& s, Clock::time_point now) {
  s.next_due = now + s.target.check.interval;
  s.probe.deadline = now + s.target.check.timeout;
  sockaddr_storage addr;
  const socklen_t len = to_sockaddr(s.target.endpoint, addr);
  const int raw = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (raw < 0) return finish(s, false, "socket: " + std::string(ebpf::errno_name(errno)));
  s.probe.fd = ebpf::Fd(raw);
  s.probe.phase = Phase::connecting;
  s.probe.token = next_token++;
  token_owner[s.probe.token] = s.target.id;
  if (::connect(raw, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS)
    return finish(s, false, "connect: " + std::string(ebpf::errno_name(errno)));
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = s.probe.token;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, raw, &ev) != 0)
    return finish(s, false, "epoll_ctl: " + std::string(ebpf::errno_name(errno)));
}

void HealthChecker::Impl::on_ready(TargetState& s, std::uint32_t events) {
  const int fd = s.probe.fd.get();
  if (s.probe.phase == Phase::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return finish(s, false, "connect: " + std::string(ebpf::errno_name(err)));
    if (s.target.check.type == HealthCheckType::tcp) return finish(s, true, "ok");
    const std::string request = http_request(s.target);
    // A few hundred bytes always fit an empty socket buffer; a short write means something is wrong.
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
      return finish(s, false, "send: " + std::string(ebpf::errno_name(errno)));
    s.probe.phase = Phase::reading;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = s.probe.token;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, fd, &ev);
    return;
  }
  char buf[512];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) return finish(s, false, "recv: " + std::string(ebpf::errno_name(errno)));
  s.probe.response.append(buf, static_cast<std::size_t>(n));
  if (auto code = parse_http_status(s.probe.response)) {
    if (*code == s.target.check.expected_status) return finish(s, true, "ok");
    return finish(s, false, "status " + std::to_string(*code) + " (expected " + std::to_string(s.target.check.expected_status) + ")");
  }
  if (n == 0 || s.probe.response.size() > 4096 || (events & (EPOLLHUP | EPOLLERR)))
    return finish(s, false, "no HTTP status line in response");
}

void HealthChecker::Impl::check_deadlines(Clock::time_point now, int& wait_ms) {
  Clock::time_point next = now + std::chrono::seconds(1);
  for (auto& [id, s] : targets) {
    if (s.target.check.type == HealthCheckType::none) continue;
    if (s.probe.phase != Phase::idle && now >= s.probe.deadline) finish(s, false, "timeout");
    if (s.probe.phase == Phase::idle && now >= s.next_due) start_probe(s, now);
    next = std::min(next, s.probe.phase == Phase::idle ? s.next_due : std::min(s.probe.deadline, s.next_due));
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
  wait_ms = static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

void HealthChecker::Impl::run() {
  epoll_event events[64];
  while (!stopping) {
    int wait_ms = 0;
    std::vector<HealthEvent> report;
    {
      std::lock_guard lock(mutex);
      check_deadlines(Clock::now(), wait_ms);
      report.swap(pending);
    }
    for (const auto& e : report)
      if (options.on_change) options.on_change(e);
    const int n = ::epoll_wait(epoll.get(), events, 64, wait_ms);
    std::lock_guard lock(mutex);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == 0) {  // the wake eventfd
        std::uint64_t drained;
        [[maybe_unused]] auto r = ::read(wake.get(), &drained, sizeof drained);
        continue;
      }
      auto owner = token_owner.find(events[i].data.u64);
      if (owner == token_owner.end()) continue;  // probe already finished or target replaced
      on_ready(targets.at(owner->second), events[i].events);
    }
  }
}

HealthChecker::HealthChecker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HealthChecker::~HealthChecker() { stop(); }

ebpf::Result<std::unique_ptr<HealthChecker>> HealthChecker::start(HealthCheckerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return ebpf::Error::from_errno(errno, "epoll_create1", "health checker");
  impl->epoll = ebpf::Fd(ep);
  const int ev = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ev < 0) return ebpf::Error::from_errno(errno, "eventfd", "health checker");
  impl->wake = ebpf::Fd(ev);
  epoll_event wake_ev{};
  wake_ev.events = EPOLLIN;
  wake_ev.data.u64 = 0;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, ev, &wake_ev) != 0) return ebpf::Error::from_errno(errno, "epoll_ctl", "health checker wake fd");
  impl->thread = std::thread([raw = impl.get()] { raw->run(); });
  return std::unique_ptr<HealthChecker>(new HealthChecker(std::move(impl)));
}

ebpf::Result<void> HealthChecker::set_targets(std::vector<HealthTarget> targets) {
  for (const auto& t : targets) EBPF_TRY(validate(t));
  {
    std::lock_guard lock(impl_->mutex);
    std::map<std::uint32_t, TargetState> next;
    for (auto& t : targets) {
      auto old = impl_->targets.find(t.id);
      if (old != impl_->targets.end() && same_target(old->second.target, t)) {
        next.emplace(t.id, std::move(old->second));
        continue;
      }
      TargetState fresh;
      fresh.status.healthy = impl_->options.start_healthy || t.check.type == HealthCheckType::none;
      fresh.target = std::move(t);
      fresh.next_due = Clock::now();
      const auto id = fresh.target.id;
      next.insert_or_assign(id, std::move(fresh));
    }
    for (auto& [id, s] : impl_->targets)
      if (!next.contains(id) || s.probe.fd) impl_->close_probe(s);  // dropped or replaced: end its probe
    impl_->targets = std::move(next);
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake.get(), &one, sizeof one);
  return ebpf::ok();
}

std::optional<HealthStatus> HealthChecker::status(std::uint32_t id) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->targets.find(id);
  if (it == impl_->targets.end()) return std::nullopt;
  return it->second.status;
}

void HealthChecker::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake.get(), &one, sizeof one);
  impl_->thread.join();
  std::lock_guard lock(impl_->mutex);
  for (auto& [id, s] : impl_->targets) impl_->close_probe(s);
}

}  // namespace lb
