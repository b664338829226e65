// Health checks against real listeners on 127.0.0.1: rise/fall transitions, HTTP status, timeouts.
#include "lb/control/health.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "ebpf/fd.hpp"
#include "support/kernel.hpp"

namespace lb {
namespace {

using namespace std::chrono_literals;

// Collects transitions from the checker thread; the test waits on them.
class EventLog {
 public:
  void push(const HealthEvent& e) {
    std::lock_guard lock(mutex_);
    events_.push_back(e);
    cv_.notify_all();
  }
  std::optional<HealthEvent> next(std::chrono::milliseconds within = 5s) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, within, [this] { return !events_.empty(); })) return std::nullopt;
    auto e = events_.front();
    events_.pop_front();
    return e;
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<HealthEvent> events_;
};

// An HTTP server on 127.0.0.1 that can be stopped and restarted on the same port.
class TestHttpServer {
 public:
  explicit TestHttpServer(int status = 200) : status_(status) {}
  ~TestHttpServer() { stop(); }
  // port 0 = pick one; returns the port or 0.
  int start(int port = 0) {
    server_ = std::make_unique<httplib::Server>();
    server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      ++hits_;
      res.status = status_;
      res.set_content("state", "text/plain");
    });
    port_ = port == 0 ? server_->bind_to_any_port("127.0.0.1") : (server_->bind_to_port("127.0.0.1", port) ? port : 0);
    if (port_ <= 0) return 0;
    thread_ = std::thread([s = server_.get()] { s->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(1ms);
    return port_;
  }
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
    server_.reset();
  }
  int hits() const { return hits_; }

 private:
  int status_;
  int port_ = 0;
  std::atomic<int> hits_{0};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

HealthTarget target(std::uint32_t id, int port, HealthCheckType type) {
  HealthTarget t;
  t.id = id;
  t.endpoint = Endpoint::loopback(static_cast<std::uint16_t>(port));
  t.check.type = type;
  t.check.path = "/healthz";
  t.check.interval = 100ms;  // generous: the test machine is shared by parallel builds
  t.check.timeout = 90ms;
  t.check.rise = 2;
  t.check.fall = 3;
  return t;
}

TEST(Health, HttpFallThenRiseWithRealServer) {
  TestHttpServer server;
  const int port = server.start();
  ASSERT_GT(port, 0);
  EventLog log;
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start({.start_healthy = false,
                                                           .on_change = [&](const HealthEvent& e) { log.push(e); }}));
  ASSERT_OK(checker->set_targets({target(7, port, HealthCheckType::http)}));

  auto up = log.next();
  ASSERT_TRUE(up);
  EXPECT_EQ(up->id, 7u);
  EXPECT_TRUE(up->healthy);
  EXPECT_EQ(up->consecutive, 2u);  // exactly `rise`
  EXPECT_EQ(up->checks, 2u);
  EXPECT_EQ(up->reason, "ok");
  EXPECT_GE(server.hits(), 2);  // the server really saw the GETs

  server.stop();
  auto down = log.next();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->healthy);
  EXPECT_EQ(down->consecutive, 3u);  // exactly `fall`
  EXPECT_EQ(down->reason, "connect: ECONNREFUSED");
  auto status = checker->status(7);
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->healthy);

  ASSERT_EQ(server.start(port), port);
  auto again = log.next();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->healthy);
  EXPECT_EQ(again->consecutive, 2u);
  EXPECT_GT(again->checks, down->checks + 1);
  checker->stop();
  EXPECT_EQ(log.size(), 0u);  // no spurious transitions
}

