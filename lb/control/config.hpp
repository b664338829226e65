// lb/control/config.hpp — ebpf-lb's configuration: YAML file + command-line overrides, fully validated.
//
// Parsing never throws and never half-applies: parse_config() builds a new Config and returns it only when
// every field and cross-reference is valid; ConfigStore swaps the active configuration only then, so an
// invalid reload changes nothing. Errors name the file, line, column and key path:
//   "lb.yaml:12:11: services[0].backends[1].port: must be 1..65535, got 70000"
// (Errc::invalid_argument; YAML syntax errors are Errc::bad_format).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/error.hpp"
#include "lb/control/address.hpp"
#include "lb/control/maglev.hpp"

namespace lb {

enum class Protocol { tcp, udp };
enum class Scheduler { maglev, random };
enum class Persistence { none, source_ip };
enum class ForwardingMode { pass, redirect };
// Where the DNAT program runs on the client-facing interface. xdp: earliest, cheapest on real NICs. tc: TC
// ingress (sched_cls), for veth and other virtual interfaces where native XDP costs a copy of every cloned skb.
enum class IngressHook { xdp, tc };
enum class HealthCheckType { none, tcp, http };

std::string_view to_string(Protocol);
std::string_view to_string(Scheduler);
std::string_view to_string(Persistence);
std::string_view to_string(ForwardingMode);
std::string_view to_string(IngressHook);
std::string_view to_string(HealthCheckType);

// Where a node was in the source file (1-based), for cross-reference errors found after parsing.
struct SourceLocation {
  int line = 0;
  int column = 0;
};

struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::tcp;
  std::string path = "/";        // http only
  int expected_status = 200;     // http only
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t rise = 2;        // consecutive successes to become healthy
  std::uint32_t fall = 3;        // consecutive failures to become unhealthy
};

struct BackendConfig {
  std::string name;              // stable identity for Maglev; defaults to "address:port"
  Endpoint endpoint;
  std::uint32_t weight = 1;
  std::string group = "default";
  SourceLocation where;
};

struct SourceRouteConfig {
  Cidr cidr;
  std::string group;
  SourceLocation where;
};

struct RateLimitConfig {
  std::uint32_t service_per_second = 0;  // 0 = unlimited
  std::uint32_t service_burst = 0;       // defaults to the rate
  std::uint32_t source_per_second = 0;
  std::uint32_t source_burst = 0;
};

struct ServiceConfig {
  std::string name;
  Endpoint vip;
  Protocol protocol = Protocol::tcp;
  Scheduler scheduler = Scheduler::maglev;
  Persistence persistence = Persistence::none;
  RateLimitConfig rate_limits;
  HealthCheckConfig health_check;
  std::vector<BackendConfig> backends;
  std::vector<SourceRouteConfig> source_routes;
  SourceLocation where;
};

struct ConntrackConfig {
  std::uint32_t max_entries = 1U << 20;
  std::chrono::milliseconds tcp_idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds tcp_transitory_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds udp_idle_timeout{std::chrono::seconds(60)};
};

inline constexpr std::uint16_t kDefaultAdminPort = 9180;

struct AdminConfig {
  Endpoint listen = Endpoint::loopback(kDefaultAdminPort);
  std::string token;  // empty = changes disabled
};

// Backends reply through the load balancer (their gateway), so replies leave toward the clients through the
// client-facing interface: that is where TC egress must SNAT them. `egress` is that interface — normally the
// same as `ingress`; set it apart only when replies are routed to the clients through another interface.
struct InterfacesConfig {
  std::string ingress;  // client-facing: XDP DNATs client -> VIP packets here
  std::string egress;   // where replies leave toward the clients: TC egress SNAT; defaults to ingress
};

struct Config {
  InterfacesConfig interfaces;
  ForwardingMode forwarding = ForwardingMode::pass;
  IngressHook ingress_hook = IngressHook::xdp;  // read at start: a reload that changes it only warns
  std::string pin_dir = "/sys/fs/bpf/ebpf-lb";
  std::uint32_t maglev_table_size = kDefaultMaglevTableSize;
  ConntrackConfig conntrack;
  // Flow open/close events from the data path (ring buffer → log lines and counts). Off saves two ring-buffer
  // records per connection (~0.3–0.6 µs of BPF time per connection in the e2e bench).
  bool flow_events = true;
  // A drained backend's flows may run this long; then their conntrack entries are removed (the backend gets
  // no more packets) and the drain is finished. 0: wait for the flows however long they last.
  std::chrono::milliseconds drain_timeout{std::chrono::minutes(5)};
  AdminConfig admin;
  std::vector<ServiceConfig> services;
  std::string source = "<command line>";  // file name the configuration came from
};

// Parses YAML text; `source_name` prefixes error locations.
ebpf::Result<Config> parse_config(std::string_view yaml_text, std::string_view source_name = "<config>");
ebpf::Result<Config> load_config_file(const std::string& path);

// Cross-field checks run after parsing and after command-line overrides: duplicate services or backends,
// address families, groups used by source routes, non-loopback admin without a token, interface names.
ebpf::Result<void> validate_config(const Config& config);

// Command-line overrides. --vip/--backend define (or replace) a service named "cli".
struct CliOverrides {
  std::optional<std::string> interface;
  std::optional<std::string> vip;         // "ADDR:PORT[/tcp|udp]"
  std::vector<std::string> backends;      // "ADDR:PORT[*WEIGHT]"
  std::optional<std::string> ingress_hook{};  // --ingress-hook xdp|tc
};
ebpf::Result<void> apply_overrides(Config& config, const CliOverrides& overrides);

// A readable multi-line dump of the resolved configuration (for --check and logs).
std::string describe(const Config& config);

// Holds the active configuration; readers get a consistent snapshot, reload swaps only a valid one.
class ConfigStore {
 public:
  // `overrides` (the command line) are re-applied on every reload so flags keep winning over the file.
  explicit ConfigStore(Config initial, CliOverrides overrides = {})
      : overrides_(std::move(overrides)), current_(std::make_shared<const Config>(std::move(initial))) {}
  std::shared_ptr<const Config> current() const;
  // Parses and validates `path` (default: the current config's source); on error nothing changes.
  ebpf::Result<std::shared_ptr<const Config>> reload(const std::string& path = {});
  ebpf::Result<void> replace(Config next);

 private:
  CliOverrides overrides_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
};

}  // namespace lb
