// ebpf-lb as a child process in the LB namespace; see balancer.hpp.
#include "lb/demo/balancer.hpp"

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "lb/control/config.hpp"
#include "lb/demo/topology.hpp"

namespace lb::demo {
namespace {

using Clock = std::chrono::steady_clock;

void service_yaml(std::ostringstream& y, const DemoService& s, const BalancerSettings& settings) {
  y << "  - name: " << s.name << "\n"
    << "    vip: " << s.vip << "\n"
    << "    port: " << s.port << "\n"
    << "    protocol: " << s.protocol << "\n"
    << "    scheduler: " << s.scheduler << "\n";
  if (s.health_check == "none") {
    y << "    health_check: { type: none }\n";
  } else {
    y << "    health_check: { type: " << s.health_check << (s.health_check == "http" ? ", path: /healthz" : "")
      << ", interval: " << settings.health_interval << ", timeout: " << settings.health_interval
      << ", rise: " << settings.health_rise << ", fall: " << settings.health_fall << " }\n";
  }
  y << "    backends:\n";
  for (const auto& b : s.backends)
    y << "      - { name: " << b.name << ", address: " << b.address << ", port: " << b.port << ", weight: " << b.weight
      << " }\n";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

}  // namespace

ebpf::Result<std::string> balancer_yaml(const BalancerSettings& settings) {
  if (settings.pin_dir.empty()) return ebpf::Error::invalid("demo config", "pin_dir is required");
  std::ostringstream y;
  y << "interfaces: { ingress: " << settings.ingress << " }\n"
    << "forwarding: " << settings.forwarding << "\n"
    << "pin_dir: " << settings.pin_dir << "\n"
    << "maglev_table_size: 65537\n"
    << "conntrack:\n"
    << "  max_entries: " << settings.conntrack_max << "\n"
    << "  tcp_idle_timeout: 10m\n"
    << "  udp_idle_timeout: 60s\n"
    << "admin:\n"
    << "  listen: 127.0.0.1:" << settings.admin_port << "\n"
    << "  token: " << settings.admin_token << "\n"
    << "services:\n";
  for (const auto& s : settings.services) service_yaml(y, s, settings);
  std::string text = y.str();
  auto parsed = parse_config(text, "demo.yaml");
  if (!parsed) return std::unexpected(parsed.error());
  EBPF_TRY(validate_config(*parsed));
  return text;
}

MetricSamples parse_prometheus(const std::string& text) {
  MetricSamples samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

double metric_sum(const MetricSamples& samples, const std::string& metric, const std::vector<std::string>& label_matches) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (series != metric && series.rfind(metric + "{", 0) != 0) continue;
    bool all = true;
    for (const auto& match : label_matches) all = all && series.find(match) != std::string::npos;
    if (all) sum += value;
  }
  return sum;
}

void remove_pin_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // bpffs pins are removed with unlink/rmdir like files
}

ebpf::Result<std::unique_ptr<Balancer>> Balancer::start(const BalancerSettings& settings, const BalancerOptions& options) {
  if (options.binary.empty() || options.netns.empty() || options.work_dir.empty())
    return ebpf::Error::invalid("balancer", "binary, netns and work_dir are required");
  std::unique_ptr<Balancer> balancer(new Balancer());
  balancer->options_ = options;
  balancer->config_path_ = options.work_dir + "/ebpf-lb.yaml";
  balancer->log_path_ = options.work_dir + "/ebpf-lb.log";
  EBPF_TRY(balancer->write_config(settings));
  EBPF_TRY(balancer->spawn(options.extra_args));
  return balancer;
}

Balancer::~Balancer() {
  child_.stop();
  remove_pin_dir(settings_.pin_dir);
}

ebpf::Result<void> Balancer::write_config(const BalancerSettings& settings) {
  const std::string text = EBPF_TRY(balancer_yaml(settings));
  const std::string temp = config_path_ + ".new";
  {
    std::ofstream out(temp);
    out << text;
    if (!out.flush()) return ebpf::Error::from_errno(EIO, "balancer", "cannot write " + temp);
  }
  std::error_code ec;
  std::filesystem::rename(temp, config_path_, ec);  // atomic: a reload never reads half a file
  if (ec) return ebpf::Error::from_errno(ec.value(), "balancer", "rename to " + config_path_);
  settings_ = settings;
  return ebpf::ok();
}

ebpf::Result<void> Balancer::spawn(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv{options_.binary, "--config", config_path_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = EBPF_TRY(Child::spawn(argv, {.netns_path = Topology::path(options_.netns), .log_path = log_path_}));
  return wait_ready();
}

ebpf::Result<void> Balancer::wait_ready() {
  const auto deadline = Clock::now() + options_.ready_timeout;
  std::string last = "no answer";
  while (Clock::now() < deadline) {
    if (!child_.running())
      return ebpf::Error(ebpf::Errc::io, "balancer", "ebpf-lb exited during start-up; log: " + log_tail());
    auto status = admin("GET", "/status");
    if (status && status->status == 200 && status->body.find("\"data_path_attached\":true") != std::string::npos)
      return ebpf::ok();
    last = status ? status->body : status.error().to_string();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ebpf::Error(ebpf::Errc::timeout, "balancer",
                     "ebpf-lb did not report an attached data path in time; last /status: " + last + "; log: " + log_tail());
}

ebpf::Result<void> Balancer::reload(std::size_t expect_backends) {
  EBPF_TRY(child_.signal(SIGHUP));
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  std::string last;
  while (Clock::now() < deadline) {
    auto backends = admin("GET", "/backends");
    if (backends && count_of(backends->body, "\"id\":") == expect_backends) return ebpf::ok();
    last = backends ? backends->body : backends.error().to_string();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ebpf::Error(ebpf::Errc::timeout, "reload", "ebpf-lb does not list " + std::to_string(expect_backends) +
                                                         " backends 10 s after SIGHUP; /backends: " + last);
}

ebpf::Result<int> Balancer::stop() {
  const int status = child_.stop(SIGTERM, std::chrono::seconds(10));
  return status;
}

ebpf::Result<void> Balancer::restart(const std::vector<std::string>& extra_args) {
  if (child_.running()) return ebpf::Error::invalid("restart", "ebpf-lb is still running; stop() it first");
  return spawn(extra_args);
}

ebpf::Result<HttpResponse> Balancer::admin(const std::string& method, const std::string& path) const {
  const std::string auth = method == "GET" ? "" : "Authorization: Bearer " + settings_.admin_token + "\r\n";
  return http_fetch(Topology::path(options_.netns), "127.0.0.1", settings_.admin_port, method, path, auth,
                    std::chrono::milliseconds(2000));
}

ebpf::Result<MetricSamples> Balancer::metrics() const {
  auto response = EBPF_TRY(admin("GET", "/metrics"));
  if (response.status != 200)
    return ebpf::Error(ebpf::Errc::io, "metrics", "GET /metrics: HTTP " + std::to_string(response.status) + " " + response.body);
  return parse_prometheus(response.body);
}

std::string Balancer::log_tail(std::size_t bytes) const {
  std::ifstream in(log_path_);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace lb::demo
