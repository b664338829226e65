// Feature names, first kernel versions, and the per-process cache in front of the probes.
#include "ebpf/features.hpp"

#include <sys/utsname.h>

#include <array>
#include <map>
#include <mutex>
#include <string>

#include "features_internal.hpp"

namespace ebpf {

namespace {

struct FeatureRow {
  std::string_view name;
  std::string_view min_kernel;
  std::string_view description;
};

constexpr std::array<FeatureRow, kFeatureCount> kFeatures = {{
    {"ringbuf", "5.8", "ring buffer maps"},
    {"batch_ops", "5.6", "batched map operations"},
    {"xdp_link", "5.9", "XDP bpf_link attachments"},
    {"tcx_link", "6.6", "tcx links"},
    {"uprobe_multi_link", "6.6", "uprobe_multi links"},
    {"kprobe_multi_link", "5.18", "kprobe_multi links (also needs CONFIG_FPROBE / kprobes)"},
    {"netkit_link", "6.7", "netkit links (also needs CONFIG_NETKIT)"},
    {"btf_enum64", "6.0", "BTF ENUM64 types"},
    {"btf_float", "5.13", "BTF FLOAT types"},
    {"btf_decl_tag", "5.16", "BTF DECL_TAG types"},
    {"btf_type_tag", "5.17", "BTF TYPE_TAG types"},
    {"global_data", "5.2", "global data (direct map value access)"},
    {"mmapable_array", "5.5", "mmap()-able array maps"},
    {"bpf_cookie", "5.15", "BPF cookies (bpf_get_attach_cookie)"},
    {"log_true_size", "6.4", "verifier log_true_size reporting"},
    {"arena", "6.9", "arena maps"},
}};

constexpr std::array<std::string_view, kProgTypeCount> kProgMin = {
    "-", "3.19", "4.1", "4.1", "4.1", "4.7", "4.8", "4.9", "4.10", "4.10", "4.10", "4.10", "4.10", "4.13",
    "4.14", "4.15", "4.17", "4.17", "4.17", "4.18", "4.18", "4.19", "4.20", "5.2", "5.2", "5.3", "5.5", "5.6",
    "5.6", "5.7", "5.9", "5.14", "6.4",
};
constexpr std::array<std::string_view, kMapTypeCount> kMapMin = {
    "-", "3.19", "3.19", "4.2", "4.3", "4.6", "4.6", "4.6", "4.8", "4.10", "4.10", "4.11", "4.12", "4.12",
    "4.14", "4.14", "4.15", "4.18", "4.18", "4.19", "4.19", "4.20", "4.20", "4.20", "5.2", "5.4", "5.6",
    "5.8", "5.10", "5.11", "5.16", "6.1", "6.2", "6.9",
};

// Cached verdicts keyed by (probe kind, id, sub-id).
struct Cache {
  std::mutex mutex;
  std::map<std::array<std::uint32_t, 3>, bool> answers;
};
Cache& cache() {
  static Cache c;
  return c;
}

enum Kind : std::uint32_t { kFeature, kProgType, kMapType, kHelper, kAttach };

template <class Probe>
Result<bool> cached(Kind kind, std::uint32_t id, std::uint32_t sub, Probe&& probe) {
  std::array<std::uint32_t, 3> key{kind, id, sub};
  {
    std::lock_guard lock(cache().mutex);
    auto it = cache().answers.find(key);
    if (it != cache().answers.end()) return it->second;
  }
  auto answer = probe();  // not under the lock: probes are slow and may recurse (attach -> feature)
  if (answer) {
    std::lock_guard lock(cache().mutex);
    cache().answers[key] = *answer;
  }
  return answer;
}

std::string kernel_release() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return u.release;
}

Error unsupported(std::string what, std::string_view min) {
  return Error(Errc::not_supported, "feature check",
               what + " needs Linux " + std::string(min) + " or newer (and the matching kernel config); the "
                   "running kernel " + kernel_release() + " does not support it",
               EOPNOTSUPP);
}

}  // namespace

std::string_view name(Feature f) noexcept {
  auto i = static_cast<std::size_t>(f);
  return i < kFeatures.size() ? kFeatures[i].name : std::string_view("unknown");
}

std::optional<Feature> feature_from_name(std::string_view n) noexcept {
  for (std::size_t i = 0; i < kFeatures.size(); ++i)
    if (kFeatures[i].name == n) return static_cast<Feature>(i);
  return std::nullopt;
}

namespace features {

std::string_view min_kernel(Feature f) noexcept {
  auto i = static_cast<std::size_t>(f);
  return i < kFeatures.size() ? kFeatures[i].min_kernel : std::string_view("?");
}
std::string_view min_kernel(ProgType t) noexcept {
  auto i = static_cast<std::size_t>(t);
  return i < kProgMin.size() ? kProgMin[i] : std::string_view("?");
}
std::string_view min_kernel(MapType t) noexcept {
  auto i = static_cast<std::size_t>(t);
  return i < kMapMin.size() ? kMapMin[i] : std::string_view("?");
}

Result<bool> has(Feature f) {
  if (static_cast<std::uint32_t>(f) >= kFeatureCount) return Error::invalid("feature check", "unknown feature");
  return cached(kFeature, static_cast<std::uint32_t>(f), 0, [f] { return detail::probe_named(f); });
}
Result<bool> has_prog_type(ProgType t) {
  return cached(kProgType, static_cast<std::uint32_t>(t), 0, [t] { return detail::probe_prog_type(t); });
}
Result<bool> has_map_type(MapType t) {
  return cached(kMapType, static_cast<std::uint32_t>(t), 0, [t] { return detail::probe_map_type(t); });
}
Result<bool> has_helper(ProgType t, std::uint32_t helper_id) {
  return cached(kHelper, static_cast<std::uint32_t>(t), helper_id,
                [t, helper_id] { return detail::probe_helper(t, helper_id); });
}
Result<bool> has_attach_type(AttachType t) {
  return cached(kAttach, static_cast<std::uint32_t>(t), 0, [t] { return detail::probe_attach_type(t); });
}

Result<void> require(Feature f) {
  if (EBPF_TRY(has(f))) return ok();
  auto i = static_cast<std::size_t>(f);
  return unsupported(std::string(kFeatures[i].description) + " (" + std::string(name(f)) + ")", min_kernel(f));
}
Result<void> require_prog_type(ProgType t) {
  if (EBPF_TRY(has_prog_type(t))) return ok();
  return unsupported("program type " + std::string(name(t)), min_kernel(t));
}
Result<void> require_map_type(MapType t) {
  if (EBPF_TRY(has_map_type(t))) return ok();
  return unsupported("map type " + std::string(name(t)), min_kernel(t));
}

void clear_cache() {
  std::lock_guard lock(cache().mutex);
  cache().answers.clear();
}

}  // namespace features
}  // namespace ebpf
