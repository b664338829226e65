// The control plane end to end without BPF programs: real maps, real health checks against a loopback
// HTTP server, drains and reloads through the admin API, all observed in the kernel maps. Needs root.
#include "lb/control/control_plane.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <fstream>
#include <thread>

#include "lb/tests/dataplane_fixture.hpp"
#include "support/kernel.hpp"

namespace lb {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "control-plane-token-123";

struct TempFile {
  std::string path = "/tmp/lb_cp_test_" + std::to_string(::getpid()) + ".yaml";
  void write(std::string_view text) { std::ofstream(path) << text; }
  ~TempFile() { std::remove(path.c_str()); }
};

struct HttpBackend {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  HttpBackend() {
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~HttpBackend() {
    server.stop();
    thread.join();
  }
};

// A port nothing listens on: bind an ephemeral port and release it. (Not httplib: a Server that binds but
// never listens keeps its socket open.)
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string config_text(int up_port, int down_port) {
  return "maglev_table_size: 1009\n"
         "conntrack: { max_entries: 4096 }\n"
         "admin: { token: " + std::string(kToken) + " }\n"
         "services:\n"
         "  - name: web\n"
         "    vip: 10.0.0.100\n"
         "    port: 80\n"
         "    health_check: { type: http, path: /healthz, interval: 100ms, timeout: 90ms, rise: 1, fall: 2 }\n"
         "    backends:\n"
         "      - { name: up, address: 127.0.0.1, port: " + std::to_string(up_port) + " }\n"
         "      - { name: down, address: 127.0.0.1, port: " + std::to_string(down_port) + " }\n";
}

std::vector<std::uint32_t> live_table(LoadBalancer& lb) {
  const auto tables = lb.tables();
  ServiceValue value;
  auto key = tables.services[0].first;
  if (!lb.maps().find("lb_services")->lookup(std::as_bytes(std::span(&key, 1)), std::as_writable_bytes(std::span(&value, 1))))
    return {};
  std::vector<std::uint32_t> slots;
  for (std::uint32_t i = 0; i < value.maglev_size; ++i) {
    std::uint32_t index = value.maglev_offset + i, backend = 0;
    if (!lb.maps().find("lb_maglev")->lookup(std::as_bytes(std::span(&index, 1)), std::as_writable_bytes(std::span(&backend, 1))))
      return {};
    slots.push_back(backend);
  }
  return slots;
}

bool only(const std::vector<std::uint32_t>& slots, std::uint32_t id) {
  return !slots.empty() && std::all_of(slots.begin(), slots.end(), [id](auto s) { return s == id; });
}

TEST(ControlPlane, HealthDrainConnectionsAndReloadReachTheMaps) {
  EBPF_REQUIRE_KERNEL();
  HttpBackend backend;
  const int down_port = closed_port();
  TempFile file;
  file.write(config_text(backend.port, down_port));
  ASSERT_OK_AND_ASSIGN(auto config, load_config_file(file.path));
  ConfigStore store(std::move(config));
  std::atomic<std::uint64_t> now_ns{5'000'000'000};  // the data path's clock, pinned
  ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, {.log = nullptr, .start_healthy = true, .version = "t",
                                                             .monotonic_ns = [&now_ns] { return now_ns.load(); }}));
  const auto ids = lb->tables().backend_ids;
  const auto up = ids.at("web/up"), down = ids.at("web/down");

  // Both start healthy and share the table; "down" fails its checks and leaves the kernel's table.
  auto slots = live_table(*lb);
  ASSERT_EQ(slots.size(), 1009u);
  EXPECT_GT(std::count(slots.begin(), slots.end(), down), 0);
  for (int i = 0; i < 100 && !only(slots, up); ++i) {
    std::this_thread::sleep_for(50ms);
    slots = live_table(*lb);
  }
  EXPECT_TRUE(only(slots, up)) << "unhealthy backend still in the table";
  EXPECT_EQ(lb->status().healthy_backends, 1u);

