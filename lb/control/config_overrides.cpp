// Command-line overrides, the human-readable dump and the swap-only-when-valid store (see config.hpp).
#include <charconv>
#include <sstream>

#include "lb/control/config.hpp"

namespace lb {
namespace {

using ebpf::Error;
using ebpf::Result;

Result<ServiceConfig> cli_service(const std::string& vip_text) {
  ServiceConfig svc;
  svc.name = "cli";
  std::string_view text = vip_text;
  const auto slash = text.rfind('/');
  if (slash != std::string_view::npos) {
    const auto proto = text.substr(slash + 1);
    if (proto == "tcp") svc.protocol = Protocol::tcp;
    else if (proto == "udp") svc.protocol = Protocol::udp;
    else return Error::invalid("--vip", "'" + vip_text + "': protocol must be tcp or udp");
    text = text.substr(0, slash);
  }
  auto vip = parse_endpoint(text);
  if (!vip) return Error::invalid("--vip", "'" + vip_text + "': " + vip.error().message());
  svc.vip = *vip;
  return svc;
}

Result<BackendConfig> cli_backend(const std::string& text) {
  BackendConfig backend;
  std::string_view endpoint = text;
  const auto star = endpoint.rfind('*');
  if (star != std::string_view::npos) {
    const auto weight = endpoint.substr(star + 1);
    auto [end, ec] = std::from_chars(weight.data(), weight.data() + weight.size(), backend.weight);
    if (ec != std::errc() || end != weight.data() + weight.size() || weight.empty() || backend.weight > 65535)
      return Error::invalid("--backend", "'" + text + "': weight must be 0..65535");
    endpoint = endpoint.substr(0, star);
  }
  auto parsed = parse_endpoint(endpoint);
  if (!parsed) return Error::invalid("--backend", "'" + text + "': " + parsed.error().message());
  backend.endpoint = *parsed;
  backend.name = backend.endpoint.to_string();
  return backend;
}

}  // namespace

Result<void> apply_overrides(Config& config, const CliOverrides& overrides) {
  Config next = config;  // applied to a copy: a bad flag leaves the caller's config untouched
  if (overrides.interface) {
    if (overrides.interface->empty() || overrides.interface->size() > 15)
      return Error::invalid("--interface", "'" + *overrides.interface + "': must be 1..15 characters");
    // The client-facing interface carries both hooks: XDP for requests, TC egress for the replies
    // leaving toward the clients.
    next.interfaces.ingress = next.interfaces.egress = *overrides.interface;
  }
  if (overrides.vip) {
    auto svc = EBPF_TRY(cli_service(*overrides.vip));
    for (const auto& text : overrides.backends) svc.backends.push_back(EBPF_TRY(cli_backend(text)));
    if (svc.backends.empty()) return Error::invalid("--vip", "needs at least one --backend");
    std::erase_if(next.services, [](const ServiceConfig& s) { return s.name == "cli"; });
    next.services.push_back(std::move(svc));
  } else if (!overrides.backends.empty()) {
    return Error::invalid("--backend", "needs --vip to say which service the backends belong to");
  }
  if (overrides.ingress_hook) {
    if (*overrides.ingress_hook == "xdp") next.ingress_hook = IngressHook::xdp;
    else if (*overrides.ingress_hook == "tc") next.ingress_hook = IngressHook::tc;
    else return Error::invalid("--ingress-hook", "expected xdp or tc, got '" + *overrides.ingress_hook + "'");
  }
  if (next.interfaces.egress.empty()) next.interfaces.egress = next.interfaces.ingress;
  EBPF_TRY(validate_config(next));
  config = std::move(next);
  return ebpf::ok();
}

std::string describe(const Config& config) {
  std::ostringstream out;
  out << "source: " << config.source << "\n"
      << "interfaces: ingress=" << (config.interfaces.ingress.empty() ? "<unset>" : config.interfaces.ingress)
      << " egress=" << (config.interfaces.egress.empty() ? "<unset>" : config.interfaces.egress) << "\n"
      << "forwarding: " << to_string(config.forwarding) << "\n"
      << "ingress_hook: " << to_string(config.ingress_hook) << "\n"
      << "pin_dir: " << config.pin_dir << "\n"
      << "maglev_table_size: " << config.maglev_table_size << "\n"
      << "conntrack: max_entries=" << config.conntrack.max_entries
      << " tcp_idle=" << config.conntrack.tcp_idle_timeout.count() << "ms"
      << " tcp_transitory=" << config.conntrack.tcp_transitory_timeout.count() << "ms"
      << " udp_idle=" << config.conntrack.udp_idle_timeout.count() << "ms\n"
      << "admin: listen=" << config.admin.listen.to_string()
      << " token=" << (config.admin.token.empty() ? "<none: changes disabled>" : "<set>") << "\n";
  for (const auto& svc : config.services) {
    const auto& hc = svc.health_check;
    out << "service " << svc.name << ": " << svc.vip.to_string() << "/" << to_string(svc.protocol)
        << " scheduler=" << to_string(svc.scheduler) << " persistence=" << to_string(svc.persistence);
    if (svc.rate_limits.service_per_second)
      out << " rate=" << svc.rate_limits.service_per_second << "/s burst " << svc.rate_limits.service_burst;
    if (svc.rate_limits.source_per_second)
      out << " per_source=" << svc.rate_limits.source_per_second << "/s burst " << svc.rate_limits.source_burst;
    out << "\n  health: " << to_string(hc.type);
    if (hc.type == HealthCheckType::http) out << " GET " << hc.path << " expect " << hc.expected_status;
    out << " every " << hc.interval.count() << "ms timeout " << hc.timeout.count() << "ms rise " << hc.rise
        << " fall " << hc.fall << "\n";
    for (const auto& be : svc.backends)
      out << "  backend " << be.name << ": " << be.endpoint.to_string() << " weight " << be.weight << " group "
          << be.group << "\n";
    for (const auto& route : svc.source_routes)
      out << "  route " << route.cidr.to_string() << " -> group " << route.group << "\n";
  }
  return out.str();
}

std::shared_ptr<const Config> ConfigStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<std::shared_ptr<const Config>> ConfigStore::reload(const std::string& path) {
  const std::string source = path.empty() ? current()->source : path;
  auto next = EBPF_TRY(load_config_file(source));
  EBPF_TRY(apply_overrides(next, overrides_));
  auto shared = std::make_shared<const Config>(std::move(next));
  std::lock_guard lock(mutex_);
  current_ = shared;
  return shared;
}

Result<void> ConfigStore::replace(Config next) {
  EBPF_TRY(validate_config(next));
  auto shared = std::make_shared<const Config>(std::move(next));
  std::lock_guard lock(mutex_);
  current_ = std::move(shared);
  return ebpf::ok();
}

}  // namespace lb
