// ebpf-lb as a child process inside the demo topology's LB namespace: a generated YAML configuration
// (validated with the control plane's own parser before it is written), start and wait until the data path
// is attached, SIGHUP reloads, SIGTERM stops, and the admin API / Prometheus metrics read from inside the
// namespace (the admin server listens on the namespace's own loopback). The pin directory is private to
// the run and removed on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/demo/client.hpp"
#include "lb/demo/process.hpp"

namespace lb::demo {

struct DemoBackend {
  std::string name;
  std::string address;
  std::uint16_t port = 80;
  std::uint32_t weight = 1;
};

struct DemoService {
  std::string name;
  std::string vip;
  std::uint16_t port = 80;
  std::string protocol = "tcp";
  std::string scheduler = "maglev";
  std::string health_check = "none";  // none | tcp | http
  std::vector<DemoBackend> backends;
};

struct BalancerSettings {
  std::string ingress = "l0";
  std::string forwarding = "pass";      // pass | redirect (config `forwarding:`)
  std::string pin_dir;                  // required: a private directory under /sys/fs/bpf
  std::uint32_t conntrack_max = 65536;
  std::string health_interval = "200ms";
  std::uint32_t health_rise = 1;
  std::uint32_t health_fall = 2;
  std::uint16_t admin_port = 9180;
  std::string admin_token = "demo-token-0123456789abcdef";
  std::vector<DemoService> services;
};

// The YAML text for `settings`; an error when the control plane's parser would refuse it.
ebpf::Result<std::string> balancer_yaml(const BalancerSettings& settings);

struct BalancerOptions {
  std::string binary;                   // path of the ebpf-lb executable
  std::string netns;                    // the LB namespace's name
  std::string work_dir;                 // config file and log go here
  std::vector<std::string> extra_args;  // appended to `ebpf-lb --config FILE`
  std::chrono::milliseconds ready_timeout{20000};
};

// Prometheus samples by full series name, e.g. `ebpf_lb_backend_bytes_total{service="web",...}`.
using MetricSamples = std::map<std::string, double>;
MetricSamples parse_prometheus(const std::string& text);
// Sum of every sample of `metric` whose labels contain all of `label_matches` (e.g. `backend="b1"`).
double metric_sum(const MetricSamples& samples, const std::string& metric, const std::vector<std::string>& label_matches = {});

class Balancer {
 public:
  static ebpf::Result<std::unique_ptr<Balancer>> start(const BalancerSettings& settings, const BalancerOptions& options);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Rewrites the configuration file (validated first) without telling the process.
  ebpf::Result<void> write_config(const BalancerSettings& settings);
  // SIGHUP, then waits until the admin API serves `expect_backends` backends (bounded).
  ebpf::Result<void> reload(std::size_t expect_backends);
  // SIGTERM and wait; the exit status. `extra_args` may have asked ebpf-lb to keep its pins.
  ebpf::Result<int> stop();
  // Starts the process again with the current configuration (e.g. after stop() with pins kept).
  ebpf::Result<void> restart(const std::vector<std::string>& extra_args);
  bool running() { return child_.running(); }

  ebpf::Result<HttpResponse> admin(const std::string& method, const std::string& path) const;
  ebpf::Result<MetricSamples> metrics() const;
  const std::string& log_path() const { return log_path_; }
  const std::string& config_path() const { return config_path_; }
  const BalancerSettings& settings() const { return settings_; }
  std::string log_tail(std::size_t bytes = 2000) const;

 private:
  Balancer() = default;
  ebpf::Result<void> spawn(const std::vector<std::string>& extra_args);
  ebpf::Result<void> wait_ready();

  BalancerSettings settings_;
  BalancerOptions options_;
  std::string config_path_;
  std::string log_path_;
  Child child_;
};

// Removes a bpffs directory and the pins in it (unlink each entry, then rmdir). Missing is fine.
void remove_pin_dir(const std::string& dir);

}  // namespace lb::demo
