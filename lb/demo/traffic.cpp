// Traffic through the VIP; see traffic.hpp.
#include "lb/demo/traffic.hpp"

namespace lb::demo {
namespace {

void record(SpreadResult& result, const ebpf::Result<std::string>& body) {
  if (body) {
    ++result.by_backend[backend_from_body(*body)];
    return;
  }
  if (result.failed++ == 0) result.first_error = body.error().to_string();
}

}  // namespace

std::string backend_from_body(const std::string& body) {
  const auto end = body.find_first_of(":\r\n");
  return body.substr(0, end);
}

SpreadResult http_spread(const std::string& netns_path, const std::string& address, std::uint16_t port, int count,
                         Millis timeout) {
  SpreadResult result;
  for (int i = 0; i < count; ++i) {
    auto response = http_fetch(netns_path, address, port, "GET", "/", {}, timeout);
    if (response && response->status != 200)
      record(result, ebpf::Error(ebpf::Errc::io, "http", "HTTP status " + std::to_string(response->status)));
    else if (response) record(result, response->body);
    else record(result, std::unexpected(response.error()));
  }
  return result;
}

SpreadResult udp_spread(const std::string& netns_path, const std::string& address, std::uint16_t port, int count,
                        Millis timeout) {
  SpreadResult result;
  for (int i = 0; i < count; ++i) record(result, udp_request(netns_path, address, port, "ping", timeout));
  return result;
}

ebpf::Result<KeepAlivePool> KeepAlivePool::open(const std::string& netns_path, const std::string& address,
                                                std::uint16_t port, int count) {
  KeepAlivePool pool;
  for (int i = 0; i < count; ++i) {
    auto fd = EBPF_TRY(tcp_connect(netns_path, address, port));
    auto response = EBPF_TRY(http_request(fd.get(), "GET", "/"));
    if (response.status != 200)
      return ebpf::Error(ebpf::Errc::io, "keep-alive", "first request: HTTP " + std::to_string(response.status));
    pool.connections_.push_back({std::move(fd), backend_from_body(response.body), false});
  }
  return pool;
}

KeepAlivePool::Round KeepAlivePool::exchange() {
  Round round;
  for (std::size_t i = 0; i < connections_.size(); ++i) {
    auto& c = connections_[i];
    if (c.broken) continue;
    auto response = http_request(c.fd.get(), "GET", "/");
    std::string problem;
    if (!response) problem = response.error().to_string();
    else if (response->status != 200) problem = "HTTP " + std::to_string(response->status);
    else if (backend_from_body(response->body) != c.backend)
      problem = "answered by " + backend_from_body(response->body) + " instead of " + c.backend;
    if (problem.empty()) {
      ++round.ok;
      continue;
    }
    c.broken = true;
    ++round.broken;
    ++broken_total_;
    round.errors.push_back("connection " + std::to_string(i) + " (" + c.backend + "): " + problem);
  }
  return round;
}

std::map<std::string, int> KeepAlivePool::by_backend() const {
  std::map<std::string, int> counts;
  for (const auto& c : connections_) ++counts[c.backend];
  return counts;
}

}  // namespace lb::demo
