// ebpf/assembler.hpp — building programs from C++ calls: symbolic labels (forward and backward), subprograms,
// map references patched with fds at load time, helper calls by name; at run time or at compile time.
//
//   using namespace ebpf::isa;                        // registers r0..r10 / w0..w10, sizes B H W DW
//   ebpf::Assembler a;
//   a.ld_map(r1, "counters")                          // relocation: patched by Bytecode::resolve
//    .mov(r2, r10).add(r2, -4).st(W, r10, -4, 0)
//    .call("map_lookup_elem")                         // or .call(ebpf::helper::map_lookup_elem)
//    .jeq(r0, 0, "out").mov(r1, 1).atomic_add(DW, r0, 0, r1)
//    .label("out").mov(r0, 0).exit();
//   auto code = a.finish();                           // Result<Bytecode>; errors name the instruction
//   code->resolve("counters", map.fd());
//
// Builder calls never fail on their own: the first problem is recorded and reported by finish() (or link()).
// Programs known at compile time become constants — a bad label is then a compile error:
//   constexpr auto kProg = ebpf::assemble<[](ebpf::Assembler& a) { a.mov(isa::r0, 2).exit(); }>();
//   static_assert(kProg.insns.size() == 2);
// Encoders for single instructions are in ebpf/isa.hpp, text forms in ebpf/disasm.hpp and ebpf/text_asm.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/helpers.hpp"
#include "ebpf/insn.hpp"
#include "ebpf/isa.hpp"

namespace ebpf {

// An LD_IMM64 (map_fd or map_value pseudo load) at `insn` that refers to the map called `map`.
struct MapRelocation {
  std::uint32_t insn = 0;
  std::string map;
  bool resolved = false;
};

// A label in the assembled program: a jump target or, when `function` is set, a subprogram entry.
struct Symbol {
  std::string name;
  std::uint32_t insn = 0;
  bool function = false;
};

// An assembled program: instructions ready for loading once every map relocation is resolved.
struct Bytecode {
  std::vector<Insn> insns;
  std::vector<MapRelocation> maps;
  std::vector<Symbol> symbols;  // sorted by instruction index

  std::span<const Insn> span() const { return insns; }
  // Patches every reference to `map` with `fd`; invalid_argument when the program does not use `map`.
  Result<void> resolve(std::string_view map, int fd);
  // Patches every unresolved reference with fd_of(name); stops at the first error it returns.
  Result<void> resolve(const std::function<Result<int>(std::string_view map)>& fd_of);
  // Names of maps still waiting for an fd.
  std::vector<std::string> unresolved() const;
};

class Assembler {
 public:
  using Reg = isa::Reg;
  using WReg = isa::WReg;
  using Size = isa::Size;
  using Label = std::string_view;

  // What went wrong, after link() returned false.
  struct Failure {
    std::uint32_t insn = 0;
    std::string message;
  };

  constexpr Assembler() = default;

  // --- raw instructions and labels ---
  constexpr Assembler& emit(const Insn& i) { insns_.push_back(i); return *this; }
  constexpr Assembler& emit(const isa::Wide& w) { insns_.push_back(w[0]); insns_.push_back(w[1]); return *this; }
  // Raw bytes that link() does not validate (for reproducing arbitrary input, e.g. `.insn` in text).
  constexpr Assembler& emit_unchecked(const Insn& i) {
    unchecked_.push_back(pos());
    insns_.push_back(i);
    return *this;
  }
  // An instruction whose pc-relative target is `target`: off for jumps and may_goto, imm for gotol,
  // bpf-to-bpf calls and LD_IMM64 func loads (pass the first slot; the second is added).
  constexpr Assembler& emit(const Insn& i, Label target);
  // Binds `name` to the next instruction.
  constexpr Assembler& label(Label name) { labels_.push_back({intern(name), pos(), false}); return *this; }
  // A subprogram entry: a label that bpf-to-bpf calls and callbacks can target.
  constexpr Assembler& function(Label name) { labels_.push_back({intern(name), pos(), true}); return *this; }