  // Drain the healthy one through the API: no backend left, the service drops new flows (size 0).
  ASSERT_OK_AND_ASSIGN(auto api, AdminServer::start(*lb, {.listen = Endpoint::loopback(0), .token = kToken}));
  httplib::Client cli("127.0.0.1", api->port());
  const httplib::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  auto drained = cli.Post(("/backends/" + std::to_string(up) + "/drain").c_str(), auth, "", "text/plain");
  ASSERT_TRUE(drained);
  EXPECT_EQ(drained->status, 200) << drained->body;
  EXPECT_TRUE(live_table(*lb).empty());
  BackendValue be;
  ASSERT_OK(lb->maps().find("lb_backends")->lookup(std::as_bytes(std::span(&up, 1)), std::as_writable_bytes(std::span(&be, 1))));
  EXPECT_TRUE(be.flags & backend_flags::kDraining);
  ASSERT_EQ(cli.Post(("/backends/" + std::to_string(up) + "/undrain").c_str(), auth, "", "text/plain")->status, 200);
  EXPECT_TRUE(only(live_table(*lb), up));

  // A flow as the XDP program would record it shows up in /connections and /metrics.
  ConntrackKey ck;
  ck.src = parse_ip("192.0.2.7")->addr;
  ck.dst = parse_ip("10.0.0.100")->addr;
  ck.sport = htons(40000);
  ck.dport = htons(80);
  ck.proto = kProtoTcp;
  ck.family = kFamilyV4;
  ConntrackValue cv;
  cv.backend_id = up;
  cv.state = static_cast<std::uint8_t>(TcpState::kEstablished);
  cv.created_ns = 2'000'000'000;
  cv.last_seen_ns = 4'000'000'000;
  cv.packets = 3;
  cv.bytes = 180;
  ASSERT_OK(lb->maps().find("lb_conntrack")->update(std::as_bytes(std::span(&ck, 1)), std::as_bytes(std::span(&cv, 1))));
  auto conns = cli.Get("/connections");
  ASSERT_TRUE(conns);
  EXPECT_NE(conns->body.find(R"("total":1,"listed":1,"by_state":{"established":1},"by_backend":{"web/up":1})"), std::string::npos)
      << conns->body;
  EXPECT_NE(conns->body.find(R"({"client":"192.0.2.7:40000","vip":"10.0.0.100:80","backend":"web/up","protocol":"tcp",)"
                             R"("state":"established","age_ms":3000,"idle_ms":1000,"packets":3,"bytes":180})"),
            std::string::npos)
      << conns->body;
  // Two more flows, then a sweep at t = 40 s: the half-open TCP flow (idle ~40 s > 30 s transitory) goes;
  // the established one (idle 36 s < 5 min) and the UDP one (idle 39.5 s < 60 s) stay.
  ConntrackKey udp_key = ck;
  udp_key.proto = kProtoUdp;
  ConntrackValue udp_value = cv;
  udp_value.last_seen_ns = 500'000'000;
  ConntrackKey syn_key = ck;
  syn_key.sport = htons(40001);
  ConntrackValue syn_value = cv;
  syn_value.state = static_cast<std::uint8_t>(TcpState::kSynSent);
  syn_value.last_seen_ns = 1;
  for (auto [k, v] : {std::pair{udp_key, udp_value}, std::pair{syn_key, syn_value}})
    ASSERT_OK(lb->maps().find("lb_conntrack")->update(std::as_bytes(std::span(&k, 1)), std::as_bytes(std::span(&v, 1))));
  now_ns = 40'000'000'000;
  ASSERT_OK_AND_ASSIGN(auto swept, lb->sweep_conntrack());
  EXPECT_EQ(swept, 1u);
  ConntrackValue probe;
  auto syn_gone = lb->maps().find("lb_conntrack")->lookup(std::as_bytes(std::span(&syn_key, 1)), std::as_writable_bytes(std::span(&probe, 1)));
  ASSERT_FALSE(syn_gone);
  EXPECT_EQ(syn_gone.error().code(), ebpf::Errc::key_not_found);
  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nebpf_lb_conntrack_entries 2\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("\nebpf_lb_conntrack_gc_deleted_total 1\n"), std::string::npos);
  EXPECT_NE(metrics->body.find(R"(ebpf_lb_backend_up{service="web",backend="down",address="127.0.0.1:)" +
                               std::to_string(down_port) + "\"} 0"),
            std::string::npos)
      << metrics->body;

  // An invalid reload is refused and changes nothing; a valid one removes "down" from the maps.
  file.write("services: [oops\n");
  auto bad = cli.Post("/reload", auth, "", "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(lb->tables().backends.size(), 2u);
  std::string good = config_text(backend.port, down_port);
  good.erase(good.rfind("      - { name: down"));
  file.write(good);
  auto reloaded = cli.Post("/reload", auth, "", "text/plain");
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->status, 200) << reloaded->body;
  EXPECT_EQ(lb->tables().backends.size(), 1u);
  EXPECT_EQ(lb->tables().backend_ids.at("web/up"), up);  // ids survive reloads
  ASSERT_OK(lb->maps().find("lb_backends")->lookup(std::as_bytes(std::span(&down, 1)), std::as_writable_bytes(std::span(&be, 1))));
  EXPECT_EQ(be.flags, 0);
  EXPECT_TRUE(only(live_table(*lb), up));
  api->stop();
  lb->stop();
}

