// Shared fixture of the XDP ingress kernel tests: a configuration compiled into real maps, the program
// loaded against them, frames built with ebpf::packet, and the reference computations (flow hash → Maglev
// slot → backend) that predict what the program must do. The program is built for either ingress hook
// (XdpIngressOptions::hook): tests parametrized over IngressHook expect the hook's own verdict codes.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

// Packet specs are written with designated initialisers naming only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "lb/common/flow_hash.hpp"
#include "lb/control/config.hpp"
#include "lb/control/datapath_maps.hpp"
#include "lb/control/tables.hpp"
#include "lb/dataplane/xdp_ingress.hpp"
#include "support/kernel.hpp"

namespace lb::test {

inline constexpr std::uint32_t kXdpDrop = 1, kXdpPass = 2;
inline constexpr std::uint32_t kTcActOk = 0, kTcActShot = 2;  // written out, not taken from the code under test
inline std::uint32_t pass_code(IngressHook hook) { return hook == IngressHook::tc ? kTcActOk : kXdpPass; }
inline std::uint32_t drop_code(IngressHook hook) { return hook == IngressHook::tc ? kTcActShot : kXdpDrop; }
// gtest parameter names: "xdp" / "tc".
inline std::string hook_name(const ::testing::TestParamInfo<IngressHook>& info) { return std::string(to_string(info.param)); }
inline const ebpf::packet::Mac kClientMac{2, 0, 0, 0, 0, 1}, kLbMac{2, 0, 0, 0, 0, 2};

inline std::uint16_t net16(std::uint16_t v) { return htons(v); }
inline Addr mapped(const ebpf::packet::Ipv4Addr& v4) {
  Addr a;
  a.bytes[10] = a.bytes[11] = 0xff;
  std::memcpy(a.bytes.data() + 12, v4.data(), 4);
  return a;
}
inline Addr v6(const ebpf::packet::Ipv6Addr& addr) {
  Addr a;
  std::memcpy(a.bytes.data(), addr.data(), 16);
  return a;
}
inline ebpf::packet::Ipv4Addr ip4(std::string_view text) { return *ebpf::packet::parse_ipv4(text); }
inline ebpf::packet::Ipv4Addr ipv4_of(const Addr& a) { return {a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]}; }
inline ebpf::packet::Ipv6Addr ipv6_of(const Addr& a) {
  ebpf::packet::Ipv6Addr out;
  std::memcpy(out.data(), a.bytes.data(), 16);
  return out;
}

inline ConntrackKey flow_key(const Addr& src, const Addr& dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t proto,
                             std::uint8_t family) {
  ConntrackKey k;
  k.src = src;
  k.dst = dst;
  k.sport = net16(sport);
  k.dport = net16(dport);
  k.proto = proto;
  k.family = family;
  return k;
}

// A loaded data path: config → tables → maps → program.
class XdpDataPath {
 public:
  static ebpf::Result<XdpDataPath> create(std::string_view yaml, const CompileOptions& compile = {},
                                          const dataplane::XdpIngressOptions& options = {}) {
    XdpDataPath dp;
    dp.config = EBPF_TRY(parse_config(yaml, "xdp_test.yaml"));
    dp.tables = EBPF_TRY(compile_tables(dp.config, compile));
    dp.maps = std::make_unique<DataPathMaps>(EBPF_TRY(DataPathMaps::create(dp.config, dp.tables.maglev_entries * 2)));
    EBPF_TRY(dp.maps->apply(dp.tables));
    dp.program = EBPF_TRY(dataplane::load_xdp_ingress(*dp.maps, options));
    return dp;
  }

  ebpf::Result<ebpf::TestRunResult> run(std::span<const std::uint8_t> frame) const {
    return program.test_run({.data_in = frame});
  }

  // Recompiles from `yaml` keeping ids, applies over the live tables (as a reload does).
  ebpf::Result<void> reload(std::string_view yaml, CompileOptions compile = {}) {
    Config next = EBPF_TRY(parse_config(yaml, "xdp_test.yaml"));
    compile.generation = ++generation;
    for (const auto& [name, id] : tables.service_ids) compile.previous_service_ids[name] = id;
    for (const auto& [name, id] : tables.backend_ids) compile.previous_backend_ids[name] = id;
    CompiledTables next_tables = EBPF_TRY(compile_tables(next, compile));
    EBPF_TRY(maps->apply(next_tables, &tables));
    tables = std::move(next_tables);
    config = std::move(next);
    return ebpf::ok();
  }

  std::optional<ConntrackValue> conntrack(const ConntrackKey& key) const {
    ConntrackValue v;
    if (!maps->find("lb_conntrack")->lookup(ebpf::as_bytes_of(key), ebpf::as_writable_bytes_of(v))) return std::nullopt;
    return v;
  }
  ebpf::Result<void> put_conntrack(const ConntrackKey& key, const ConntrackValue& value) {
    return maps->find("lb_conntrack")->update(ebpf::as_bytes_of(key), ebpf::as_bytes_of(value));
  }
  BackendValue backend(std::uint32_t id) const {
    BackendValue v;
    EXPECT_OK(maps->find("lb_backends")->lookup(ebpf::as_bytes_of(id), ebpf::as_writable_bytes_of(v)));
    return v;
  }
  ebpf::Result<void> set_backend(std::uint32_t id, const BackendValue& v) {
    return maps->find("lb_backends")->update(ebpf::as_bytes_of(id), ebpf::as_bytes_of(v));
  }
  std::uint32_t service_id(const std::string& name) const { return tables.service_ids.at(name); }
  std::uint32_t backend_id(const std::string& key) const { return tables.backend_ids.at(key); }

  // The backend the reference computation picks for a new flow of service `name` (main table, or `group`).
  std::uint32_t expected_backend(const std::string& name, const ConntrackKey& key, bool source_only = false,
                                 const std::string& group = "default") const {
    for (const auto& t : tables.maglev_tables) {
      if (t.service != name || t.group != group) continue;
      const std::uint64_t hash = source_only ? source_hash(key.src) : flow_hash(key);
      return t.slots[hash % t.slots.size()];
    }
    ADD_FAILURE() << "no table for " << name << "/" << group;
    return kNoBackend;
  }

  Config config;
  CompiledTables tables;
  std::unique_ptr<DataPathMaps> maps;
  ebpf::Program program;
  std::uint32_t generation = 0;
};

// A TCP/IPv4 frame from client:sport to vip:dport with `flags`.
inline std::vector<std::uint8_t> tcp4(const ebpf::packet::Ipv4Addr& src, std::uint16_t sport, const ebpf::packet::Ipv4Addr& dst,
                                      std::uint16_t dport, std::uint8_t flags, std::string_view payload = "") {
  ebpf::packet::TcpSpec tcp{.src_port = sport, .dst_port = dport, .seq = 1000, .ack = flags & 0x10 ? 77u : 0u, .flags = flags};
  auto frame = ebpf::packet::Builder().ethernet(kClientMac, kLbMac).ipv4(src, dst).tcp(tcp).payload(payload).build();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(std::vector<std::uint8_t>{});
}
inline std::vector<std::uint8_t> udp4(const ebpf::packet::Ipv4Addr& src, std::uint16_t sport, const ebpf::packet::Ipv4Addr& dst,
                                      std::uint16_t dport, std::string_view payload = "ping") {
  auto frame = ebpf::packet::Builder().ethernet(kClientMac, kLbMac).ipv4(src, dst).udp(sport, dport).payload(payload).build();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(std::vector<std::uint8_t>{});
}

}  // namespace lb::test