  // --- ALU: rN operands give 64-bit operations, wN operands 32-bit ones ---
#define EBPF_ASM_ALU_(name)                                                                             \
  constexpr Assembler& name(Reg d, Reg s) { return emit(isa::name(d, s)); }                            \
  constexpr Assembler& name(Reg d, std::int32_t imm) { return emit(isa::name(d, imm)); }               \
  constexpr Assembler& name(WReg d, WReg s) { return emit(isa::name(d, s)); }                          \
  constexpr Assembler& name(WReg d, std::int32_t imm) { return emit(isa::name(d, imm)); }
  EBPF_ASM_ALU_(add) EBPF_ASM_ALU_(sub) EBPF_ASM_ALU_(mul) EBPF_ASM_ALU_(div) EBPF_ASM_ALU_(sdiv)
  EBPF_ASM_ALU_(mod) EBPF_ASM_ALU_(smod) EBPF_ASM_ALU_(or_) EBPF_ASM_ALU_(and_) EBPF_ASM_ALU_(lsh)
  EBPF_ASM_ALU_(rsh) EBPF_ASM_ALU_(arsh) EBPF_ASM_ALU_(xor_) EBPF_ASM_ALU_(mov)
#undef EBPF_ASM_ALU_
  constexpr Assembler& neg(Reg d) { return emit(isa::neg(d)); }
  constexpr Assembler& neg(WReg d) { return emit(isa::neg(d)); }
  constexpr Assembler& movsx(Reg d, Reg s, int bits) { return emit(isa::movsx(d, s, bits)); }
  constexpr Assembler& movsx(WReg d, WReg s, int bits) { return emit(isa::movsx(d, s, bits)); }
  constexpr Assembler& be(Reg d, int bits) { return emit(isa::be(d, bits)); }
  constexpr Assembler& le(Reg d, int bits) { return emit(isa::le(d, bits)); }
  constexpr Assembler& bswap(Reg d, int bits) { return emit(isa::bswap(d, bits)); }

  // --- memory ---
  constexpr Assembler& ldx(Size s, Reg d, Reg base, std::int16_t off) { return emit(isa::ldx(s, d, base, off)); }
  constexpr Assembler& ldsx(Size s, Reg d, Reg base, std::int16_t off) { return emit(isa::ldsx(s, d, base, off)); }
  constexpr Assembler& stx(Size s, Reg base, std::int16_t off, Reg src) { return emit(isa::stx(s, base, off, src)); }
  constexpr Assembler& st(Size s, Reg base, std::int16_t off, std::int32_t imm) { return emit(isa::st(s, base, off, imm)); }
  constexpr Assembler& ld_abs(Size s, std::int32_t imm) { return emit(isa::ld_abs(s, imm)); }
  constexpr Assembler& ld_ind(Size s, Reg src, std::int32_t imm) { return emit(isa::ld_ind(s, src, imm)); }
#define EBPF_ASM_ATOMIC_(name)                                                                         \
  constexpr Assembler& name(Size s, Reg base, std::int16_t off, Reg src) { return emit(isa::name(s, base, off, src)); }
  EBPF_ASM_ATOMIC_(atomic_add) EBPF_ASM_ATOMIC_(atomic_or) EBPF_ASM_ATOMIC_(atomic_and)
  EBPF_ASM_ATOMIC_(atomic_xor) EBPF_ASM_ATOMIC_(atomic_fetch_add) EBPF_ASM_ATOMIC_(atomic_fetch_or)
  EBPF_ASM_ATOMIC_(atomic_fetch_and) EBPF_ASM_ATOMIC_(atomic_fetch_xor) EBPF_ASM_ATOMIC_(xchg)
  EBPF_ASM_ATOMIC_(cmpxchg) EBPF_ASM_ATOMIC_(store_release)
#undef EBPF_ASM_ATOMIC_
  constexpr Assembler& load_acquire(Size s, Reg d, Reg base, std::int16_t off) { return emit(isa::load_acquire(s, d, base, off)); }

