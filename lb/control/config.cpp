// YAML configuration parsing (see config.hpp). Every accessor reports file:line:column and the key path.
#include "lb/control/config.hpp"

#include <yaml-cpp/yaml.h>

#include "lb/common/maps.hpp"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace lb {
namespace {

using ebpf::Error;
using ebpf::Result;
using Node = YAML::Node;
using std::chrono::milliseconds;

// Parses one document, carrying the source name for error messages.
class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  Error error(const Node& node, std::string_view path, std::string_view message) const {
    const auto mark = node.Mark();
    return Error::invalid("config", source_ + ":" + std::to_string(mark.line + 1) + ":" +
                                        std::to_string(mark.column + 1) + ": " + std::string(path) + ": " +
                                        std::string(message));
  }
  SourceLocation where(const Node& node) const { return {node.Mark().line + 1, node.Mark().column + 1}; }

  // Rejects keys outside `allowed`: a typo must not silently fall back to a default.
  Result<void> check_keys(const Node& node, std::string_view path, std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) return error(node, path, "expected a mapping");
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      bool known = false;
      for (auto a : allowed) known = known || a == key;
      if (!known) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return error(entry.first, join(path, key), "unknown key (expected one of: " + list + ")");
      }
    }
    return ebpf::ok();
  }

  Result<std::string> scalar(const Node& node, std::string_view path) const {
    if (!node.IsScalar()) return error(node, path, "expected a scalar value");
    return node.Scalar();
  }

  Result<std::uint64_t> integer(const Node& node, std::string_view path, std::uint64_t min, std::uint64_t max) const {
    auto text = EBPF_TRY(scalar(node, path));
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      return error(node, path, "expected a non-negative integer, got '" + text + "'");
    if (value < min || value > max)
      return error(node, path, "must be " + std::to_string(min) + ".." + std::to_string(max) + ", got " + text);
    return value;
  }

  // "250ms", "2s", "5m", "1h", or a bare integer meaning seconds.
  Result<milliseconds> duration(const Node& node, std::string_view path) const {
    auto text = EBPF_TRY(scalar(node, path));
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const std::string_view unit(end, text.data() + text.size());
    if (ec != std::errc()) return error(node, path, "expected a duration such as 500ms, 2s, 5m, got '" + text + "'");
    std::uint64_t ms = 0;
    if (unit == "ms") ms = value;
    else if (unit == "s" || unit.empty()) ms = value * 1000;
    else if (unit == "m") ms = value * 60'000;
    else if (unit == "h") ms = value * 3'600'000;
    else return error(node, path, "unknown duration unit '" + std::string(unit) + "' (use ms, s, m or h)");
    if (ms == 0 || ms > 7ULL * 24 * 3'600'000) return error(node, path, "must be between 1ms and 7 days, got " + text);
    return milliseconds(ms);
  }

  template <class E>
  Result<E> choice(const Node& node, std::string_view path, std::initializer_list<std::pair<std::string_view, E>> options) const {
    auto text = EBPF_TRY(scalar(node, path));
    std::string list;
    for (const auto& [name, value] : options) {
      if (name == text) return value;
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    return error(node, path, "'" + text + "' is not one of: " + list);
  }

  Result<std::string> name(const Node& node, std::string_view path, std::size_t max_len) const {
    auto text = EBPF_TRY(scalar(node, path));
    if (text.empty() || text.size() > max_len)
      return error(node, path, "must be 1.." + std::to_string(max_len) + " characters");
    for (char c : text)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':' || c == '@'))
        return error(node, path, "'" + text + "' may only contain letters, digits and - _ . : @");
    return text;
  }

  // Wraps a parse_* helper so its message gets this node's location.
  template <class T>
  Result<T> located(const Node& node, std::string_view path, Result<T> parsed) const {
    if (!parsed) return error(node, path, parsed.error().message());
    return parsed;
  }

  static std::string join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
  }
  static std::string index(std::string_view path, std::size_t i) { return std::string(path) + "[" + std::to_string(i) + "]"; }

  Result<Config> document(const Node& root);

 private:
  Result<void> interfaces(const Node& node, Config& config) const;
  Result<void> conntrack(const Node& node, ConntrackConfig& ct) const;
  Result<void> admin(const Node& node, AdminConfig& admin) const;
  Result<ServiceConfig> service(const Node& node, const std::string& path) const;
  Result<void> rate_limits(const Node& node, const std::string& path, RateLimitConfig& limits) const;
  Result<void> health_check(const Node& node, const std::string& path, HealthCheckConfig& hc) const;
  Result<BackendConfig> backend(const Node& node, const std::string& path) const;
  Result<SourceRouteConfig> source_route(const Node& node, const std::string& path) const;

  std::string source_;
};