// Flow events from the data path become JSON log lines naming the backend, and counts by close reason.
TEST(ControlPlane, FlowEventsAreLoggedAndCounted) {
  EBPF_REQUIRE_KERNEL();
  std::vector<std::string> lines;
  std::mutex lines_mutex;
  Logger log({.level = LogLevel::debug, .sink = [&](std::string_view line) {
                std::lock_guard lock(lines_mutex);
                lines.emplace_back(line);
              }, .now_ms = [] { return std::int64_t{0}; }});
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(config_text(closed_port(), closed_port()), "ev.yaml"));
  config.services[0].health_check.type = HealthCheckType::none;
  ConfigStore store(std::move(config));
  ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, {.log = &log, .start_healthy = true, .version = "t",
                                                             .monotonic_ns = {}, .pinning = {}}));
  const auto up = lb->tables().backend_ids.at("web/up");
  FlowEvent open;
  open.type = static_cast<std::uint8_t>(FlowEventType::kOpen);
  open.family = kFamilyV4;
  open.proto = kProtoTcp;
  open.backend_id = up;
  open.src = parse_ip("192.168.1.5")->addr;
  open.dst = parse_ip("10.0.0.100")->addr;
  open.sport = htons(40000);
  open.dport = htons(80);
  FlowEvent close = open;
  close.type = static_cast<std::uint8_t>(FlowEventType::kClose);
  close.close_reason = static_cast<std::uint8_t>(CloseReason::kRst);
  close.packets = 12;
  lb->on_flow_event(open);
  lb->on_flow_event(close);
  const auto counts = lb->flow_events();
  EXPECT_EQ(counts.opened, 1u);
  EXPECT_EQ(counts.closed, 1u);
  EXPECT_EQ(counts.closed_rst, 1u);
  EXPECT_EQ(counts.closed_fin, 0u);
  lb->stop();
  std::lock_guard lock(lines_mutex);
  auto find = [&](std::string_view msg) {
    for (const auto& l : lines)
      if (l.find(msg) != std::string::npos) return l;
    return std::string();
  };
  const auto opened = find("\"msg\":\"flow open\"");
  EXPECT_NE(opened.find("\"client\":\"192.168.1.5:40000\""), std::string::npos) << opened;
  EXPECT_NE(opened.find("\"backend\":\"web/up\""), std::string::npos) << opened;
  const auto closed = find("\"msg\":\"flow close\"");
  EXPECT_NE(closed.find("\"reason\":\"rst\""), std::string::npos) << closed;
  EXPECT_NE(closed.find("\"packets\":12"), std::string::npos) << closed;
}