  // --- 64-bit immediates and pseudo loads ---
  constexpr Assembler& ld_imm64(Reg d, std::uint64_t v) { return emit(isa::ld_imm64(d, v)); }
  // A map by name, patched by Bytecode::resolve; or directly by fd.
  constexpr Assembler& ld_map(Reg d, std::string_view map) { add_map_reloc(map); return emit(isa::ld_map_fd(d, 0)); }
  constexpr Assembler& ld_map(Reg d, int fd) { return emit(isa::ld_map_fd(d, fd)); }
  // Address of byte `off` of the value of a single-element map (array, .data/.bss style).
  constexpr Assembler& ld_map_value(Reg d, std::string_view map, std::uint32_t off = 0) {
    add_map_reloc(map);
    return emit(isa::ld_map_value(d, 0, off));
  }
  constexpr Assembler& ld_map_value(Reg d, int fd, std::uint32_t off = 0) { return emit(isa::ld_map_value(d, fd, off)); }
  constexpr Assembler& ld_map_idx(Reg d, std::int32_t idx) { return emit(isa::ld_map_idx(d, idx)); }
  constexpr Assembler& ld_map_idx_value(Reg d, std::int32_t idx, std::uint32_t off = 0) { return emit(isa::ld_map_idx_value(d, idx, off)); }
  constexpr Assembler& ld_btf_id(Reg d, std::int32_t id, int btf_fd = 0) { return emit(isa::ld_btf_id(d, id, btf_fd)); }
  // Address of the subprogram `fn` (for callbacks such as bpf_loop's).
  constexpr Assembler& ld_func(Reg d, Label fn) { return emit(isa::ld_func(d, 0)[0], fn); }

  // --- jumps to labels ---
  constexpr Assembler& ja(Label l) { return emit(isa::ja(0), l); }
  constexpr Assembler& gotol(Label l) { return emit(isa::gotol(0), l); }
  constexpr Assembler& may_goto(Label l) { return emit(isa::may_goto(0), l); }
#define EBPF_ASM_JMP_(name)                                                                                 \
  constexpr Assembler& name(Reg d, Reg s, Label l) { return emit(isa::name(d, s, 0), l); }                 \
  constexpr Assembler& name(Reg d, std::int32_t imm, Label l) { return emit(isa::name(d, imm, 0), l); }    \
  constexpr Assembler& name(WReg d, WReg s, Label l) { return emit(isa::name(d, s, 0), l); }               \
  constexpr Assembler& name(WReg d, std::int32_t imm, Label l) { return emit(isa::name(d, imm, 0), l); }
  EBPF_ASM_JMP_(jeq) EBPF_ASM_JMP_(jne) EBPF_ASM_JMP_(jgt) EBPF_ASM_JMP_(jge) EBPF_ASM_JMP_(jlt)
  EBPF_ASM_JMP_(jle) EBPF_ASM_JMP_(jsgt) EBPF_ASM_JMP_(jsge) EBPF_ASM_JMP_(jslt) EBPF_ASM_JMP_(jsle)
  EBPF_ASM_JMP_(jset)
#undef EBPF_ASM_JMP_

  // --- calls ---
  constexpr Assembler& call(helper::Id id) { return emit(isa::call_helper(id)); }
  // A helper by name ("map_lookup_elem" or "bpf_map_lookup_elem"); an unknown name is an error.
  constexpr Assembler& call(std::string_view helper_name);
  constexpr Assembler& call_helper(std::int32_t id) { return emit(isa::call_helper(id)); }
  // bpf-to-bpf call of the subprogram at label `fn`.
  constexpr Assembler& call_local(Label fn) { return emit(isa::call_local(0), fn); }
  constexpr Assembler& call_kfunc(std::int32_t btf_id, std::int16_t btf_fd_idx = 0) { return emit(isa::call_kfunc(btf_id, btf_fd_idx)); }
  constexpr Assembler& exit() { return emit(isa::exit()); }

  // --- results ---
  constexpr std::size_t size() const { return insns_.size(); }
  constexpr std::size_t map_count() const { return maps_.size(); }
  constexpr const std::vector<Insn>& insns() const { return insns_; }
  constexpr const std::vector<MapRelocation>& maps() const { return maps_; }
  // Resolves labels and validates every instruction; false on the first problem, see failure().
  constexpr bool link();
  constexpr const Failure& failure() const { return failure_; }
  // link(), then the program — or an Error (invalid_argument) naming the instruction by index and text.
  Result<Bytecode> finish() const&;
  Result<Bytecode> finish() &&;