Result<void> Parser::interfaces(const Node& node, Config& config) const {
  EBPF_TRY(check_keys(node, "interfaces", {"ingress", "egress"}));
  if (node["ingress"]) config.interfaces.ingress = EBPF_TRY(name(node["ingress"], "interfaces.ingress", 15));
  if (node["egress"]) config.interfaces.egress = EBPF_TRY(name(node["egress"], "interfaces.egress", 15));
  return ebpf::ok();
}

Result<void> Parser::conntrack(const Node& node, ConntrackConfig& ct) const {
  EBPF_TRY(check_keys(node, "conntrack", {"max_entries", "tcp_idle_timeout", "tcp_transitory_timeout", "udp_idle_timeout"}));
  if (node["max_entries"])
    ct.max_entries = static_cast<std::uint32_t>(EBPF_TRY(integer(node["max_entries"], "conntrack.max_entries", 1024, 1U << 28)));
  if (node["tcp_idle_timeout"]) ct.tcp_idle_timeout = EBPF_TRY(duration(node["tcp_idle_timeout"], "conntrack.tcp_idle_timeout"));
  if (node["tcp_transitory_timeout"])
    ct.tcp_transitory_timeout = EBPF_TRY(duration(node["tcp_transitory_timeout"], "conntrack.tcp_transitory_timeout"));
  if (node["udp_idle_timeout"]) ct.udp_idle_timeout = EBPF_TRY(duration(node["udp_idle_timeout"], "conntrack.udp_idle_timeout"));
  return ebpf::ok();
}

Result<void> Parser::admin(const Node& node, AdminConfig& admin) const {
  EBPF_TRY(check_keys(node, "admin", {"listen", "token"}));
  if (node["listen"]) {
    auto text = EBPF_TRY(scalar(node["listen"], "admin.listen"));
    admin.listen = EBPF_TRY(located(node["listen"], "admin.listen", parse_endpoint(text)));
  }
  if (node["token"]) {
    admin.token = EBPF_TRY(scalar(node["token"], "admin.token"));
    if (admin.token.size() < 16) return error(node["token"], "admin.token", "must be at least 16 characters");
  }
  return ebpf::ok();
}

Result<void> Parser::rate_limits(const Node& node, const std::string& path, RateLimitConfig& limits) const {
  EBPF_TRY(check_keys(node, path, {"service_per_second", "service_burst", "source_per_second", "source_burst"}));
  auto field = [&](const char* key, std::uint32_t& out) -> Result<void> {
    if (node[key]) out = static_cast<std::uint32_t>(EBPF_TRY(integer(node[key], join(path, key), 1, 100'000'000)));
    return ebpf::ok();
  };
  EBPF_TRY(field("service_per_second", limits.service_per_second));
  EBPF_TRY(field("service_burst", limits.service_burst));
  EBPF_TRY(field("source_per_second", limits.source_per_second));
  EBPF_TRY(field("source_burst", limits.source_burst));
  if (limits.service_burst != 0 && limits.service_per_second == 0)
    return error(node["service_burst"], join(path, "service_burst"), "set without service_per_second");
  if (limits.source_burst != 0 && limits.source_per_second == 0)
    return error(node["source_burst"], join(path, "source_burst"), "set without source_per_second");
  if (limits.service_burst == 0) limits.service_burst = limits.service_per_second;
  if (limits.source_burst == 0) limits.source_burst = limits.source_per_second;
  return ebpf::ok();
}

