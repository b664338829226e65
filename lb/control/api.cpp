// Admin HTTP API (see api.hpp).
#include "lb/control/api.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>

#include "lb/control/json.hpp"

namespace lb {
namespace {

constexpr const char* kJson = "application/json";

int http_status(const ebpf::Error& error) {
  switch (error.code()) {
    case ebpf::Errc::invalid_argument:
    case ebpf::Errc::bad_format: return 400;
    case ebpf::Errc::not_found:
    case ebpf::Errc::key_not_found: return 404;
    case ebpf::Errc::busy: return 409;
    case ebpf::Errc::permission: return 403;
    default: return 500;
  }
}

void reply_error(httplib::Response& res, int status, std::string_view message) {
  JsonWriter w;
  w.begin_object().field("error", message).end_object();
  res.status = status;
  res.set_content(w.take(), kJson);
}

void reply_error(httplib::Response& res, const ebpf::Error& error) { reply_error(res, http_status(error), error.to_string()); }

void reply_json(httplib::Response& res, std::string body) { res.set_content(std::move(body), kJson); }

std::string status_json(const StatusInfo& s) {
  JsonWriter w;
  w.begin_object()
      .field("version", s.version)
      .field("uptime_seconds", s.uptime_seconds)
      .field("config_source", s.config_source)
      .field("ingress_interface", s.ingress_interface)
      .field("data_path_attached", s.data_path_attached)
      .field("services", s.services)
      .field("backends", s.backends)
      .field("healthy_backends", s.healthy_backends)
      .end_object();
  return w.take();
}

std::string services_json(const std::vector<ServiceInfo>& services) {
  JsonWriter w;
  w.begin_object().key("services").begin_array();
  for (const auto& s : services)
    w.begin_object()
        .field("id", s.id)
        .field("name", s.name)
        .field("vip", s.vip)
        .field("protocol", s.protocol)
        .field("scheduler", s.scheduler)
        .field("backends", s.backends)
        .field("healthy_backends", s.healthy_backends)
        .end_object();
  w.end_array().end_object();
  return w.take();
}

std::string backends_json(const std::vector<BackendInfo>& backends) {
  JsonWriter w;
  w.begin_object().key("backends").begin_array();
  for (const auto& b : backends)
    w.begin_object()
        .field("id", b.id)
        .field("service", b.service)
        .field("name", b.name)
        .field("address", b.address)
        .field("weight", b.weight)
        .field("group", b.group)
        .field("healthy", b.healthy)
        .field("draining", b.draining)
        .field("drain_finished", b.drain_finished)
        .end_object();
  w.end_array().end_object();
  return w.take();
}

void counts_json(JsonWriter& w, std::string_view key, const std::map<std::string, std::uint64_t>& counts) {
  w.key(key).begin_object();
  for (const auto& [name, n] : counts) w.field(name, n);
  w.end_object();
}

std::string connections_json(const ConnectionList& list) {
  JsonWriter w;
  w.begin_object().field("total", list.total).field("listed", list.items.size());
  counts_json(w, "by_state", list.by_state);
  counts_json(w, "by_backend", list.by_backend);
  w.key("connections").begin_array();
  for (const auto& c : list.items)
    w.begin_object()
        .field("client", c.client)
        .field("vip", c.vip)
        .field("backend", c.backend)
        .field("protocol", c.protocol)
        .field("state", c.state)
        .field("age_ms", c.age_ms)
        .field("idle_ms", c.idle_ms)
        .field("packets", c.packets)
        .field("bytes", c.bytes)
        .end_object();
  w.end_array().end_object();
  return w.take();
}

}  // namespace

bool bearer_token_matches(std::string_view header, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (token.empty() || !header.starts_with(kScheme)) return false;
  const std::string_view given = header.substr(kScheme.size());
  // Compare every byte regardless of where the first difference is, so timing reveals nothing.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  return diff == 0;
}

struct AdminServer::Impl {
  ControlPlane& plane;
  AdminServerOptions options;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> finished{false};
  int port = 0;

  Impl(ControlPlane& p, AdminServerOptions o) : plane(p), options(std::move(o)) {}

