// ebpf/attach/usdt.hpp — USDT (statically defined tracing) probes: the <sys/sdt.h> markers compiled into a
// program, described by the ELF notes of section .note.stapsdt.
//
// Each note names a probe (provider, name), the address of the marker instruction, the link-time address of
// .stapsdt.base (to correct addresses of prelinked files), the address of an optional semaphore (a u16 the
// program checks before computing costly arguments; the kernel adds one for each uprobe with that reference
// counter while it exists, so a probe with several sites reads as the number of sites), and an argument string such as "-4@%eax 8@-8(%rbp) 4@$5" (x86-64) or
// "-4@x0 8@[sp, 16] 4@5" (arm64): "size@location", a negative size meaning a signed value.
//
// attach_usdt puts a uprobe on every site of a probe, each with a cookie = the index of a UsdtSpec the
// caller's spec map holds (written by attach_usdt). The BPF program reads the cookie, looks its spec up and
// decodes argument N from pt_regs and user memory: see ebpf/dsl/usdt.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/dsl/context.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/error.hpp"
#include "ebpf/link.hpp"

namespace ebpf {

class Map;
class Program;

// One parsed argument location.
struct UsdtArg {
  enum class Kind : std::uint8_t {
    constant,  // "4@$5": value
    reg,       // "-4@%eax": the register
    memory,    // "8@-8(%rbp)": *(base + offset)
    indexed,   // "-4@12(%rdi,%rax,4)": *(base + index * scale + offset)
  };
  Kind kind = Kind::constant;
  std::uint8_t size = 0;  // bytes: 1, 2, 4 or 8
  bool is_signed = false;
  std::string base;        // register name as written (without '%'), for reg/memory/indexed
  std::string index;       // index register (indexed)
  std::uint8_t scale = 1;  // 1, 2, 4 or 8 (indexed)
  std::int64_t value = 0;  // the constant, or the memory offset

  bool operator==(const UsdtArg&) const = default;
};

// One probe site from .note.stapsdt.
struct UsdtProbe {
  std::string provider;
  std::string name;
  std::uint64_t pc = 0;                // address of the marker (already corrected with .stapsdt.base)
  std::uint64_t semaphore = 0;         // address of the semaphore, 0 when the probe has none
  std::uint64_t pc_offset = 0;         // file offset of the marker: where the uprobe goes
  std::uint64_t semaphore_offset = 0;  // file offset of the semaphore (the uprobe's ref_ctr_offset), or 0
  std::string arg_text;                // the argument string as written
  std::vector<UsdtArg> args;
  // Why arg_text could not be parsed (e.g. a "sym(%rip)" operand), "" when it could. Such a probe is still
  // listed (other probes of the file stay usable); usdt_spec refuses it.
  std::string arg_error;
};

// Parses an argument string ("" for none) for `arch`; bad_format names the argument it cannot read.
Result<std::vector<UsdtArg>> parse_usdt_args(std::string_view text, dsl::Arch arch);

// All probes of a parsed ELF file / of the file at `path` (none: an empty vector).
Result<std::vector<UsdtProbe>> usdt_probes(const elf::File& file, dsl::Arch arch = dsl::host_arch());
Result<std::vector<UsdtProbe>> usdt_probes(const std::string& path, dsl::Arch arch = dsl::host_arch());

// --- what the BPF program reads: one struct shared by user space and BPF -----------------------------------

inline constexpr std::uint32_t kUsdtMaxArgs = 12;  // <sys/sdt.h> supports up to 12 arguments

// One argument, decoded for the BPF side. `reg_off`/`index_off` are byte offsets into the pt_regs the
// program's context points to.
struct UsdtArgSpec {
  std::int64_t value = 0;       // constant, or the offset added to the address
  std::uint16_t reg_off = 0;    // base register (reg, memory, indexed)
  std::uint16_t index_off = 0;  // index register (indexed)
  std::uint8_t kind = 0;        // UsdtArg::Kind
  std::uint8_t shift = 0;       // 64 - 8 * size: value = (raw << shift) >> shift keeps the low `size` bytes
  std::uint8_t is_signed = 0;   // arithmetic shift back: sign extension
  std::uint8_t scale_shift = 0; // log2(scale) (indexed)
};
static_assert(sizeof(UsdtArgSpec) == 16);

// The value of the spec map (an ARRAY, key u32 = the uprobe's cookie).
struct UsdtSpec {
  UsdtArgSpec args[kUsdtMaxArgs];
  std::uint64_t cookie = 0;    // the caller's own cookie for this attachment (UsdtOptions::cookie)
  std::uint16_t arg_count = 0;
  std::uint16_t pad[3] = {};
};
static_assert(sizeof(UsdtSpec) == 16 * kUsdtMaxArgs + 16);

// A spec for one probe site: registers resolved to pt_regs offsets of `arch` (invalid_argument for an unknown
// register or an unsupported size).
Result<UsdtSpec> usdt_spec(const UsdtProbe& probe, dsl::Arch arch = dsl::host_arch(), std::uint64_t cookie = 0);

// An ARRAY map to hold specs (key u32, value UsdtSpec).
Result<Map> usdt_spec_map(std::uint32_t max_entries, std::string name = "usdt_specs");

struct UsdtOptions {
  int pid = -1;                    // only this process; -1: every process running the file
  std::uint32_t first_spec_id = 0; // spec map index of the first site (several attachments can share a map)
  std::uint64_t cookie = 0;        // copied into every UsdtSpec of this attachment
  // One uprobe_multi link for all sites (Linux 6.6+; the program must be loaded with expected attach type
  // trace_uprobe_multi) instead of one perf-event uprobe per site.
  bool multi = false;
};

// The uprobes of one attached probe (one link per site, or a single uprobe_multi link); destroying it
// detaches them all.
struct UsdtAttachment {
  std::vector<Link> links;
  std::vector<UsdtProbe> sites;      // in the order of the spec ids
  std::uint32_t next_spec_id = 0;    // first_spec_id + sites.size(): where a further attachment may start
  Result<void> detach();
};

// Attaches a KPROBE program to every site of provider:name in the file at `path`: writes one UsdtSpec per site
// into `spec_map` at first_spec_id + i and a uprobe with that cookie and the probe's semaphore as reference
// counter. not_found when the file has no such probe.
Result<UsdtAttachment> attach_usdt(const Program& program, const std::string& path, std::string_view provider,
                                   std::string_view name, Map& spec_map, const UsdtOptions& options = {});

}  // namespace ebpf