Result<void> Parser::health_check(const Node& node, const std::string& path, HealthCheckConfig& hc) const {
  EBPF_TRY(check_keys(node, path, {"type", "path", "expected_status", "interval", "timeout", "rise", "fall"}));
  if (node["type"])
    hc.type = EBPF_TRY(choice<HealthCheckType>(node["type"], join(path, "type"),
                                               {{"tcp", HealthCheckType::tcp}, {"http", HealthCheckType::http}, {"none", HealthCheckType::none}}));
  if (node["path"]) {
    hc.path = EBPF_TRY(scalar(node["path"], join(path, "path")));
    if (!hc.path.starts_with('/') || hc.path.find_first_of(" \r\n") != std::string::npos)
      return error(node["path"], join(path, "path"), "must start with '/' and contain no spaces or line breaks");
  }
  if (node["expected_status"])
    hc.expected_status = static_cast<int>(EBPF_TRY(integer(node["expected_status"], join(path, "expected_status"), 100, 599)));
  if (node["interval"]) hc.interval = EBPF_TRY(duration(node["interval"], join(path, "interval")));
  if (node["timeout"]) hc.timeout = EBPF_TRY(duration(node["timeout"], join(path, "timeout")));
  if (node["rise"]) hc.rise = static_cast<std::uint32_t>(EBPF_TRY(integer(node["rise"], join(path, "rise"), 1, 100)));
  if (node["fall"]) hc.fall = static_cast<std::uint32_t>(EBPF_TRY(integer(node["fall"], join(path, "fall"), 1, 100)));
  if (hc.type != HealthCheckType::http && (node["path"] || node["expected_status"]))
    return error(node, path, "path/expected_status apply to type http only");
  if (hc.timeout > hc.interval)
    return error(node["timeout"] ? node["timeout"] : node, join(path, "timeout"), "must not exceed the interval");
  return ebpf::ok();
}

Result<BackendConfig> Parser::backend(const Node& node, const std::string& path) const {
  EBPF_TRY(check_keys(node, path, {"name", "address", "port", "weight", "group"}));
  BackendConfig backend;
  backend.where = where(node);
  if (!node["address"]) return error(node, path, "missing required key 'address'");
  if (!node["port"]) return error(node, path, "missing required key 'port'");
  auto address = EBPF_TRY(scalar(node["address"], join(path, "address")));
  backend.endpoint.address = EBPF_TRY(located(node["address"], join(path, "address"), parse_ip(address)));
  backend.endpoint.port = static_cast<std::uint16_t>(EBPF_TRY(integer(node["port"], join(path, "port"), 1, 65535)));
  if (node["weight"]) backend.weight = static_cast<std::uint32_t>(EBPF_TRY(integer(node["weight"], join(path, "weight"), 0, 65535)));
  if (node["group"]) backend.group = EBPF_TRY(name(node["group"], join(path, "group"), 64));
  backend.name = node["name"] ? EBPF_TRY(name(node["name"], join(path, "name"), 128)) : backend.endpoint.to_string();
  return backend;
}

Result<SourceRouteConfig> Parser::source_route(const Node& node, const std::string& path) const {
  EBPF_TRY(check_keys(node, path, {"cidr", "group"}));
  if (!node["cidr"]) return error(node, path, "missing required key 'cidr'");
  if (!node["group"]) return error(node, path, "missing required key 'group'");
  SourceRouteConfig route;
  route.where = where(node);
  auto text = EBPF_TRY(scalar(node["cidr"], join(path, "cidr")));
  route.cidr = EBPF_TRY(located(node["cidr"], join(path, "cidr"), parse_cidr(text)));
  route.group = EBPF_TRY(name(node["group"], join(path, "group"), 64));
  return route;
}

Result<ServiceConfig> Parser::service(const Node& node, const std::string& path) const {
  EBPF_TRY(check_keys(node, path, {"name", "vip", "port", "protocol", "scheduler", "persistence", "rate_limits",
                                   "health_check", "backends", "source_routes"}));
  ServiceConfig svc;
  svc.where = where(node);
  for (const char* required : {"name", "vip", "port", "backends"})
    if (!node[required]) return error(node, path, "missing required key '" + std::string(required) + "'");
  svc.name = EBPF_TRY(name(node["name"], join(path, "name"), 64));
  auto vip = EBPF_TRY(scalar(node["vip"], join(path, "vip")));
  svc.vip.address = EBPF_TRY(located(node["vip"], join(path, "vip"), parse_ip(vip)));
  svc.vip.port = static_cast<std::uint16_t>(EBPF_TRY(integer(node["port"], join(path, "port"), 1, 65535)));
  if (node["protocol"])
    svc.protocol = EBPF_TRY(choice<Protocol>(node["protocol"], join(path, "protocol"), {{"tcp", Protocol::tcp}, {"udp", Protocol::udp}}));
  if (node["scheduler"])
    svc.scheduler = EBPF_TRY(choice<Scheduler>(node["scheduler"], join(path, "scheduler"),
                                               {{"maglev", Scheduler::maglev}, {"random", Scheduler::random}}));
  if (node["persistence"])
    svc.persistence = EBPF_TRY(choice<Persistence>(node["persistence"], join(path, "persistence"),
                                                   {{"none", Persistence::none}, {"source_ip", Persistence::source_ip}}));
  if (node["rate_limits"]) EBPF_TRY(rate_limits(node["rate_limits"], join(path, "rate_limits"), svc.rate_limits));
  if (node["health_check"]) EBPF_TRY(health_check(node["health_check"], join(path, "health_check"), svc.health_check));
  const Node backends = node["backends"];
  if (!backends.IsSequence() || backends.size() == 0)
    return error(backends, join(path, "backends"), "expected a non-empty list");
  for (std::size_t i = 0; i < backends.size(); ++i)
    svc.backends.push_back(EBPF_TRY(backend(backends[i], index(join(path, "backends"), i))));
  if (const Node routes = node["source_routes"]) {
    if (!routes.IsSequence()) return error(routes, join(path, "source_routes"), "expected a list");
    for (std::size_t i = 0; i < routes.size(); ++i)
      svc.source_routes.push_back(EBPF_TRY(source_route(routes[i], index(join(path, "source_routes"), i))));
  }
  return svc;
}

