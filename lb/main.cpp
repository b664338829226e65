// ebpf-lb: XDP/TC layer-4 load balancer. This build validates the configuration (--check) or runs the
// control plane: creates the data-path maps, fills them, health-checks backends and serves the admin API
// (SIGHUP reloads, SIGINT/SIGTERM stop). Attaching the BPF programs comes with the assembler.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "lb/control/api.hpp"
#include "lb/control/control_plane.hpp"

#include "lb/control/config.hpp"
#include "lb/control/log.hpp"
#include "lb/control/maglev.hpp"
#include "lb/control/tables.hpp"

namespace {

// Prints each service's Maglev table(s) shape: slots per backend against the weight-proportional share.
int print_maglev_stats(const lb::Config& config) {
  auto tables = lb::compile_tables(config);
  if (!tables) {
    std::cerr << "ebpf-lb: " << tables.error().to_string() << "\n";
    return 1;
  }
  for (const auto& table : tables->maglev_tables) {
    std::printf("maglev %s group %s: %u slots, %zu backends\n", table.service.c_str(), table.group.c_str(),
                config.maglev_table_size, table.backends.size());
    for (const auto& share : table.shares) {
      const auto& name = tables->backend_names.at(share.id);
      std::printf("  %-24s weight %5u  slots %6llu  expected %9.1f  deviation %+.3f%%\n", name.c_str(), share.weight,
                  static_cast<unsigned long long>(share.slots), share.expected_slots, share.deviation * 100);
    }
  }
  std::printf("maps: lb_maglev needs %u entries, %zu services, %zu backends, %zu source routes\n",
              tables->maglev_entries, tables->services.size(), tables->backends.size(), tables->source_routes.size());
  return 0;
}

// Runs the control plane until SIGINT/SIGTERM; SIGHUP reloads the configuration file.
int run(lb::Config config, lb::CliOverrides overrides, lb::Logger& log) {
  // Block the signals before any thread starts so only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto admin = config.admin;
  lb::ConfigStore store(std::move(config), std::move(overrides));
  auto lb = lb::LoadBalancer::create(store, {.log = &log, .start_healthy = true, .version = "0.1.0", .monotonic_ns = {}});
  if (!lb) {
    log.error("cannot start the control plane", {{"error", lb.error().to_string()}});
    return 1;
  }
  auto api = lb::AdminServer::start(**lb, {.listen = admin.listen, .token = admin.token, .log = &log});
  if (!api) {
    log.error("cannot start the admin API", {{"error", api.error().to_string()}});
    return 1;
  }
  log.info("control plane running (BPF programs not attached: data path pending)",
           {{"admin", "http://" + admin.listen.address.to_string() + ":" + std::to_string((*api)->port())},
            {"services", store.current()->services.size()}});
  const timespec sweep_every{5, 0};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &sweep_every);
    if (sig < 0) {  // timeout: sweep idle flows
      if (auto swept = (*lb)->sweep_conntrack(); !swept)
        log.warn("conntrack sweep failed", {{"error", swept.error().to_string()}});
      continue;
    }
    if (sig != SIGHUP) break;
    auto reloaded = (*lb)->reload();
    if (reloaded) log.info("reloaded on SIGHUP");
    else log.error("reload failed, previous configuration kept", {{"error", reloaded.error().to_string()}});
  }
  log.info("stopping");
  (*api)->stop();
  (*lb)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ebpf-lb: XDP/TC layer-4 load balancer built on the ebpf library"};
  std::string config_path;
  lb::CliOverrides overrides;
  std::string interface, vip;
  bool verbose = false;
  bool check = false;
  app.add_option("-c,--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("-i,--interface", interface, "ingress interface (overrides interfaces.ingress)");
  app.add_option("--vip", vip, "service VIP as ADDR:PORT[/tcp|udp] (defines service 'cli')");
  app.add_option("--backend", overrides.backends, "backend of the --vip service as ADDR:PORT[*WEIGHT] (repeatable)");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("--check", check, "validate, print the resolved configuration and Maglev statistics, exit");
  CLI11_PARSE(app, argc, argv);

  lb::Logger log({.level = verbose ? lb::LogLevel::debug : lb::LogLevel::info, .sink = {}, .now_ms = {}});
  if (!interface.empty()) overrides.interface = interface;
  if (!vip.empty()) overrides.vip = vip;

  lb::Config config;
  if (!config_path.empty()) {
    auto loaded = lb::load_config_file(config_path);
    if (!loaded) {
      std::cerr << "ebpf-lb: " << loaded.error().message() << "\n";
      return 1;
    }
    config = std::move(*loaded);
  }
  if (auto applied = lb::apply_overrides(config, overrides); !applied) {
    std::cerr << "ebpf-lb: " << applied.error().operation() << ": " << applied.error().message() << "\n";
    return 1;
  }
  if (config.services.empty()) {
    std::cerr << "ebpf-lb: no services: give --config or --vip with --backend (see --help)\n";
    return 1;
  }
  log.debug("configuration loaded", {{"source", config.source}, {"services", config.services.size()}});
  if (check) {
    std::fputs(lb::describe(config).c_str(), stdout);
    return print_maglev_stats(config);
  }
  return run(std::move(config), std::move(overrides), log);
}
