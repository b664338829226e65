// ebpf/btf/core.hpp — CO-RE (compile once, run everywhere) relocation: pure computation, no syscalls.
//
// For one bpf_core_relo record, compute() finds the target types matching the local type (same essential
// name, i.e. ignoring "___flavour" suffixes), walks the access string ("0:1:2": first index = array index on
// the root, then member/array indexes) on both sides and returns the local (expected) and target (new) values.
// Several target candidates must agree on the result, as libbpf documents; otherwise the relocation fails.
// A relocation that cannot be satisfied is not an Error: the result has `poison = true` and a reason, and
// patch_insn() rewrites the instruction into `call 0xbad2310` so that the verifier only fails if the program
// can reach it (libbpf's convention). Errors are reserved for malformed input (bad ids, bad access strings).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ebpf/btf.hpp"
#include "ebpf/btf/ext.hpp"
#include "ebpf/insn.hpp"

namespace ebpf::btf::core {

// The helper id libbpf uses to poison unresolvable relocations (an invalid helper call).
inline constexpr std::int32_t kPoisonHelperId = 0xbad2310;  // 195896080

struct RelocResult {
  RelocKind kind = RelocKind::field_byte_offset;
  bool poison = false;           // unresolvable: patch_insn() poisons the instruction
  std::string reason;            // why it was poisoned (empty otherwise)
  std::uint64_t local_value = 0;  // value the compiler put in the instruction (what we expect to find)
  std::uint64_t target_value = 0; // value to write
  bool validate = true;          // check the instruction holds local_value before patching
  // Field relocations: byte size of the local/target field (lets patch_insn fix LDX/STX widths).
  std::uint32_t local_size = 0;
  std::uint32_t target_size = 0;
  TypeId local_type = 0;   // root local type
  TypeId target_type = 0;  // matched root target type (0 when none)
  std::string local_spec;   // "struct task_struct.pid (0:26 @ offset 2392)"
  std::string target_spec;
};

// Caches candidate lists per local type id between calls (optional; big win for programs with many relos).
class CandidateCache {
 public:
  const std::vector<TypeId>* get(TypeId local) const;
  void put(TypeId local, std::vector<TypeId> ids);
 private:
  std::vector<std::pair<TypeId, std::vector<TypeId>>> entries_;
};

// Computes one relocation. Errors only for malformed input (Errc::bad_format / invalid_argument).
Result<RelocResult> compute(const Btf& local, const CoreRelo& relo, const Btf& target,
                            CandidateCache* cache = nullptr);

// Patches insns[insn_idx] (and insns[insn_idx+1] for LD_IMM64) with res.target_value:
// ALU/ALU64 K immediates, LDX/ST/STX offsets (and LDX/STX size if the field size changed), LD_IMM64 64-bit
// immediates. With res.validate the current value must equal res.local_value (Errc::bad_format otherwise).
// A poisoned result turns the instruction into `call kPoisonHelperId` (LD_IMM64: both halves replaced).
Result<void> patch_insn(std::span<Insn> insns, std::size_t insn_idx, const RelocResult& res);

struct ReportEntry {
  std::size_t insn_idx = 0;
  RelocResult result;
};
struct Report {
  std::vector<ReportEntry> applied;   // relocated successfully
  std::vector<ReportEntry> poisoned;  // unresolvable, instruction poisoned
  std::string to_string() const;      // one line per relocation
};

// Applies every relocation of one ELF section to `insns` (the section's instructions; insn_off / 8 = index).
Result<Report> relocate(const Btf& local, std::span<const CoreRelo> relos, const Btf& target,
                        std::span<Insn> insns);

// The same against several targets in order (KernelTypes::search_order(): vmlinux, then module BTFs): each
// relocation takes the first target holding a matching candidate, as libbpf does for types in modules; when
// none does, the first target's answer (exists = 0, or poisoned) stands.
Result<Report> relocate(const Btf& local, std::span<const CoreRelo> relos, std::span<const Btf* const> targets,
                        std::span<Insn> insns);

// "___flavour" stripped: "task_struct___v2" -> "task_struct".
std::string_view essential_name(std::string_view name) noexcept;

}  // namespace ebpf::btf::core