Result<Config> Parser::document(const Node& root) {
  Config config;
  config.source = source_;
  if (!root || root.IsNull()) return config;
  EBPF_TRY(check_keys(root, "", {"interfaces", "forwarding", "ingress_hook", "pin_dir", "maglev_table_size", "conntrack", "flow_events",
                                 "drain_timeout", "admin", "services"}));
  if (root["interfaces"]) EBPF_TRY(interfaces(root["interfaces"], config));
  if (config.interfaces.egress.empty()) config.interfaces.egress = config.interfaces.ingress;
  if (root["forwarding"])
    config.forwarding = EBPF_TRY(choice<ForwardingMode>(root["forwarding"], "forwarding",
                                                        {{"pass", ForwardingMode::pass}, {"redirect", ForwardingMode::redirect}}));
  if (root["ingress_hook"])
    config.ingress_hook = EBPF_TRY(choice<IngressHook>(root["ingress_hook"], "ingress_hook",
                                                       {{"xdp", IngressHook::xdp}, {"tc", IngressHook::tc}}));
  if (root["pin_dir"]) {
    config.pin_dir = EBPF_TRY(scalar(root["pin_dir"], "pin_dir"));
    if (!config.pin_dir.starts_with("/sys/fs/bpf/"))
      return error(root["pin_dir"], "pin_dir", "must be a directory under /sys/fs/bpf/");
  }
  if (root["maglev_table_size"]) {
    const Node n = root["maglev_table_size"];
    const auto size = EBPF_TRY(integer(n, "maglev_table_size", 3, kMaxMaglevTableSize));
    if (!is_prime(size))
      return error(n, "maglev_table_size", std::to_string(size) + " is not prime (next prime: " + std::to_string(next_prime(size)) + ")");
    config.maglev_table_size = static_cast<std::uint32_t>(size);
  }
  if (root["conntrack"]) EBPF_TRY(conntrack(root["conntrack"], config.conntrack));
  if (root["flow_events"])
    config.flow_events = EBPF_TRY(choice<bool>(root["flow_events"], "flow_events", {{"true", true}, {"false", false}}));
  if (const Node n = root["drain_timeout"])  // "none": a drain waits for its flows however long they last
    config.drain_timeout = n.IsScalar() && n.Scalar() == "none" ? milliseconds(0) : EBPF_TRY(duration(n, "drain_timeout"));
  if (root["admin"]) EBPF_TRY(admin(root["admin"], config.admin));
  if (const Node services = root["services"]) {
    if (!services.IsSequence()) return error(services, "services", "expected a list");
    for (std::size_t i = 0; i < services.size(); ++i)
      config.services.push_back(EBPF_TRY(service(services[i], index("services", i))));
  }
  return config;
}

Error cross_error(const Config& config, SourceLocation where, std::string_view path, std::string_view message) {
  // Services from the command line have no file position.
  const std::string at = where.line == 0 ? config.source
                                         : config.source + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
  return Error::invalid("config", at + ": " + std::string(path) + ": " + std::string(message));
}

