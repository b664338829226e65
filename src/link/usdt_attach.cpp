// Attaching USDT probes: one uprobe per site, its cookie indexing the spec map (see ebpf/attach/usdt.hpp).
#include <utility>
#include <vector>

#include "ebpf/attach/uprobe.hpp"
#include "ebpf/attach/usdt.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"

namespace ebpf {

Result<void> UsdtAttachment::detach() {
  // Detach every link even when one fails; report the first failure.
  Result<void> first;
  for (auto& link : links) {
    if (!link.attached()) continue;
    auto r = link.detach();
    if (!r && first) first = std::move(r);
  }
  links.clear();
  return first;
}

Result<Map> usdt_spec_map(std::uint32_t max_entries, std::string name) {
  MapSpec spec;
  spec.type = MapType::array;
  spec.name = std::move(name);
  spec.key_size = sizeof(std::uint32_t);
  spec.value_size = sizeof(UsdtSpec);
  spec.max_entries = max_entries;
  return Map::create(spec);
}

Result<UsdtAttachment> attach_usdt(const Program& program, const std::string& path, std::string_view provider,
                                   std::string_view name, Map& spec_map, const UsdtOptions& options) {
  constexpr std::string_view op = "attach USDT";
  const std::string what = std::string(provider) + ":" + std::string(name) + " in " + path;
  if (spec_map.key_size() != sizeof(std::uint32_t) || spec_map.value_size() != sizeof(UsdtSpec))
    return Error::invalid(std::string(op), "the spec map must have u32 keys and UsdtSpec values (" +
                                               std::to_string(sizeof(UsdtSpec)) + " bytes); see usdt_spec_map()");
  auto probes = EBPF_TRY(usdt_probes(path));
  UsdtAttachment out;
  for (auto& probe : probes)
    if (probe.provider == provider && probe.name == name) out.sites.push_back(std::move(probe));
  if (out.sites.empty()) return Error(Errc::not_found, std::string(op), "no USDT probe " + what, ENOENT);
  if (static_cast<std::uint64_t>(options.first_spec_id) + out.sites.size() > spec_map.max_entries())
    return Error::invalid(std::string(op), what + ": " + std::to_string(out.sites.size()) +
                                               " sites do not fit the spec map from index " +
                                               std::to_string(options.first_spec_id));
  // Specs first: a uprobe may fire as soon as it exists, and must then find its spec.
  for (std::size_t i = 0; i < out.sites.size(); ++i) {
    auto spec = EBPF_TRY(usdt_spec(out.sites[i], dsl::host_arch(), options.cookie));
    auto id = static_cast<std::uint32_t>(options.first_spec_id + i);
    auto r = spec_map.update(as_bytes_of(id), as_bytes_of(spec));
    if (!r) return std::move(r.error().context(what));
  }
  if (options.multi) {
    std::vector<std::uint64_t> offsets;
    UprobeMultiOptions multi;
    multi.pid = options.pid;
    for (std::size_t i = 0; i < out.sites.size(); ++i) {
      offsets.push_back(out.sites[i].pc_offset);
      multi.cookies.push_back(options.first_spec_id + i);
      multi.ref_ctr_offsets.push_back(out.sites[i].semaphore_offset);
    }
    auto link = attach_uprobe_multi(program, path, std::span<const std::uint64_t>(offsets), multi);
    if (!link) return std::move(link.error().context(what));
    out.links.push_back(std::move(*link));
  }
  for (std::size_t i = 0; i < out.sites.size() && !options.multi; ++i) {
    UprobeOptions uprobe;
    uprobe.pid = options.pid;
    uprobe.cookie = options.first_spec_id + i;
    uprobe.ref_ctr_offset = out.sites[i].semaphore_offset;
    auto link = attach_uprobe(program, path, out.sites[i].pc_offset, uprobe);
    if (!link) return std::move(link.error().context(what));  // links made so far detach with `out`
    out.links.push_back(std::move(*link));
  }
  out.next_spec_id = static_cast<std::uint32_t>(options.first_spec_id + out.sites.size());
  return out;
}

}  // namespace ebpf