TEST(Health, TcpCheckNeedsOnlyAConnect) {
  TestHttpServer server;
  const int port = server.start();
  ASSERT_GT(port, 0);
  EventLog log;
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start({.start_healthy = true,
                                                           .on_change = [&](const HealthEvent& e) { log.push(e); }}));
  ASSERT_OK(checker->set_targets({target(1, port, HealthCheckType::tcp)}));
  // Healthy from the start: no event while it stays healthy.
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(log.size(), 0u);
  auto status = checker->status(1);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->healthy);
  EXPECT_GE(status->checks, 3u);
  EXPECT_EQ(status->last_reason, "ok");
  EXPECT_EQ(server.hits(), 0);  // a TCP check sends no request
  server.stop();
  auto down = log.next();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->healthy);
  EXPECT_EQ(down->consecutive, 3u);
}

TEST(Health, UnexpectedHttpStatusIsAFailure) {
  TestHttpServer server(503);
  const int port = server.start();
  ASSERT_GT(port, 0);
  EventLog log;
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start({.start_healthy = true,
                                                           .on_change = [&](const HealthEvent& e) { log.push(e); }}));
  ASSERT_OK(checker->set_targets({target(3, port, HealthCheckType::http)}));
  auto down = log.next();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->healthy);
  EXPECT_EQ(down->reason, "status 503 (expected 200)");
  EXPECT_GE(server.hits(), 3);
}

TEST(Health, SilentServerTimesOut) {
  // A listener that never accepts: the kernel completes the handshake, nobody answers the GET.
  int raw = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(raw, 0);
  ebpf::Fd listener(raw);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 64), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EventLog log;
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start({.start_healthy = true,
                                                           .on_change = [&](const HealthEvent& e) { log.push(e); }}));
  const auto started = std::chrono::steady_clock::now();
  ASSERT_OK(checker->set_targets({target(9, ntohs(addr.sin_port), HealthCheckType::http)}));
  auto down = log.next();
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->healthy);
  EXPECT_EQ(down->reason, "timeout");
  // Three probes at 100 ms intervals, the third timing out after 90 ms: at least 290 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 280ms);
}

TEST(Health, TargetsCanBeReplacedAndRemoved) {
  TestHttpServer server;
  const int port = server.start();
  ASSERT_GT(port, 0);
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start({.start_healthy = true, .on_change = {}}));
  ASSERT_OK(checker->set_targets({target(1, port, HealthCheckType::tcp), target(2, port, HealthCheckType::tcp)}));
  std::this_thread::sleep_for(250ms);
  const auto before = checker->status(1)->checks;
  EXPECT_GE(before, 2u);
  // Unchanged target keeps its history; the removed one disappears.
  ASSERT_OK(checker->set_targets({target(1, port, HealthCheckType::tcp)}));
  EXPECT_GE(checker->status(1)->checks, before);
  EXPECT_FALSE(checker->status(2));
  // A changed check starts over.
  auto changed = target(1, port, HealthCheckType::http);
  ASSERT_OK(checker->set_targets({changed}));
  EXPECT_LT(checker->status(1)->checks, before);
}

TEST(Health, InvalidTargetsAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto checker, HealthChecker::start());
  auto no_port = target(1, 0, HealthCheckType::tcp);
  auto r = checker->set_targets({no_port});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ebpf::Errc::invalid_argument);
  EXPECT_EQ(r.error().message(), "health target 1: port is 0");
  auto no_rise = target(2, 80, HealthCheckType::tcp);
  no_rise.check.rise = 0;
  r = checker->set_targets({no_rise});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "health target 2: rise and fall must be >= 1");
}

TEST(Health, ParsesStatusLines) {
  EXPECT_EQ(parse_http_status("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(parse_http_status("HTTP/1.0 503 Service Unavailable\r\nX: y\r\n"), 503);
  EXPECT_EQ(parse_http_status("HTTP/1.1 204\r\n"), 204);
  EXPECT_FALSE(parse_http_status("HTTP/1.1 200 OK"));  // incomplete
  EXPECT_FALSE(parse_http_status("SSH-2.0-OpenSSH\r\n"));
  EXPECT_FALSE(parse_http_status("HTTP/1.1 2x0 OK\r\n"));
}

}  // namespace
}  // namespace lb
