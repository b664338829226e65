// ebpf-lb: XDP/TC layer-4 load balancer.
//   ebpf-lb --config lb.yaml             run: maps, XDP + TC programs, health checks, admin API, events
//   ebpf-lb --interface eth0 --vip 10.0.0.100:80 --backend 10.0.1.1:8080 --backend 10.0.1.2:8080
//   ebpf-lb --check --config lb.yaml     validate and print the resolved configuration, Maglev statistics
//   ebpf-lb demo [--duration 20]         self-contained demonstration in network namespaces
// Signals: SIGHUP reloads (so does a change of the configuration file), SIGTERM/SIGINT stop cleanly —
// programs detached, pins removed, unless --keep-pins (for an upgrade: the next start adopts them).
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "lb/control/config.hpp"
#include "lb/control/log.hpp"
#include "lb/control/maglev.hpp"
#include "lb/control/tables.hpp"
#include "lb/dataplane/daemon.hpp"
#include "lb/demo/demo.hpp"

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

struct RunFlags {
  bool keep_pins = false;
  bool clean = false;
  bool no_attach = false;
  bool netlink = false;
  std::string xdp_mode = "auto";
};

ebpf::Result<ebpf::XdpMode> xdp_mode_from(const std::string& text) {
  if (text == "auto") return ebpf::XdpMode::unspecified;
  if (text == "generic") return ebpf::XdpMode::generic;
  if (text == "native") return ebpf::XdpMode::driver;
  return ebpf::Error::invalid("--xdp-mode", "expected auto, generic or native, got '" + text + "'");
}

// Runs the balancer until SIGINT/SIGTERM; SIGHUP (or a changed configuration file) reloads.
int run(lb::Config config, lb::CliOverrides overrides, const RunFlags& flags, lb::Logger& log) {
  auto mode = xdp_mode_from(flags.xdp_mode);
  if (!mode) {
    std::cerr << "ebpf-lb: " << mode.error().message() << "\n";
    return 1;
  }
  if (!flags.no_attach && config.interfaces.ingress.empty()) {
    std::cerr << "ebpf-lb: no interface: set interfaces.ingress in the configuration or --interface "
                 "(or --no-attach for the control plane alone)\n";
    return 1;
  }
  // Block the signals before any thread starts so only sigtimedwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  lb::ConfigStore store(std::move(config), std::move(overrides));
  auto daemon = lb::Daemon::start(store, {.log = &log, .version = "0.1.0", .attach = !flags.no_attach,
                                          .adopt = !flags.clean, .keep_pins = flags.keep_pins,
                                          .force_netlink = flags.netlink, .xdp_mode = *mode});
  if (!daemon) {
    log.error("cannot start", {{"error", daemon.error().to_string()}});
    return 1;
  }
  const timespec tick{1, 0};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig < 0) {
      (*daemon)->tick();
      continue;
    }
    if (sig != SIGHUP) break;
    (void)(*daemon)->reload("SIGHUP");
  }
  log.info("stopping");
  return (*daemon)->stop() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ebpf-lb: XDP/TC layer-4 load balancer built on the ebpf library"};
  std::string config_path;
  lb::CliOverrides overrides;
  std::string interface, vip;
  bool verbose = false;
  bool check = false;
  RunFlags flags;
  app.add_option("-c,--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("-i,--interface", interface, "client-facing interface: XDP ingress and TC egress "
                                              "(overrides interfaces.ingress and .egress)");
  app.add_option("--vip", vip, "service VIP as ADDR:PORT[/tcp|udp] (defines service 'cli')");
  app.add_option("--backend", overrides.backends, "backend of the --vip service as ADDR:PORT[*WEIGHT] (repeatable)");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("--check", check, "validate, print the resolved configuration and Maglev statistics, exit");
  app.add_flag("--keep-pins", flags.keep_pins, "on exit leave programs attached and maps pinned (upgrades)");
  app.add_flag("--clean", flags.clean, "do not adopt pinned state of a previous (crashed) run: start afresh");
  app.add_flag("--no-attach", flags.no_attach, "run the control plane without attaching the BPF programs");
  app.add_flag("--netlink", flags.netlink, "attach with netlink (XDP) and clsact/cls_bpf instead of bpf_links");
  app.add_option("--xdp-mode", flags.xdp_mode, "auto, generic or native");
  std::string ingress_hook;
  app.add_option("--ingress-hook", ingress_hook, "where the DNAT program runs: xdp (default) or tc "
                                                 "(TC ingress; cheaper on veth; overrides ingress_hook)");
  auto* demo_cmd = app.add_subcommand("demo", "run a self-contained demo in network namespaces (needs root)");
  int demo_seconds = 20;
  demo_cmd->add_option("--duration", demo_seconds, "seconds of traffic")->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);

  if (demo_cmd->parsed())
    return lb::demo::run({.duration = std::chrono::seconds(demo_seconds), .verbose = verbose});

  lb::Logger log({.level = verbose ? lb::LogLevel::debug : lb::LogLevel::info, .sink = {}, .now_ms = {}});
  if (!interface.empty()) overrides.interface = interface;
  if (!vip.empty()) overrides.vip = vip;
  if (!ingress_hook.empty()) overrides.ingress_hook = ingress_hook;

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
  return run(std::move(config), std::move(overrides), flags, log);
}
