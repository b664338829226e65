// The raw probes behind ebpf/features.hpp: program types, map types, helpers, attach types, link kinds.
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "ebpf/insn.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "features_internal.hpp"

namespace ebpf::features::detail {

namespace {

Insn raw(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int32_t imm) {
  Insn i;
  i.code = code;
  i.dst = dst;
  i.src = src;
  i.imm = imm;
  return i;
}
constexpr std::uint8_t kMovImm = 0xb7, kExit = 0x95, kCall = 0x85, kLdImm64 = 0x18, kLdxW = 0x61;

const std::vector<Insn>& return_zero() {
  static const std::vector<Insn> insns = {raw(kMovImm, 0, 0, 0), raw(kExit, 0, 0, 0)};
  return insns;
}

bool needs_btf_target(ProgType t) {
  return t == ProgType::tracing || t == ProgType::struct_ops || t == ProgType::ext || t == ProgType::lsm;
}

// The load attributes that make a do-nothing program of `type` acceptable.
ProgramLoadOptions minimal_options(ProgType type) {
  ProgramLoadOptions o;
  o.name = "ebpf_probe";
  o.initial_log_size = 4096;
  switch (type) {
    case ProgType::cgroup_sock_addr: o.expected_attach_type = AttachType::cgroup_inet4_connect; break;
    case ProgType::cgroup_sock: o.expected_attach_type = AttachType::cgroup_inet_sock_create; break;
    case ProgType::cgroup_sockopt: o.expected_attach_type = AttachType::cgroup_getsockopt; break;
    case ProgType::sk_lookup: o.expected_attach_type = AttachType::sk_lookup; break;
    case ProgType::netfilter: o.expected_attach_type = AttachType::netfilter; break;
    case ProgType::syscall: o.flags = prog_flags::sleepable; break;
    default: break;
  }
  return o;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// Interprets a failed probe load: a verifier log means the kernel knew the program type (yes); EINVAL with
// an empty log means it did not (no); anything else is not an answer.
Result<bool> judge_load_failure(const Error& err) {
  if (err.code() == Errc::verifier) return true;
  if (err.sys_errno() == EINVAL || err.sys_errno() == E2BIG) return false;
  return Error(err.code(), err.operation(), "feature probe failed: " + err.message(), err.sys_errno());
}

constexpr std::uint32_t kMissingIfindex = 0x7ffffff0;

Result<bool> judge_link(Result<Fd> link, std::initializer_list<int> yes_errnos, std::string_view what) {
  if (link) return true;  // cannot happen against a missing target, but a link is a clear yes
  int e = link.error().sys_errno();
  for (int y : yes_errnos)
    if (e == y) return true;
  if (e == EINVAL || e == EOPNOTSUPP || e == 524 /* ENOTSUPP */) return false;
  return Error(link.error().code(), "BPF_LINK_CREATE",
               std::string(what) + " probe failed: " + link.error().message(), e);
}

Result<bool> probe_link(ProgType prog_type, std::optional<AttachType> expected, AttachType attach,
                        std::initializer_list<int> yes_errnos, std::string_view what,
                        void (*fill)(sys::LinkCreateAttr&) = nullptr) {
  auto opts = minimal_options(prog_type);
  opts.expected_attach_type = expected;
  auto prog = Program::load(prog_type, return_zero(), opts);
  if (!prog) {
    auto known = judge_load_failure(prog.error());
    if (!known) return std::move(known).error();
    if (!*known) return false;
    return Error(prog.error().code(), "BPF_PROG_LOAD",
                 std::string(what) + " probe: the probe program did not load: " + prog.error().message(),
                 prog.error().sys_errno());
  }
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(prog->fd());
  attr.target_fd = kMissingIfindex;
  attr.attach_type = static_cast<std::uint32_t>(attach);
  if (fill) fill(attr);
  return judge_link(sys::link_create(attr), yes_errnos, what);
}

void fill_uprobe_multi(sys::LinkCreateAttr& attr) {
  static const char kPath[] = "/";
  static const std::uint64_t kOffset = 0;
  attr.target_fd = 0;
  auto& u = attr.as<sys::LinkCreateAttr::UprobeMulti>();
  u.path = sys::ptr(kPath);  // a directory: EBADF once the kernel knows uprobe_multi
  u.offsets = sys::ptr(&kOffset);
  u.cnt = 1;
}

void fill_kprobe_multi(sys::LinkCreateAttr& attr) {
  static const char kSym[] = "ebpf_feature_probe_no_such_symbol";
  static const char* const kSyms[] = {kSym};
  attr.target_fd = 0;
  auto& k = attr.as<sys::LinkCreateAttr::KprobeMulti>();
  k.syms = sys::ptr(kSyms);
  k.cnt = 1;
}

}  // namespace

Result<bool> probe_prog_type(ProgType type) {
  if (type == ProgType::unspec) return false;
  auto prog = Program::load(type, return_zero(), minimal_options(type));
  if (prog) return true;
  // Tracing-like types cannot load without a BTF target (EINVAL, or ENOTSUPP for struct_ops); then the
  // kernel's own enum, present in vmlinux BTF iff the kernel knows the type, answers. EPERM stays an error.
  int e = prog.error().sys_errno();
  if (needs_btf_target(type) && (e == EINVAL || e == 524 || e == EOPNOTSUPP)) {
    if (auto named = vmlinux_has_name("BPF_PROG_TYPE_" + upper(name(type)))) return *named;
  }
  return judge_load_failure(prog.error());
}

namespace {

sys::MapCreateAttr minimal_map(MapType type) {
  sys::MapCreateAttr a;
  a.map_type = static_cast<std::uint32_t>(type);
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  const std::uint32_t page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
  switch (type) {
    case MapType::stack_trace: a.value_size = 8; break;
    case MapType::lpm_trie: a.key_size = 8; a.map_flags = map_flags::no_prealloc; break;
    case MapType::cgroup_storage:
    case MapType::percpu_cgroup_storage: a.key_size = 8; a.max_entries = 0; break;  // cgroup id key
    case MapType::queue:
    case MapType::stack: a.key_size = 0; break;
    case MapType::ringbuf:
    case MapType::user_ringbuf: a.key_size = 0; a.value_size = 0; a.max_entries = page; break;
    case MapType::bloom_filter: a.key_size = 0; a.map_extra = 1; break;
    case MapType::arena: a.key_size = 0; a.value_size = 0; a.map_flags = map_flags::mmapable; break;
    case MapType::sk_storage:
    case MapType::inode_storage:
    case MapType::task_storage:
    case MapType::cgrp_storage:
      a.max_entries = 0;
      a.map_flags = map_flags::no_prealloc;
      a.btf_key_type_id = 1;
      a.btf_value_type_id = 1;
      break;
    default: break;
  }
  return a;
}

bool is_local_storage(MapType t) {
  return t == MapType::sk_storage || t == MapType::inode_storage || t == MapType::task_storage ||
         t == MapType::cgrp_storage;
}

}  // namespace

Result<bool> probe_map_type(MapType type) {
  if (type == MapType::unspec) return false;
  auto attr = minimal_map(type);
  Fd inner, btf;
  if (type == MapType::array_of_maps || type == MapType::hash_of_maps) {
    inner = EBPF_TRY(sys::map_create(minimal_map(MapType::array)));
    attr.inner_map_fd = static_cast<std::uint32_t>(inner.get());
  }
  if (is_local_storage(type)) {
    btf = EBPF_TRY(load_int_btf());
    attr.btf_fd = static_cast<std::uint32_t>(btf.get());
  }
  auto map = sys::map_create(attr);
  if (map) return true;
  int e = map.error().sys_errno();
  if (e == EINVAL || e == EOPNOTSUPP || e == 524) {
    // struct_ops maps need a kernel struct's BTF id: only the enum can tell whether the type exists.
    if (type == MapType::struct_ops) {
      if (auto named = vmlinux_has_name("BPF_MAP_TYPE_STRUCT_OPS")) return *named;
    }
    return false;
  }
  return Error(map.error().code(), "BPF_MAP_CREATE",
               "probe of map type " + std::string(name(type)) + " failed: " + map.error().message(), e);
}

Result<bool> probe_helper(ProgType type, std::uint32_t helper_id) {
  std::vector<Insn> insns = {raw(kCall, 0, 0, static_cast<std::int32_t>(helper_id)), raw(kExit, 0, 0, 0)};
  auto opts = minimal_options(type);
  opts.log_level = log_level::basic;  // the answer is in the log, also when the load succeeds
  auto prog = Program::load(type, insns, opts);
  if (prog) return true;
  const auto& err = prog.error();
  auto log = err.verifier_log();
  if (log.find("invalid func ") != std::string_view::npos || log.find("unknown func ") != std::string_view::npos ||
      log.find("program of this type cannot use helper") != std::string_view::npos)
    return false;
  if (err.code() == Errc::verifier) return true;  // rejected for its (missing) arguments: the helper exists
  return Error(err.code(), err.operation(),
               "helper probe (" + std::string(name(type)) + ", helper " + std::to_string(helper_id) +
                   ") failed: " + err.message(),
               err.sys_errno());
}

Result<bool> probe_attach_type(AttachType type) {
  switch (type) {
    case AttachType::xdp: return probe_feature(Feature::xdp_link);
    case AttachType::tcx_ingress:
    case AttachType::tcx_egress: return probe_feature(Feature::tcx_link);
    case AttachType::netkit_primary:
    case AttachType::netkit_peer: return probe_feature(Feature::netkit_link);
    case AttachType::trace_uprobe_multi: return probe_feature(Feature::uprobe_multi_link);
    case AttachType::trace_kprobe_multi: return probe_feature(Feature::kprobe_multi_link);
    default: break;
  }
  // Types checked at load time: load the matching program type with this expected attach type.
  std::optional<ProgType> loadable;
  std::string n(name(type));
  if (n.starts_with("cgroup_inet4_") || n.starts_with("cgroup_inet6_") || n.starts_with("cgroup_udp") ||
      n.starts_with("cgroup_unix_"))
    loadable = n.ends_with("post_bind") ? ProgType::cgroup_sock : ProgType::cgroup_sock_addr;
  if (type == AttachType::cgroup_inet_sock_create || type == AttachType::cgroup_inet_sock_release)
    loadable = ProgType::cgroup_sock;
  if (type == AttachType::cgroup_getsockopt || type == AttachType::cgroup_setsockopt)
    loadable = ProgType::cgroup_sockopt;
  if (loadable) {
    auto opts = minimal_options(*loadable);
    opts.expected_attach_type = type;
    auto prog = Program::load(*loadable, return_zero(), opts);
    if (prog) return true;
    return judge_load_failure(prog.error());
  }
  // The rest are checked only when attaching: BPF_PROG_ATTACH with no program answers EBADF for a known
  // attach type and EINVAL for an unknown one (or one that only links use), so fall back to the kernel's enum.
  sys::ProgAttachAttr attr;
  attr.target_fd = 0;
  attr.attach_bpf_fd = UINT32_MAX;
  attr.attach_type = static_cast<std::uint32_t>(type);
  auto r = sys::prog_attach(attr);
  if (!r && r.error().sys_errno() == EBADF) return true;
  if (auto named = vmlinux_has_name("BPF_" + upper(name(type)))) return *named;
  if (!r && r.error().sys_errno() == EINVAL) return false;
  return Error(Errc::io, "BPF_PROG_ATTACH", "attach type probe for " + n + " was inconclusive", 0);
}

Result<bool> probe_feature(Feature f) {
  switch (f) {
    case Feature::ringbuf: return probe_map_type(MapType::ringbuf);
    case Feature::arena: return probe_map_type(MapType::arena);
    case Feature::xdp_link:
      // A missing device gives EINVAL for XDP links too, so the link probe alone cannot tell; the kernel's
      // link-type enum can (and no real interface is touched).
      if (auto named = vmlinux_has_name("BPF_LINK_TYPE_XDP")) return *named;
      return probe_link(ProgType::xdp, std::nullopt, AttachType::xdp, {ENODEV, ENXIO}, "XDP link");
    case Feature::tcx_link:
      return probe_link(ProgType::sched_cls, std::nullopt, AttachType::tcx_ingress, {ENODEV, ENXIO}, "tcx link");
    case Feature::netkit_link:
      return probe_link(ProgType::sched_cls, std::nullopt, AttachType::netkit_primary, {ENODEV, ENXIO},
                        "netkit link");
    case Feature::uprobe_multi_link:
      return probe_link(ProgType::kprobe, AttachType::trace_uprobe_multi, AttachType::trace_uprobe_multi,
                        {EBADF}, "uprobe_multi link", fill_uprobe_multi);
    case Feature::kprobe_multi_link:
      return probe_link(ProgType::kprobe, AttachType::trace_kprobe_multi, AttachType::trace_kprobe_multi,
                        {ENOENT, ESRCH}, "kprobe_multi link", fill_kprobe_multi);
    case Feature::bpf_cookie: return probe_helper(ProgType::kprobe, 174 /* bpf_get_attach_cookie */);
    default: break;
  }
  return Error::invalid("feature probe", "no probe for feature " + std::string(name(f)));
}

namespace {

Result<bool> probe_batch_ops() {
  auto map = sys::map_create(minimal_map(MapType::hash));
  if (!map) return std::move(map).error();
  std::uint32_t keys[1], values[1], out_batch = 0;
  sys::MapBatchAttr attr;
  attr.out_batch = sys::ptr(&out_batch);
  attr.keys = sys::ptr(keys);
  attr.values = sys::ptr(values);
  attr.count = 1;
  attr.map_fd = static_cast<std::uint32_t>(map->get());
  auto r = sys::map_batch(sys::Cmd::map_lookup_batch, attr);
  if (r || r.error().sys_errno() == ENOENT) return true;  // empty map: ENOENT ends the (supported) batch
  if (r.error().sys_errno() == EINVAL) return false;
  return std::move(r).error();
}

Result<bool> probe_mmapable_array() {
  auto attr = minimal_map(MapType::array);
  attr.map_flags = map_flags::mmapable;
  auto map = sys::map_create(attr);
  if (map) return true;
  if (map.error().sys_errno() == EINVAL) return false;
  return std::move(map).error();
}

Result<bool> probe_global_data() {
  auto map = sys::map_create(minimal_map(MapType::array));
  if (!map) return std::move(map).error();
  // r1 = &map[0]; r0 = *(u32 *)r1; exit
  std::vector<Insn> insns = {raw(kLdImm64, 1, 2 /* BPF_PSEUDO_MAP_VALUE */, map->get()), raw(0, 0, 0, 0),
                             raw(kLdxW, 0, 1, 0), raw(kExit, 0, 0, 0)};
  auto prog = Program::load(ProgType::socket_filter, insns, minimal_options(ProgType::socket_filter));
  if (prog) return true;
  return prog.error().code() == Errc::verifier || prog.error().sys_errno() == EINVAL
             ? Result<bool>(false)
             : Result<bool>(std::move(prog).error());
}

Result<bool> probe_log_true_size() {
  std::vector<Insn> insns = {raw(kExit, 0, 0, 0)};  // rejected: R0 !read_ok
  static const char kLicense[] = "GPL";
  std::string log(4096, '\0');
  sys::ProgLoadAttr attr;
  attr.prog_type = static_cast<std::uint32_t>(ProgType::socket_filter);
  attr.insn_cnt = 1;
  attr.insns = sys::ptr(insns.data());
  attr.license = sys::ptr(kLicense);
  attr.log_level = 1;
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_buf = sys::ptr(log.data());
  auto r = sys::prog_load(attr);
  if (r) return Error(Errc::io, "BPF_PROG_LOAD", "log_true_size probe: an invalid program loaded", 0);
  // Kernels without the field reject the larger attr with E2BIG; with it they report the log's size.
  if (r.error().sys_errno() == E2BIG) return false;
  return attr.log_true_size != 0;
}

}  // namespace

Result<bool> probe_named(Feature f) {
  static constexpr std::uint32_t kInt = (1U << 24) | 32;
  switch (f) {
    case Feature::batch_ops: return probe_batch_ops();
    case Feature::mmapable_array: return probe_mmapable_array();
    case Feature::global_data: return probe_global_data();
    case Feature::log_true_size: return probe_log_true_size();
    case Feature::btf_float: {
      const std::uint32_t t[] = {1, 16U << 24, 4};  // [1] float "f", 4 bytes
      return probe_btf(t, std::string_view("\0f\0", 3));
    }
    case Feature::btf_enum64: {
      // [1] enum64 "e" size 8 with one value "v" = 1 << 32
      const std::uint32_t t[] = {1, 19U << 24 | 1, 8, 3, 0, 1};
      return probe_btf(t, std::string_view("\0e\0v\0", 5));
    }
    case Feature::btf_decl_tag: {
      // [1] int, [2] typedef "t" -> 1, [3] decl_tag "tag" -> 2 on the whole type (component_idx -1)
      const std::uint32_t t[] = {1, 1U << 24, 4, kInt, 5, 8U << 24, 1, 7, 17U << 24, 2, 0xffffffffU};
      return probe_btf(t, std::string_view("\0int\0t\0tag\0", 11));
    }
    case Feature::btf_type_tag: {
      // [1] int, [2] type_tag "tag" -> 1, [3] ptr -> 2
      const std::uint32_t t[] = {1, 1U << 24, 4, kInt, 5, 18U << 24, 1, 0, 2U << 24, 2};
      return probe_btf(t, std::string_view("\0int\0tag\0", 9));
    }
    default: return probe_feature(f);
  }
}

}  // namespace ebpf::features::detail