 private:
  // Label names live in one arena string (few allocations: assembling stays fast for large programs).
  struct Name {
    std::uint32_t off, len;
    std::uint64_t hash;  // FNV-1a: label lookups compare integers first
  };
  struct LabelDef {
    Name name;
    std::uint32_t insn;  // labels_ is in ascending insn order: labels bind to the current position
    bool function;
  };
  struct Fixup {
    std::uint32_t insn;
    Name label;
  };

  constexpr Name intern(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
    Name n{static_cast<std::uint32_t>(names_.size()), static_cast<std::uint32_t>(s.size()), h};
    names_.append(s);
    return n;
  }
  constexpr std::string_view name(Name n) const { return std::string_view(names_).substr(n.off, n.len); }

  constexpr std::uint32_t pos() const { return static_cast<std::uint32_t>(insns_.size()); }
  // Records the first problem as "<what>'<name>'<tail>". The message is only built at run time: during
  // constant evaluation the failure itself stops compilation (and GCC 12 mishandles string temporaries there).
  constexpr void fail(std::uint32_t insn, std::string_view what, std::string_view name = {}, std::string_view tail = {}) {
    if (failed_) return;
    failed_ = true;
    failure_.insn = insn;
    if (std::is_constant_evaluated()) return;
    failure_.message.append(what);
    if (!name.empty()) failure_.message.append("'").append(name).append("'");
    failure_.message.append(tail);
  }
  constexpr void add_map_reloc(std::string_view map) { maps_.push_back({pos(), std::string(map), false}); }
  static constexpr std::uint32_t kNoLabel = UINT32_MAX;
  constexpr bool index_labels(std::vector<std::uint32_t>& table);
  constexpr std::uint32_t find_label(const Name& n, const std::vector<std::uint32_t>& table) const;
  constexpr void apply(const Fixup& f, const std::vector<std::uint32_t>& table);
  constexpr void validate();
  Bytecode take_symbols() const;

