// CO-RE relocation: candidate lookup, value computation for every relocation kind, instruction patching.
#include <algorithm>
#include <optional>
#include <string>

#include "core_impl.hpp"

namespace ebpf::btf::core {

using detail::Spec;

namespace {

Error bad(std::string msg) { return Error(Errc::bad_format, "CO-RE", std::move(msg), EINVAL); }

struct FieldValue {
  std::uint64_t value = 0;
  std::uint32_t size = 0;
  bool validate = true;
};

// Values of field relocations (kinds 0-5) from a resolved spec.
Result<FieldValue> field_value(const Spec& spec, RelocKind kind) {
  FieldValue out;
  if (kind == RelocKind::field_exists) {
    out.value = 1;
    return out;
  }
  const Btf& btf = *spec.btf;
  Type ft = EBPF_TRY(btf.skip_modifiers(spec.field_type));
  std::uint64_t bit_off = spec.bit_offset;
  std::uint32_t byte_sz = EBPF_TRY(btf.resolve_size(spec.field_type));
  std::uint64_t byte_off;
  std::uint32_t bit_sz;
  bool bitfield = spec.bitfield_size > 0;
  if (!bitfield) {
    if (bit_off % 8) return bad(spec.describe() + ": field is not byte-aligned");
    byte_off = bit_off / 8;
    bit_sz = byte_sz * 8;
  } else {
    // Smallest naturally aligned load (of at least the member type's size) covering the bitfield.
    bit_sz = spec.bitfield_size;
    if (byte_sz == 0) return bad(spec.describe() + ": bitfield of a zero-sized type");
    byte_off = bit_off / 8 / byte_sz * byte_sz;
    while (bit_off + bit_sz - byte_off * 8 > std::uint64_t{byte_sz} * 8) {
      if (byte_sz >= 8) return bad(spec.describe() + ": bitfield cannot be loaded with one 8-byte access");
      byte_sz *= 2;
      byte_off = bit_off / 8 / byte_sz * byte_sz;
    }
  }
  // Memory access size for LDX/STX width fixes: the element size for arrays, nothing for bitfields.
  if (!bitfield) {
    TypeId mem = spec.field_type;
    for (int depth = 0; depth < 32; ++depth) {
      Type t = EBPF_TRY(btf.skip_modifiers(mem));
      if (t.kind() != Kind::array) break;
      mem = t.array().elem_type;
    }
    out.size = EBPF_TRY(btf.resolve_size(mem));
  }
  switch (kind) {
    case RelocKind::field_byte_offset:
      out.value = byte_off;
      out.validate = !bitfield;
      break;
    case RelocKind::field_byte_size:
      out.value = byte_sz;
      out.validate = !bitfield;
      break;
    case RelocKind::field_signed:
      out.value = ft.is_enum() ? ft.enum_signed() : ft.kind() == Kind::int_ && (ft.int_encoding() & kIntSigned);
      break;
    case RelocKind::field_lshift_u64:
      out.value = 64 - (bit_off + bit_sz - byte_off * 8);
      break;
    case RelocKind::field_rshift_u64:
      out.value = 64 - bit_sz;
      break;
    default:
      break;
  }
  return out;
}

// Value of a relocation for a resolved spec on either side (local: the expectation, target: the new value).
Result<FieldValue> spec_value(const Spec& spec, RelocKind kind) {
  if (detail::is_field_kind(kind)) return field_value(spec, kind);
  FieldValue out;
  switch (kind) {
    case RelocKind::type_id_local: case RelocKind::type_id_target:
      out.value = spec.root;
      break;
    case RelocKind::type_exists: case RelocKind::type_matches: case RelocKind::enum_value_exists:
      out.value = 1;
      break;
    case RelocKind::type_size:
      out.value = EBPF_TRY(spec.btf->resolve_size(spec.root));
      break;
    case RelocKind::enum_value:
      out.value = static_cast<std::uint64_t>(spec.enum_value);
      break;
    default:
      return bad("unknown relocation kind " + std::to_string(static_cast<std::uint32_t>(kind)));
  }
  return out;
}

bool kinds_compatible(const Type& l, const Type& t) { return l.kind() == t.kind() || (l.is_enum() && t.is_enum()); }

std::vector<TypeId> find_candidates(const Btf& local, TypeId root, const Btf& target) {
  Type lt = local.at(root);
  std::vector<TypeId> out;
  std::string_view name = essential_name(lt.name());
  if (name.empty()) return out;
  for (TypeId id : target.find_by_essential_name(name))
    if (kinds_compatible(lt, target.at(id))) out.push_back(id);
  return out;
}

// Kinds whose "not found" answer is a legitimate value rather than a poisoned instruction.
bool zero_when_missing(RelocKind k) {
  switch (k) {
    case RelocKind::field_exists: case RelocKind::type_exists: case RelocKind::type_matches:
    case RelocKind::enum_value_exists: case RelocKind::type_id_target: case RelocKind::type_size:
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::vector<TypeId>* CandidateCache::get(TypeId local) const {
  for (const auto& [id, ids] : entries_)
    if (id == local) return &ids;
  return nullptr;
}
void CandidateCache::put(TypeId local, std::vector<TypeId> ids) { entries_.emplace_back(local, std::move(ids)); }

Result<RelocResult> compute(const Btf& local, const CoreRelo& relo, const Btf& target, CandidateCache* cache) {
  if (static_cast<std::uint32_t>(relo.kind) > static_cast<std::uint32_t>(RelocKind::type_matches))
    return bad("unknown relocation kind " + std::to_string(static_cast<std::uint32_t>(relo.kind)));
  RelocResult res;
  res.kind = relo.kind;
  res.local_type = relo.type_id;
  std::string_view access = EBPF_TRY(local.string_at(relo.access_str_off));
  Spec lspec = EBPF_TRY(detail::parse_spec(local, relo.type_id, access, relo.kind));
  res.local_spec = lspec.describe();
  FieldValue lv = EBPF_TRY(spec_value(lspec, relo.kind));
  res.local_value = lv.value;
  res.local_size = lv.size;
  res.validate = lv.validate;
  if (relo.kind == RelocKind::type_id_local) {
    res.target_value = lv.value;
    return res;
  }
  std::vector<TypeId> cands;
  const std::vector<TypeId>* cached = cache ? cache->get(relo.type_id) : nullptr;
  if (!cached) {
    cands = find_candidates(local, relo.type_id, target);
    if (cache) {
      cache->put(relo.type_id, cands);
      cached = cache->get(relo.type_id);
    } else {
      cached = &cands;
    }
  }
  bool matched = false;
  Spec tspec;
  for (TypeId cand : *cached) {
    Spec s;
    if (!EBPF_TRY(detail::match_spec(lspec, target, cand, relo.kind, s))) continue;
    auto tv = spec_value(s, relo.kind);
    if (!tv) {  // e.g. a bitfield that no single load covers in the target: poison, like libbpf
      res.poison = true;
      res.reason = tv.error().message();
      res.target_type = cand;
      return res;
    }
    if (matched && tv->value != res.target_value)
      return Error(Errc::invalid_argument, "CO-RE",
                   "ambiguous relocation " + std::string(reloc_kind_name(relo.kind)) + " for " + res.local_spec +
                       ": candidates [" + std::to_string(res.target_type) + "] and [" + std::to_string(cand) +
                       "] give " + std::to_string(res.target_value) + " and " + std::to_string(tv->value),
                   EINVAL);
    if (!matched) {
      matched = true;
      res.target_value = tv->value;
      res.target_size = tv->size;
      res.target_type = cand;
      tspec = std::move(s);
    }
  }
  if (matched) {
    res.target_spec = tspec.describe();
    return res;
  }
  res.target_value = 0;
  if (zero_when_missing(relo.kind)) return res;
  res.poison = true;
  res.reason = cached->empty() ? "no type named '" + std::string(essential_name(local.at(relo.type_id).name())) +
                                     "' of a compatible kind in the target BTF"
                               : "none of " + std::to_string(cached->size()) + " candidate(s) has " + res.local_spec;
  return res;
}

// ---- patching ----

namespace {
constexpr std::uint8_t kClassLd = 0, kClassLdx = 1, kClassSt = 2, kClassStx = 3, kClassAlu = 4, kClassAlu64 = 7;
constexpr std::uint8_t kCall = 0x85;  // BPF_JMP | BPF_CALL
constexpr std::uint8_t kLdImm64 = 0x18;

int size_bytes(std::uint8_t code) {
  switch (code & 0x18) {
    case 0x00: return 4;  // BPF_W
    case 0x08: return 2;  // BPF_H
    case 0x10: return 1;  // BPF_B
    default: return 8;    // BPF_DW
  }
}
std::uint8_t size_code(std::uint32_t bytes) {
  return bytes == 4 ? 0x00 : bytes == 2 ? 0x08 : bytes == 1 ? 0x10 : 0x18;
}
Error mismatch(std::size_t idx, std::uint64_t have, const RelocResult& res) {
  return bad("insn " + std::to_string(idx) + ": holds " + std::to_string(have) + " but the " +
             std::string(reloc_kind_name(res.kind)) + " relocation expected " + std::to_string(res.local_value) +
             " (" + res.local_spec + ")");
}
}  // namespace

Result<void> patch_insn(std::span<Insn> insns, std::size_t idx, const RelocResult& res) {
  if (idx >= insns.size())
    return bad("relocation for insn " + std::to_string(idx) + " beyond the program's " +
               std::to_string(insns.size()) + " instructions");
  Insn& insn = insns[idx];
  if (res.poison) {
    bool wide = insn.code == kLdImm64 && idx + 1 < insns.size();
    insn = Insn{kCall, 0, 0, 0, kPoisonHelperId};
    if (wide) insns[idx + 1] = Insn{kCall, 0, 0, 0, kPoisonHelperId};
    return ok();
  }
  std::uint8_t cls = insn.code & 0x07;
  std::uint64_t v = res.target_value;
  switch (cls) {
    case kClassAlu: case kClassAlu64:
      if (insn.code & 0x08) return bad("insn " + std::to_string(idx) + ": ALU relocation on a register operand");
      if (res.validate && static_cast<std::uint32_t>(insn.imm) != static_cast<std::uint32_t>(res.local_value))
        return mismatch(idx, static_cast<std::uint32_t>(insn.imm), res);
      if (v > UINT32_MAX) return bad("insn " + std::to_string(idx) + ": value " + std::to_string(v) + " exceeds 32 bits");
      insn.imm = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
      return ok();
    case kClassLdx: case kClassSt: case kClassStx: {
      if (res.validate && insn.off != static_cast<std::int16_t>(res.local_value))
        return mismatch(idx, static_cast<std::uint16_t>(insn.off), res);
      if (v > INT16_MAX) return bad("insn " + std::to_string(idx) + ": offset " + std::to_string(v) + " exceeds 16 bits");
      insn.off = static_cast<std::int16_t>(v);
      if (res.kind == RelocKind::field_byte_offset && res.local_size && res.target_size &&
          res.local_size != res.target_size) {
        if (size_bytes(insn.code) != static_cast<int>(res.local_size))
          return bad("insn " + std::to_string(idx) + ": memory access of " + std::to_string(size_bytes(insn.code)) +
                     " bytes does not match the local field size " + std::to_string(res.local_size));
        if (res.target_size > 8 || (res.target_size & (res.target_size - 1)))
          return bad("insn " + std::to_string(idx) + ": target field size " + std::to_string(res.target_size) +
                     " cannot be loaded by one instruction");
        insn.code = static_cast<std::uint8_t>((insn.code & ~0x18) | size_code(res.target_size));
      }
      return ok();
    }
    case kClassLd: {
      if (insn.code != kLdImm64 || idx + 1 >= insns.size())
        return bad("insn " + std::to_string(idx) + ": unsupported LD instruction for a relocation");
      std::uint64_t have = static_cast<std::uint32_t>(insn.imm) |
                           (std::uint64_t{static_cast<std::uint32_t>(insns[idx + 1].imm)} << 32);
      if (res.validate && have != res.local_value) return mismatch(idx, have, res);
      insn.imm = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
      insns[idx + 1].imm = static_cast<std::int32_t>(static_cast<std::uint32_t>(v >> 32));
      return ok();
    }
    default:
      return bad("insn " + std::to_string(idx) + ": opcode 0x" + std::to_string(insn.code) +
                 " cannot carry a CO-RE relocation");
  }
}

Result<Report> relocate(const Btf& local, std::span<const CoreRelo> relos, const Btf& target, std::span<Insn> insns) {
  Report report;
  CandidateCache cache;
  for (const CoreRelo& relo : relos) {
    if (relo.insn_off % 8) return bad("relocation insn_off " + std::to_string(relo.insn_off) + " is not a multiple of 8");
    std::size_t idx = relo.insn_off / 8;
    RelocResult res = EBPF_TRY(compute(local, relo, target, &cache));
    EBPF_TRY(patch_insn(insns, idx, res));
    (res.poison ? report.poisoned : report.applied).push_back({idx, std::move(res)});
  }
  return report;
}

Result<Report> relocate(const Btf& local, std::span<const CoreRelo> relos, std::span<const Btf* const> targets,
                        std::span<Insn> insns) {
  if (targets.empty() || std::find(targets.begin(), targets.end(), nullptr) != targets.end())
    return Error::invalid("CO-RE", "relocation needs at least one target BTF and no null targets");
  Report report;
  std::vector<CandidateCache> caches(targets.size());
  for (const CoreRelo& relo : relos) {
    if (relo.insn_off % 8) return bad("relocation insn_off " + std::to_string(relo.insn_off) + " is not a multiple of 8");
    std::size_t idx = relo.insn_off / 8;
    std::optional<RelocResult> chosen;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      RelocResult res = EBPF_TRY(compute(local, relo, *targets[t], &caches[t]));
      bool matched = res.target_type != 0 || relo.kind == RelocKind::type_id_local;
      if (!chosen || matched) chosen = std::move(res);
      if (matched) break;
    }
    EBPF_TRY(patch_insn(insns, idx, *chosen));
    (chosen->poison ? report.poisoned : report.applied).push_back({idx, std::move(*chosen)});
  }
  return report;
}

std::string Report::to_string() const {
  std::string out;
  auto line = [&out](const ReportEntry& e) {
    out += "insn " + std::to_string(e.insn_idx) + ": " + std::string(reloc_kind_name(e.result.kind)) + " " +
           e.result.local_spec;
    if (e.result.poison) {
      out += ": POISONED (" + e.result.reason + ")\n";
    } else {
      out += " -> " + (e.result.target_spec.empty() ? std::string("<none>") : e.result.target_spec) + ": " +
             std::to_string(e.result.local_value) + " -> " + std::to_string(e.result.target_value) + "\n";
    }
  };
  for (const auto& e : applied) line(e);
  for (const auto& e : poisoned) line(e);
  return out;
}

}  // namespace ebpf::btf::core