  // True when the request may change state; otherwise the response is already filled in.
  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    if (options.token.empty()) {
      reply_error(res, 403, "changes are disabled: no admin token is configured");
      return false;
    }
    if (!bearer_token_matches(req.get_header_value("Authorization"), options.token)) {
      res.set_header("WWW-Authenticate", "Bearer");
      reply_error(res, 401, "missing or wrong bearer token");
      return false;
    }
    return true;
  }

  void drain_route(const char* pattern, bool draining) {
    server.Post(pattern, [this, draining](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      std::uint32_t id = 0;
      const std::string text = req.matches[1];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec != std::errc() || end != text.data() + text.size()) return reply_error(res, 400, "backend id out of range");
      auto done = plane.set_draining(id, draining);
      if (!done) return reply_error(res, done.error());
      JsonWriter w;
      w.begin_object().field("id", id).field("draining", draining).end_object();
      reply_json(res, w.take());
    });
  }

  void routes() {
    server.Get("/status", [this](const httplib::Request&, httplib::Response& res) { reply_json(res, status_json(plane.status())); });
    server.Get("/services", [this](const httplib::Request&, httplib::Response& res) { reply_json(res, services_json(plane.services())); });
    server.Get("/backends", [this](const httplib::Request&, httplib::Response& res) { reply_json(res, backends_json(plane.backends())); });
    server.Get("/connections", [this](const httplib::Request& req, httplib::Response& res) {
      std::size_t limit = kDefaultConnectionsListed;
      if (req.has_param("limit")) {
        const std::string text = req.get_param_value("limit");
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
        if (ec != std::errc() || end != text.data() + text.size() || limit > options.max_connections_listed)
          return reply_error(res, 400, "limit must be 0.." + std::to_string(options.max_connections_listed));
      }
      auto list = plane.connections(limit);
      if (!list) return reply_error(res, list.error());
      reply_json(res, connections_json(*list));
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      auto snapshot = plane.metrics();
      if (!snapshot) return reply_error(res, snapshot.error());
      res.set_content(render_prometheus(*snapshot), std::string(kPrometheusContentType).c_str());
    });
    drain_route(R"(/backends/(\d+)/drain)", true);
    drain_route(R"(/backends/(\d+)/undrain)", false);
    server.Post("/reload", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      auto done = plane.reload();
      if (!done) return reply_error(res, done.error());
      reply_json(res, R"({"reloaded":true})");
    });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      if (options.log != nullptr)
        options.log->debug("admin request", {{"method", req.method}, {"path", req.path}, {"status", res.status}});
    });
  }
};

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { stop(); }

ebpf::Result<std::unique_ptr<AdminServer>> AdminServer::start(ControlPlane& plane, const AdminServerOptions& options) {
  auto impl = std::make_unique<Impl>(plane, options);
  impl->routes();
  // httplib's default adds SO_REUSEPORT, which would let a second process bind the same admin port and
  // receive half of the (authenticated) requests; keep only SO_REUSEADDR for quick restarts.
  impl->server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::string host = options.listen.address.to_string();
  if (options.listen.port == 0) {
    impl->port = impl->server.bind_to_any_port(host.c_str());
    if (impl->port <= 0) return ebpf::Error::from_errno(errno ? errno : EADDRNOTAVAIL, "bind", "admin API on " + host);
  } else {
    if (!impl->server.bind_to_port(host.c_str(), options.listen.port))
      return ebpf::Error::from_errno(errno ? errno : EADDRINUSE, "bind", "admin API on " + options.listen.to_string());
    impl->port = options.listen.port;
  }
  // The socket already listens, so requests made before the thread runs wait in the backlog.
  impl->thread = std::thread([raw = impl.get()] {
    raw->server.listen_after_bind();
    raw->finished = true;
  });
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

std::uint16_t AdminServer::port() const { return static_cast<std::uint16_t>(impl_->port); }

void AdminServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  // httplib's stop() is a no-op until the accept loop runs: wait for it, or a stop right after start
  // would leave the thread listening forever.
  while (!impl_->server.is_running() && !impl_->finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace lb