Result<void> validate_service(const Config& config, const ServiceConfig& svc, std::size_t i) {
  const std::string path = "services[" + std::to_string(i) + "]";
  std::set<std::string> names;
  std::set<std::string> endpoints;
  std::set<std::string> groups;
  std::uint64_t total_weight = 0;
  for (std::size_t b = 0; b < svc.backends.size(); ++b) {
    const auto& be = svc.backends[b];
    const std::string bpath = path + ".backends[" + std::to_string(b) + "]";
    if (be.endpoint.address.family != svc.vip.address.family)
      return cross_error(config, be.where, bpath, "address family differs from the VIP " + svc.vip.address.to_string() +
                                                      " (no IPv4/IPv6 translation)");
    if (!names.insert(be.name).second) return cross_error(config, be.where, bpath, "duplicate backend name '" + be.name + "'");
    if (!endpoints.insert(be.endpoint.to_string()).second)
      return cross_error(config, be.where, bpath, "duplicate backend " + be.endpoint.to_string());
    groups.insert(be.group);
    total_weight += be.weight;
  }
  if (total_weight == 0)
    return cross_error(config, svc.where, path + ".backends", "every backend has weight 0");
  if (svc.backends.size() > config.maglev_table_size)
    return cross_error(config, svc.where, path + ".backends", "more backends than maglev_table_size slots");
  for (std::size_t r = 0; r < svc.source_routes.size(); ++r) {
    const auto& route = svc.source_routes[r];
    const std::string rpath = path + ".source_routes[" + std::to_string(r) + "]";
    if (!groups.contains(route.group))
      return cross_error(config, route.where, rpath + ".group", "no backend of this service is in group '" + route.group + "'");
    if (route.cidr.address.family != svc.vip.address.family)
      return cross_error(config, route.where, rpath + ".cidr", "address family differs from the VIP");
  }
  return ebpf::ok();
}

}  // namespace

std::string_view to_string(Protocol p) { return p == Protocol::tcp ? "tcp" : "udp"; }
std::string_view to_string(Scheduler s) { return s == Scheduler::maglev ? "maglev" : "random"; }
std::string_view to_string(Persistence p) { return p == Persistence::none ? "none" : "source_ip"; }
std::string_view to_string(ForwardingMode m) { return m == ForwardingMode::pass ? "pass" : "redirect"; }
std::string_view to_string(IngressHook h) { return h == IngressHook::xdp ? "xdp" : "tc"; }
std::string_view to_string(HealthCheckType t) {
  return t == HealthCheckType::tcp ? "tcp" : t == HealthCheckType::http ? "http" : "none";
}

Result<Config> parse_config(std::string_view yaml_text, std::string_view source_name) {
  Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error(ebpf::Errc::bad_format, "config",
                 std::string(source_name) + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                     ": YAML syntax error: " + e.msg);
  }
  try {
    Parser parser{std::string(source_name)};
    auto config = EBPF_TRY(parser.document(root));
    EBPF_TRY(validate_config(config));
    return config;
  } catch (const YAML::Exception& e) {  // yaml-cpp may throw on odd documents (e.g. complex keys)
    return Error(ebpf::Errc::bad_format, "config", std::string(source_name) + ": " + e.what());
  }
}

Result<Config> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::from_errno(errno, "open", "cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

Result<void> validate_config(const Config& config) {
  if (!config.interfaces.ingress.empty() && config.interfaces.ingress.size() > 15)
    return Error::invalid("config", config.source + ": interfaces.ingress: longer than 15 characters");
  if (!config.admin.listen.address.is_loopback() && config.admin.token.empty())
    return Error::invalid("config", config.source + ": admin.listen: " + config.admin.listen.to_string() +
                                        " is not a loopback address; set admin.token to expose the API");
  std::set<std::string> names;
  std::set<std::string> keys;
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    const auto& svc = config.services[i];
    const std::string path = "services[" + std::to_string(i) + "]";
    if (!names.insert(svc.name).second) return cross_error(config, svc.where, path + ".name", "duplicate service name '" + svc.name + "'");
    const std::string key = svc.vip.to_string() + "/" + std::string(to_string(svc.protocol));
    if (!keys.insert(key).second) return cross_error(config, svc.where, path, "duplicate service " + key);
    EBPF_TRY(validate_service(config, svc, i));
  }
  if (config.services.size() > kMaxServices)
    return Error::invalid("config", config.source + ": services: more than " + std::to_string(kMaxServices));
  return ebpf::ok();
}

}  // namespace lb