// A drain finishes at the first sweep that finds no flow of the backend, or, with flows left, at the first
// sweep after drain_timeout, which removes both conntrack entries of each of them. Undrain starts over.
TEST(ControlPlane, DrainsFinishWhenFlowsEndOrTheTimeoutCutsThem) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(config_text(closed_port(), closed_port()), "drain.yaml"));
  config.services[0].health_check.type = HealthCheckType::none;
  config.drain_timeout = 10s;
  ConfigStore store(config);
  std::atomic<std::uint64_t> now_ns{5'000'000'000};
  ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, {.log = nullptr, .start_healthy = true, .version = "t",
                                                             .monotonic_ns = [&now_ns] { return now_ns.load(); }}));
  const auto up = lb->tables().backend_ids.at("web/up"), down = lb->tables().backend_ids.at("web/down");
  auto finished = [&](std::uint32_t id) {
    for (const auto& b : lb->backends())
      if (b.id == id) return b.drain_finished;
    return false;
  };
  // One established flow to "up": its client-side and reply-side entries.
  auto& ct = *lb->maps().find("lb_conntrack");
  const ConntrackKey forward{parse_ip("192.0.2.7")->addr, parse_ip("10.0.0.100")->addr, htons(40000), htons(80),
                             kProtoTcp, kFamilyV4, 0};
  const ConntrackKey reverse{parse_ip("127.0.0.1")->addr, parse_ip("192.0.2.7")->addr, htons(8080), htons(40000),
                             kProtoTcp, kFamilyV4, 0};
  ConntrackValue value{parse_ip("127.0.0.1")->addr, htons(8080), static_cast<std::uint8_t>(TcpState::kEstablished), 0,
                       up, 0, 0, now_ns.load(), now_ns.load(), 1, 60};
  ASSERT_OK(ct.update(ebpf::as_bytes_of(forward), ebpf::as_bytes_of(value)));
  value.flags = ct_flags::kReverse;
  ASSERT_OK(ct.update(ebpf::as_bytes_of(reverse), ebpf::as_bytes_of(value)));
  auto present = [&](const ConntrackKey& key) {
    ConntrackValue v;
    return ct.lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(v)).has_value();
  };

  ASSERT_OK(lb->set_draining(up, true));
  ASSERT_OK(lb->set_draining(down, true));
  ASSERT_OK(lb->sweep_conntrack());
  EXPECT_TRUE(finished(down)) << "no flows: finished at the first sweep";
  EXPECT_FALSE(finished(up));
  now_ns += 9'000'000'000;  // 9 s into the drain: the flow continues
  ASSERT_OK(lb->sweep_conntrack());
  EXPECT_FALSE(finished(up));
  EXPECT_TRUE(present(forward) && present(reverse));
  now_ns += 2'000'000'000;  // 11 s: past drain_timeout
  ASSERT_OK(lb->sweep_conntrack());
  EXPECT_TRUE(finished(up));
  EXPECT_FALSE(present(forward));
  EXPECT_FALSE(present(reverse));
  ASSERT_OK_AND_ASSIGN(auto metrics, lb->metrics());
  for (const auto& b : metrics.backends) EXPECT_TRUE(b.drain_finished) << b.backend;
  ASSERT_OK(lb->set_draining(up, false));
  EXPECT_FALSE(finished(up));
  lb->stop();
}

// A restart on pinned maps with the backends listed in another order: each backend keeps the id the previous
// run gave it (its conntrack entries and counters name it by id), where a fresh assignment would swap them.
TEST(ControlPlane, RestartOnPinnedMapsKeepsTheBackendIds) {
  EBPF_REQUIRE_KERNEL();
  test::PinDir dir;
  ASSERT_OK_AND_ASSIGN(auto config, parse_config(config_text(closed_port(), closed_port()), "restart.yaml"));
  config.services[0].health_check.type = HealthCheckType::none;
  const LoadBalancerOptions options{.log = nullptr, .start_healthy = true, .version = "t", .monotonic_ns = {},
                                    .pinning = {dir.path(), true}};
  std::map<std::string, std::uint32_t> before;
  {
    ConfigStore store(config);
    ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, options));
    before = lb->tables().backend_ids;
    lb->stop();
  }
  auto reordered = config;
  std::reverse(reordered.services[0].backends.begin(), reordered.services[0].backends.end());
  ASSERT_OK_AND_ASSIGN(auto fresh, compile_tables(reordered));
  ASSERT_NE(fresh.backend_ids, before);  // the premise: a fresh assignment differs
  ConfigStore store(reordered);
  ASSERT_OK_AND_ASSIGN(auto lb, LoadBalancer::create(store, options));
  EXPECT_EQ(lb->tables().backend_ids, before);
  lb->stop();
  ASSERT_OK(lb->maps().unpin_all());
}

}  // namespace
}  // namespace lb
