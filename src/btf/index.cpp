// The lazily built name index behind Btf::find / find_all / find_by_essential_name.
//
// Keyed by *essential* name ("task_struct___v1" and "task_struct" share a bucket) so CO-RE candidate lookup
// and exact-name lookup use one index. Layout: an open-addressed table of chain heads plus one `next` u32 per
// type — about 12 bytes per type, no per-name allocations.
#include <string>

#include "btf_data.hpp"
#include "ebpf/btf.hpp"

namespace ebpf::btf {

using detail::BtfData;

namespace {
std::uint64_t hash(std::string_view s) noexcept {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h ^ (h >> 29);
}
bool is_flavour_separator(std::string_view s, std::size_t i) noexcept {
  // X___Y: three underscores with a non-underscore on both sides.
  return i > 0 && i + 3 < s.size() && s[i - 1] != '_' && s[i] == '_' && s[i + 1] == '_' && s[i + 2] == '_' &&
         s[i + 3] != '_';
}
}  // namespace

std::string_view BtfData::essential(std::string_view name) noexcept {
  if (name.size() < 5) return name;
  for (std::size_t i = name.size() - 4; i > 0; --i)
    if (is_flavour_separator(name, i)) return name.substr(0, i);
  return name;
}

void BtfData::build_index() const {
  std::call_once(index_once, [this] {
    std::size_t n = offsets.size();
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    buckets.assign(cap, 0);
    next.assign(n, 0);
    // Insert in reverse id order so each chain lists ids ascending.
    for (std::size_t i = n; i-- > 0;) {
      std::string_view name = string(types[offsets[i]]);
      if (name.empty()) continue;
      std::string_view key = essential(name);
      std::size_t b = hash(key) & (cap - 1);
      // Linear probing on chain heads: a bucket holds the chain of one key only.
      while (buckets[b] != 0) {
        TypeId head = buckets[b] - 1;
        if (essential(string(types[offsets[head - start_id]])) == key) break;
        b = (b + 1) & (cap - 1);
      }
      TypeId id = start_id + static_cast<TypeId>(i);
      next[i] = buckets[b];
      buckets[b] = id + 1;
    }
    index_ready.store(true, std::memory_order_release);
  });
}

// A single lookup (e.g. one find("task_struct")) is cheaper as a scan than building the index; from the
// fifth lookup on, the index pays for itself.
constexpr std::uint32_t kScanLookups = 4;

void BtfData::bucket_chain(std::string_view key, std::vector<TypeId>& out) const {
  if (base) base->bucket_chain(key, out);
  if (!index_ready.load(std::memory_order_acquire) && lookups.fetch_add(1, std::memory_order_relaxed) < kScanLookups) {
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      std::string_view name = string(types[offsets[i]]);
      if (name.size() >= key.size() && name.starts_with(key) && essential(name) == key)
        out.push_back(start_id + static_cast<TypeId>(i));
    }
    return;
  }
  build_index();
  std::size_t cap = buckets.size();
  for (std::size_t b = hash(key) & (cap - 1); buckets[b] != 0; b = (b + 1) & (cap - 1)) {
    TypeId head = buckets[b] - 1;
    if (essential(string(types[offsets[head - start_id]])) != key) continue;
    for (std::uint32_t link = buckets[b]; link != 0; link = next[link - 1 - start_id]) out.push_back(link - 1);
    return;
  }
}

std::vector<TypeId> Btf::find_by_essential_name(std::string_view essential) const {
  std::vector<TypeId> out;
  data_->bucket_chain(essential, out);
  return out;
}

std::vector<TypeId> Btf::find_all(std::string_view name) const {
  std::vector<TypeId> out;
  if (name.empty()) return out;
  data_->bucket_chain(BtfData::essential(name), out);
  std::erase_if(out, [&](TypeId id) { return data_->at(id).name() != name; });
  return out;
}

Result<Type> Btf::find(std::string_view name, Kind kind) const {
  if (!name.empty()) {
    std::vector<TypeId> ids;
    data_->bucket_chain(BtfData::essential(name), ids);
    for (TypeId id : ids) {
      Type t = data_->at(id);
      if (t.kind() == kind && t.name() == name) return t;
    }
  }
  return Error(Errc::not_found, "BTF find",
               "no " + std::string(kind_name(kind)) + " named '" + std::string(name) + "'");
}

}  // namespace ebpf::btf