  std::vector<Insn> insns_;
  std::string names_;
  std::vector<LabelDef> labels_;
  std::vector<Fixup> fixups_;
  std::vector<MapRelocation> maps_;
  std::vector<std::uint32_t> unchecked_;  // ascending indices emitted by emit_unchecked
  Failure failure_;
  bool failed_ = false;
  bool linked_ = false;
};

// --- constexpr implementation -----------------------------------------------------------------------------

constexpr Assembler& Assembler::emit(const Insn& i, Label target) {
  fixups_.push_back({pos(), intern(target)});
  insns_.push_back(i);
  if (isa::is_ld_imm64(i)) insns_.push_back(isa::make(0, 0, 0, 0, 0));
  return *this;
}

constexpr Assembler& Assembler::call(std::string_view helper_name) {
  auto id = helper_by_name(helper_name);
  if (!id) fail(pos(), "unknown helper ", helper_name);
  return emit(isa::call_helper(id ? *id : 0));
}

// Labels in an open-addressing table of indices into labels_, probed by name hash (capacity a power of two, at
// least twice the labels): duplicate checks and fixup lookups cost O(1) each. A binary search over sorted labels
// was a third of the time to assemble a 4096-instruction program.
constexpr std::uint32_t Assembler::find_label(const Name& n, const std::vector<std::uint32_t>& table) const {
  const std::size_t mask = table.size() - 1;
  for (std::size_t s = n.hash & mask; table[s] != kNoLabel; s = (s + 1) & mask) {
    const Name& have = labels_[table[s]].name;
    if (have.hash == n.hash && name(have) == name(n)) return table[s];
  }
  return kNoLabel;
}

constexpr bool Assembler::index_labels(std::vector<std::uint32_t>& table) {
  std::size_t capacity = 16;
  while (capacity < 2 * labels_.size()) capacity *= 2;
  table.assign(capacity, kNoLabel);
  const std::size_t mask = capacity - 1;
  for (std::uint32_t k = 0; k < labels_.size(); ++k) {
    const Name& n = labels_[k].name;
    if (find_label(n, table) != kNoLabel) {  // labels_ is in definition order: this is the later one
      fail(labels_[k].insn, "duplicate label ", name(n));
      return false;
    }
    std::size_t s = n.hash & mask;
    while (table[s] != kNoLabel) s = (s + 1) & mask;
    table[s] = k;
  }
  return true;
}

constexpr void Assembler::apply(const Fixup& f, const std::vector<std::uint32_t>& table) {
  const std::string_view label = name(f.label);
  const std::uint32_t k = find_label(f.label, table);
  if (k == kNoLabel) return fail(f.insn, "undefined label ", label);
  const std::uint32_t target = labels_[k].insn;
  if (target >= insns_.size()) return fail(f.insn, "label ", label, " is past the last instruction");
  const std::int64_t rel = std::int64_t(target) - std::int64_t(f.insn) - 1;
  Insn& i = insns_[f.insn];
  const bool uses_imm = isa::is_ld_imm64(i) || !isa::has_jump_offset(i);
  if (uses_imm) {
    i.imm = static_cast<std::int32_t>(rel);
  } else if (rel < -32768 || rel > 32767) {
    fail(f.insn, "jump to ", label, " is out of range for a 16-bit offset (use gotol)");
  } else {
    i.off = static_cast<std::int16_t>(rel);
  }
}

constexpr void Assembler::validate() {
  std::size_t raw = 0;
  for (std::size_t i = 0; i < insns_.size() && !failed_;) {
    while (raw < unchecked_.size() && unchecked_[raw] < i) ++raw;
    if (raw < unchecked_.size() && unchecked_[raw] == i) {  // raw bytes occupy exactly one slot
      ++i;
      continue;
    }
    const Insn* next = i + 1 < insns_.size() ? &insns_[i + 1] : nullptr;
    std::string_view why = isa::check(insns_[i], next);
    if (!why.empty()) fail(static_cast<std::uint32_t>(i), why);
    i += static_cast<std::size_t>(isa::slots(insns_[i]));
  }
}

constexpr bool Assembler::link() {
  if (linked_ || failed_) return !failed_;
  std::vector<std::uint32_t> table;
  if (!index_labels(table)) return false;
  for (const Fixup& f : fixups_) {
    apply(f, table);
    if (failed_) return false;
  }
  validate();
  linked_ = !failed_;
  return linked_;
}

// --- compile-time programs --------------------------------------------------------------------------------

// A map relocation of a constant program; names longer than 63 bytes are a compile error.
struct FixedMapRelocation {
  std::uint32_t insn = 0;
  std::array<char, 64> name{};
  constexpr std::string_view map() const { return std::string_view(name.data()); }
};

template <std::size_t N, std::size_t M>
struct FixedProgram {
  std::array<Insn, N> insns{};
  std::array<FixedMapRelocation, M> maps{};
  // A runtime copy whose map relocations can be resolved.
  Bytecode bytecode() const {
    Bytecode b{std::vector<Insn>(insns.begin(), insns.end()), {}, {}};
    for (const auto& m : maps) b.maps.push_back({m.insn, std::string(m.map()), false});
    return b;
  }
};

namespace detail {
// Not constexpr on purpose: reaching it during constant evaluation makes a bad program a compile error.
void constant_program_is_invalid(const char* why);
}  // namespace detail

// Runs `Build(Assembler&)` at compile time and returns the linked program as a constant.
template <auto Build>
consteval auto assemble() {
  constexpr auto dims = [] {
    Assembler a;
    Build(a);
    return std::array<std::size_t, 2>{a.size(), a.map_count()};
  }();
  Assembler a;
  Build(a);
  if (!a.link()) detail::constant_program_is_invalid("label, operand or instruction error");
  FixedProgram<dims[0], dims[1]> p{};
  std::copy(a.insns().begin(), a.insns().end(), p.insns.begin());
  for (std::size_t i = 0; i < dims[1]; ++i) {
    const auto& m = a.maps()[i];
    if (m.map.size() >= p.maps[i].name.size()) detail::constant_program_is_invalid("map name too long");
    p.maps[i].insn = m.insn;
    std::copy(m.map.begin(), m.map.end(), p.maps[i].name.begin());
  }
  return p;
}

}  // namespace ebpf
