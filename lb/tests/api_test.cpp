// Admin API: real HTTP requests to 127.0.0.1 on an ephemeral port, against a fake control plane.
#include "lb/control/api.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>

#include "support/kernel.hpp"

namespace lb {
namespace {

constexpr const char* kToken = "test-token-0123456789";

class FakeControlPlane : public ControlPlane {
 public:
  StatusInfo status() override { return {"0.1.0", 42, "/etc/lb.yaml", "eth0", false, 1, 2, 1}; }
  std::vector<ServiceInfo> services() override { return {{0, "web", "10.0.0.1:80", "tcp", "maglev", 2, 1}}; }
  std::vector<BackendInfo> backends() override {
    std::lock_guard lock(mutex);
    // "a" has no flows: its drain finishes at once; "b" keeps draining.
    return {{0, "web", "a", "10.0.1.1:8080", 1, "default", true, drained.contains(0), drained.contains(0)},
            {1, "web", "b", "10.0.1.2:8080", 2, "eu", false, drained.contains(1), false}};
  }
  ebpf::Result<ConnectionList> connections(std::size_t limit) override {
    last_limit = limit;
    ConnectionList list;
    list.total = 3;
    list.by_state = {{"established", 2}, {"syn_sent", 1}};
    list.by_backend = {{"a", 3}};
    for (std::size_t i = 0; i < std::min<std::size_t>(limit, 3); ++i)
      list.items.push_back({"192.0.2.1:" + std::to_string(40000 + i), "10.0.0.1:80", "a", "tcp", "established", 10, 1, 5, 500});
    return list;
  }
  ebpf::Result<MetricsSnapshot> metrics() override {
    if (fail_metrics) return ebpf::Error::from_errno(EPERM, "BPF_MAP_LOOKUP_ELEM", "lb_svc_stats");
    MetricsSnapshot s;
    s.services.push_back({"web", "10.0.0.1:80", "tcp", {}});
    s.services[0].counters.packets = 77;
    return s;
  }
  ebpf::Result<void> set_draining(std::uint32_t id, bool draining) override {
    if (id > 1) return ebpf::Error(ebpf::Errc::not_found, "drain", "no backend with id " + std::to_string(id));
    std::lock_guard lock(mutex);
    if (draining) drained.insert(id);
    else drained.erase(id);
    return ebpf::ok();
  }
  ebpf::Result<void> reload() override {
    ++reloads;
    if (fail_reload) return ebpf::Error::invalid("config", "lb.yaml:3:7: port: must be 1..65535, got 0");
    return ebpf::ok();
  }

  std::mutex mutex;
  std::set<std::uint32_t> drained;
  std::size_t last_limit = 0;
  int reloads = 0;
  bool fail_reload = false;
  bool fail_metrics = false;
};

class AdminApi : public testing::Test {
 protected:
  void SetUp() override {
    auto started = AdminServer::start(plane, {.listen = Endpoint::loopback(0), .token = kToken});
    ASSERT_OK(started);
    server = std::move(*started);
    ASSERT_NE(server->port(), 0);
  }
  void TearDown() override {
    if (server) server->stop();
  }
  httplib::Client client() { return httplib::Client("127.0.0.1", server->port()); }
  httplib::Headers auth(std::string token = kToken) { return {{"Authorization", "Bearer " + token}}; }

  FakeControlPlane plane;
  std::unique_ptr<AdminServer> server;
};

TEST_F(AdminApi, ReadEndpoints) {
  auto cli = client();
  auto status = cli.Get("/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(status->body,
            R"({"version":"0.1.0","uptime_seconds":42,"config_source":"/etc/lb.yaml","ingress_interface":"eth0",)"
            R"("data_path_attached":false,"services":1,"backends":2,"healthy_backends":1})");
  auto services = cli.Get("/services");
  ASSERT_TRUE(services);
  EXPECT_EQ(services->body, R"({"services":[{"id":0,"name":"web","vip":"10.0.0.1:80","protocol":"tcp",)"
                            R"("scheduler":"maglev","backends":2,"healthy_backends":1}]})");
  auto backends = cli.Get("/backends");
  ASSERT_TRUE(backends);
  EXPECT_NE(backends->body.find(R"({"id":1,"service":"web","name":"b","address":"10.0.1.2:8080","weight":2,)"
                                R"("group":"eu","healthy":false,"draining":false,"drain_finished":false})"),
            std::string::npos)
      << backends->body;
  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find(R"(ebpf_lb_service_packets_total{service="web",vip="10.0.0.1:80",protocol="tcp"} 77)"),
            std::string::npos);
}

TEST_F(AdminApi, ConnectionsWithLimit) {
  auto cli = client();
  auto all = cli.Get("/connections");
  ASSERT_TRUE(all);
  EXPECT_EQ(plane.last_limit, kDefaultConnectionsListed);
  EXPECT_NE(all->body.find(R"("total":3,"listed":3,"by_state":{"established":2,"syn_sent":1},"by_backend":{"a":3})"),
            std::string::npos)
      << all->body;
  auto one = cli.Get("/connections?limit=1");
  ASSERT_TRUE(one);
  EXPECT_EQ(plane.last_limit, 1u);
  EXPECT_NE(one->body.find(R"("listed":1)"), std::string::npos);
  EXPECT_NE(one->body.find(R"({"client":"192.0.2.1:40000","vip":"10.0.0.1:80","backend":"a","protocol":"tcp",)"
                           R"("state":"established","age_ms":10,"idle_ms":1,"packets":5,"bytes":500})"),
            std::string::npos);
  auto bad = cli.Get("/connections?limit=abc");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body, R"({"error":"limit must be 0..10000"})");
}

TEST_F(AdminApi, DrainNeedsTheTokenAndChangesState) {
  auto cli = client();
  auto anonymous = cli.Post("/backends/1/drain");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = cli.Post("/backends/1/drain", auth("test-token-0123456788"), "", "text/plain");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_TRUE(plane.drained.empty());

  auto drained = cli.Post("/backends/1/drain", auth(), "", "text/plain");
  ASSERT_TRUE(drained);
  EXPECT_EQ(drained->status, 200);
  EXPECT_EQ(drained->body, R"({"id":1,"draining":true})");
  auto listed = cli.Get("/backends");
  EXPECT_NE(listed->body.find(R"("name":"b","address":"10.0.1.2:8080","weight":2,"group":"eu","healthy":false,"draining":true)"),
            std::string::npos);
  auto undrained = cli.Post("/backends/1/undrain", auth(), "", "text/plain");
  ASSERT_TRUE(undrained);
  EXPECT_EQ(undrained->status, 200);
  EXPECT_TRUE(plane.drained.empty());
  ASSERT_EQ(cli.Post("/backends/0/drain", auth(), "", "text/plain")->status, 200);
  listed = cli.Get("/backends");
  EXPECT_NE(listed->body.find(R"("name":"a","address":"10.0.1.1:8080","weight":1,"group":"default","healthy":true,)"
                              R"("draining":true,"drain_finished":true})"),
            std::string::npos)
      << listed->body;

  auto missing = cli.Post("/backends/9/drain", auth(), "", "text/plain");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, R"({"error":"drain: no backend with id 9"})");
  auto huge = cli.Post("/backends/99999999999/drain", auth(), "", "text/plain");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 400);
}

TEST_F(AdminApi, ReloadReportsConfigErrors) {
  auto cli = client();
  EXPECT_EQ(cli.Post("/reload")->status, 401);
  EXPECT_EQ(plane.reloads, 0);
  auto ok = cli.Post("/reload", auth(), "", "text/plain");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(plane.reloads, 1);
  plane.fail_reload = true;
  auto bad = cli.Post("/reload", auth(), "", "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("lb.yaml:3:7: port: must be 1..65535, got 0"), std::string::npos) << bad->body;
  plane.fail_metrics = true;
  auto metrics = cli.Get("/metrics");
  EXPECT_EQ(metrics->status, 403);
  EXPECT_NE(metrics->body.find("EPERM"), std::string::npos) << metrics->body;
}

TEST(AdminApiNoToken, ChangesAreRefused) {
  FakeControlPlane plane;
  ASSERT_OK_AND_ASSIGN(auto server, AdminServer::start(plane));
  httplib::Client cli("127.0.0.1", server->port());
  auto res = cli.Post("/backends/0/drain", {{"Authorization", "Bearer "}}, "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(res->body, R"({"error":"changes are disabled: no admin token is configured"})");
  EXPECT_TRUE(plane.drained.empty());
  EXPECT_EQ(cli.Get("/status")->status, 200);
  server->stop();
  server->stop();  // idempotent
}

TEST(AdminApiBind, PortInUseIsAnError) {
  FakeControlPlane plane;
  ASSERT_OK_AND_ASSIGN(auto first, AdminServer::start(plane));
  Endpoint taken = Endpoint::loopback(first->port());
  auto second = AdminServer::start(plane, {.listen = taken, .token = ""});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().operation(), "bind");
  EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string(first->port())), std::string::npos);
}

TEST(BearerToken, ExactMatchOnly) {
  EXPECT_TRUE(bearer_token_matches("Bearer abc", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer abcd", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer ab", "abc"));
  EXPECT_FALSE(bearer_token_matches("bearer abc", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));
  EXPECT_FALSE(bearer_token_matches("", "abc"));
}

}  // namespace
}  // namespace lb
