// ebpf/syscall.hpp — the bpf() system call, one typed attribute struct and one wrapper per command.
//
// The lowest tier of the library (like libbpf's bpf.h): each `sys::` function fills exactly one command's
// attribute, passes the size up to the last field it defines, and turns a failure into an ebpf::Error named
// after the command. Layouts mirror `union bpf_attr` of Linux 6.18 (Debian's headers are 6.1, so newer fields
// are defined here) and are checked with static_asserts. All file descriptors returned are owned (ebpf::Fd).
//
// Higher tiers (Map, Program, Link, Object) are built on these; use them directly only for what they lack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace ebpf::sys {

enum class Cmd : int {
  map_create = 0, map_lookup_elem = 1, map_update_elem = 2, map_delete_elem = 3, map_get_next_key = 4,
  prog_load = 5, obj_pin = 6, obj_get = 7, prog_attach = 8, prog_detach = 9, prog_test_run = 10,
  prog_get_next_id = 11, map_get_next_id = 12, prog_get_fd_by_id = 13, map_get_fd_by_id = 14,
  obj_get_info_by_fd = 15, prog_query = 16, raw_tracepoint_open = 17, btf_load = 18, btf_get_fd_by_id = 19,
  task_fd_query = 20, map_lookup_and_delete_elem = 21, map_freeze = 22, btf_get_next_id = 23,
  map_lookup_batch = 24, map_lookup_and_delete_batch = 25, map_update_batch = 26, map_delete_batch = 27,
  link_create = 28, link_update = 29, link_get_fd_by_id = 30, link_get_next_id = 31, enable_stats = 32,
  iter_create = 33, link_detach = 34, prog_bind_map = 35, token_create = 36,
};

// "BPF_MAP_CREATE" etc., used as the operation of errors.
std::string_view name(Cmd cmd) noexcept;

// Pointer → __aligned_u64 as the kernel expects.
inline std::uint64_t ptr(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }

// The raw call: bpf(cmd, attr, size). Retries EINTR; returns the kernel's non-negative result or an Error.
// This is the single seam through which every bpf() call of the library passes.
Result<long> bpf(Cmd cmd, void* attr, std::size_t size) noexcept;

// ---- BPF_MAP_CREATE ----
struct MapCreateAttr {
  std::uint32_t map_type = 0;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t map_flags = 0;
  std::uint32_t inner_map_fd = 0;
  std::uint32_t numa_node = 0;
  char map_name[16] = {};
  std::uint32_t map_ifindex = 0;
  std::uint32_t btf_fd = 0;
  std::uint32_t btf_key_type_id = 0;
  std::uint32_t btf_value_type_id = 0;
  std::uint32_t btf_vmlinux_value_type_id = 0;
  std::uint64_t map_extra = 0;
  std::int32_t value_type_btf_obj_fd = 0;
  std::int32_t map_token_fd = 0;
};
static_assert(offsetof(MapCreateAttr, map_name) == 28 && offsetof(MapCreateAttr, map_extra) == 64 &&
              sizeof(MapCreateAttr) == 80);
Result<Fd> map_create(const MapCreateAttr& attr);

// ---- BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE ----
struct MapElemAttr {
  std::uint32_t map_fd = 0;
  std::uint32_t pad = 0;
  std::uint64_t key = 0;
  std::uint64_t value = 0;  // also next_key
  std::uint64_t flags = 0;
};
static_assert(sizeof(MapElemAttr) == 32);
Result<void> map_lookup_elem(int map_fd, const void* key, void* value, std::uint64_t flags = 0) noexcept;
Result<void> map_update_elem(int map_fd, const void* key, const void* value, std::uint64_t flags = 0) noexcept;
Result<void> map_delete_elem(int map_fd, const void* key, std::uint64_t flags = 0) noexcept;
// key == nullptr asks for the first key. ENOENT (Errc::key_not_found) means there is no next key.
Result<void> map_get_next_key(int map_fd, const void* key, void* next_key) noexcept;
Result<void> map_lookup_and_delete_elem(int map_fd, const void* key, void* value,
                                        std::uint64_t flags = 0) noexcept;
Result<void> map_freeze(int map_fd) noexcept;

// ---- BPF_MAP_*_BATCH ----
struct MapBatchAttr {
  std::uint64_t in_batch = 0;
  std::uint64_t out_batch = 0;
  std::uint64_t keys = 0;
  std::uint64_t values = 0;
  std::uint32_t count = 0;
  std::uint32_t map_fd = 0;
  std::uint64_t elem_flags = 0;
  std::uint64_t flags = 0;
};
static_assert(sizeof(MapBatchAttr) == 56);
// Runs one batch command. `attr.count` is updated with the number of elements processed, also when the
// command fails part-way (ENOENT at the end of a lookup batch is reported as Errc::key_not_found with
// attr.count still valid).
Result<void> map_batch(Cmd cmd, MapBatchAttr& attr) noexcept;

// ---- BPF_PROG_LOAD ----
struct ProgLoadAttr {
  std::uint32_t prog_type = 0;
  std::uint32_t insn_cnt = 0;
  std::uint64_t insns = 0;
  std::uint64_t license = 0;
  std::uint32_t log_level = 0;
  std::uint32_t log_size = 0;
  std::uint64_t log_buf = 0;
  std::uint32_t kern_version = 0;
  std::uint32_t prog_flags = 0;
  char prog_name[16] = {};
  std::uint32_t prog_ifindex = 0;
  std::uint32_t expected_attach_type = 0;
  std::uint32_t prog_btf_fd = 0;
  std::uint32_t func_info_rec_size = 0;
  std::uint64_t func_info = 0;
  std::uint32_t func_info_cnt = 0;
  std::uint32_t line_info_rec_size = 0;
  std::uint64_t line_info = 0;
  std::uint32_t line_info_cnt = 0;
  std::uint32_t attach_btf_id = 0;
  std::uint32_t attach_prog_fd = 0;  // also attach_btf_obj_fd
  std::uint32_t core_relo_cnt = 0;
  std::uint64_t fd_array = 0;
  std::uint64_t core_relos = 0;
  std::uint32_t core_relo_rec_size = 0;
  std::uint32_t log_true_size = 0;
  std::int32_t prog_token_fd = 0;
  std::uint32_t fd_array_cnt = 0;
};
static_assert(offsetof(ProgLoadAttr, prog_name) == 48 && offsetof(ProgLoadAttr, func_info) == 80 &&
              offsetof(ProgLoadAttr, fd_array) == 120 && offsetof(ProgLoadAttr, log_true_size) == 140 &&
              sizeof(ProgLoadAttr) == 152);
// One attempt, exactly as given (retries EAGAIN a bounded number of times). Verifier-log handling, the
// retry-with-log policy and error classification live in Program::load.
Result<Fd> prog_load(ProgLoadAttr& attr) noexcept;

// ---- BPF_OBJ_PIN / BPF_OBJ_GET ----
struct ObjPinAttr {
  std::uint64_t pathname = 0;
  std::uint32_t bpf_fd = 0;
  std::uint32_t file_flags = 0;
  std::int32_t path_fd = 0;
  std::uint32_t pad = 0;
};
static_assert(sizeof(ObjPinAttr) == 24);
Result<void> obj_pin(int fd, const char* path) noexcept;
// file_flags: BPF_F_RDONLY / BPF_F_WRONLY (map_flags::rdonly / wronly) or 0.
Result<Fd> obj_get(const char* path, std::uint32_t file_flags = 0) noexcept;

// ---- BPF_PROG_ATTACH / BPF_PROG_DETACH ----
struct ProgAttachAttr {
  std::uint32_t target_fd = 0;  // also target_ifindex
  std::uint32_t attach_bpf_fd = 0;
  std::uint32_t attach_type = 0;
  std::uint32_t attach_flags = 0;
  std::uint32_t replace_bpf_fd = 0;
  std::uint32_t relative_fd = 0;  // also relative_id
  std::uint64_t expected_revision = 0;
};
static_assert(sizeof(ProgAttachAttr) == 32);
Result<void> prog_attach(const ProgAttachAttr& attr) noexcept;
Result<void> prog_detach(const ProgAttachAttr& attr) noexcept;

// ---- BPF_PROG_TEST_RUN ----
struct TestRunAttr {
  std::uint32_t prog_fd = 0;
  std::uint32_t retval = 0;
  std::uint32_t data_size_in = 0;
  std::uint32_t data_size_out = 0;
  std::uint64_t data_in = 0;
  std::uint64_t data_out = 0;
  std::uint32_t repeat = 0;
  std::uint32_t duration = 0;
  std::uint32_t ctx_size_in = 0;
  std::uint32_t ctx_size_out = 0;
  std::uint64_t ctx_in = 0;
  std::uint64_t ctx_out = 0;
  std::uint32_t flags = 0;
  std::uint32_t cpu = 0;
  std::uint32_t batch_size = 0;
  std::uint32_t pad = 0;
};
static_assert(offsetof(TestRunAttr, ctx_out) == 56 && offsetof(TestRunAttr, batch_size) == 72);
// Fills retval, data_size_out, ctx_size_out and duration back into `attr`.
Result<void> prog_test_run(TestRunAttr& attr) noexcept;

// ---- BPF_*_GET_NEXT_ID / BPF_*_GET_FD_BY_ID ----
enum class ObjKind { prog, map, btf, link };
// Next id after `start_id` (0 for the first); Errc::key_not_found when there is none.
Result<std::uint32_t> get_next_id(ObjKind kind, std::uint32_t start_id) noexcept;
Result<Fd> get_fd_by_id(ObjKind kind, std::uint32_t id, std::uint32_t open_flags = 0) noexcept;

// ---- BPF_OBJ_GET_INFO_BY_FD ----
// `info` is the kernel's bpf_prog_info / bpf_map_info / bpf_btf_info / bpf_link_info; `len` in: the buffer
// size, out: the size the kernel filled.
Result<void> obj_get_info_by_fd(int fd, void* info, std::uint32_t& len) noexcept;

// ---- BPF_PROG_QUERY ----
struct ProgQueryAttr {
  std::uint32_t target_fd = 0;  // also target_ifindex
  std::uint32_t attach_type = 0;
  std::uint32_t query_flags = 0;
  std::uint32_t attach_flags = 0;
  std::uint64_t prog_ids = 0;
  std::uint32_t count = 0;  // prog_cnt
  std::uint32_t pad = 0;
  std::uint64_t prog_attach_flags = 0;
  std::uint64_t link_ids = 0;
  std::uint64_t link_attach_flags = 0;
  std::uint64_t revision = 0;
};
static_assert(sizeof(ProgQueryAttr) == 64);
Result<void> prog_query(ProgQueryAttr& attr) noexcept;

// ---- BPF_RAW_TRACEPOINT_OPEN ----
// name == nullptr for tp_btf / tracing programs (the attach target comes from the program's BTF id).
Result<Fd> raw_tracepoint_open(const char* name, int prog_fd, std::uint64_t cookie = 0) noexcept;

// ---- BPF_BTF_LOAD ----
struct BtfLoadAttr {
  std::uint64_t btf = 0;
  std::uint64_t btf_log_buf = 0;
  std::uint32_t btf_size = 0;
  std::uint32_t btf_log_size = 0;
  std::uint32_t btf_log_level = 0;
  std::uint32_t btf_log_true_size = 0;
  std::uint32_t btf_flags = 0;
  std::int32_t btf_token_fd = 0;
};
static_assert(sizeof(BtfLoadAttr) == 40);
Result<Fd> btf_load(BtfLoadAttr& attr) noexcept;

// ---- BPF_TASK_FD_QUERY ----
struct TaskFdQueryAttr {
  std::uint32_t pid = 0;
  std::uint32_t fd = 0;
  std::uint32_t flags = 0;
  std::uint32_t buf_len = 0;
  std::uint64_t buf = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t fd_type = 0;
  std::uint64_t probe_offset = 0;
  std::uint64_t probe_addr = 0;
};
static_assert(sizeof(TaskFdQueryAttr) == 48);
Result<void> task_fd_query(TaskFdQueryAttr& attr) noexcept;

// ---- BPF_LINK_CREATE ----
struct LinkCreateAttr {
  std::uint32_t prog_fd = 0;    // also map_fd (struct_ops)
  std::uint32_t target_fd = 0;  // also target_ifindex
  std::uint32_t attach_type = 0;
  std::uint32_t flags = 0;
  // The attach-type specific tail (offset 16). Use the accessors below for a typed view.
  alignas(8) std::byte tail[48] = {};

  struct Tracing {  // target_btf_id, cookie (fentry/fexit/lsm, freplace)
    std::uint32_t target_btf_id; std::uint32_t pad; std::uint64_t cookie;
  };
  struct Iter { std::uint64_t iter_info; std::uint32_t iter_info_len; };
  struct PerfEvent { std::uint64_t bpf_cookie; };
  struct KprobeMulti {
    std::uint32_t flags; std::uint32_t cnt; std::uint64_t syms; std::uint64_t addrs; std::uint64_t cookies;
  };
  struct Netfilter { std::uint32_t pf; std::uint32_t hooknum; std::int32_t priority; std::uint32_t flags; };
  struct Relative {  // tcx, netkit, cgroup (mprog)
    std::uint32_t relative_fd_or_id; std::uint32_t pad; std::uint64_t expected_revision;
  };
  struct UprobeMulti {
    std::uint64_t path; std::uint64_t offsets; std::uint64_t ref_ctr_offsets; std::uint64_t cookies;
    std::uint32_t cnt; std::uint32_t flags; std::uint32_t pid;
  };
  template <class Tail>
  Tail& as() noexcept {
    static_assert(sizeof(Tail) <= sizeof(tail));
    return *reinterpret_cast<Tail*>(tail);
  }
};
static_assert(sizeof(LinkCreateAttr) == 64 && offsetof(LinkCreateAttr, tail) == 16);
static_assert(offsetof(LinkCreateAttr::UprobeMulti, pid) == 40);
Result<Fd> link_create(const LinkCreateAttr& attr) noexcept;

// ---- BPF_LINK_UPDATE / BPF_LINK_DETACH ----
// old_prog_fd != 0 with flags = BPF_F_REPLACE makes the update conditional on the current program.
Result<void> link_update(int link_fd, int new_prog_fd, std::uint32_t flags = 0, int old_prog_fd = 0) noexcept;
Result<void> link_detach(int link_fd) noexcept;

// ---- BPF_ENABLE_STATS ---- (type 0 = BPF_STATS_RUN_TIME). Stats stay on while the returned fd lives.
Result<Fd> enable_stats(std::uint32_t type = 0) noexcept;

// ---- BPF_ITER_CREATE ----
Result<Fd> iter_create(int link_fd, std::uint32_t flags = 0) noexcept;

// ---- BPF_PROG_BIND_MAP ----
Result<void> prog_bind_map(int prog_fd, int map_fd, std::uint32_t flags = 0) noexcept;

// ---- BPF_TOKEN_CREATE ---- (a token from a bpffs mount with delegation options)
Result<Fd> token_create(int bpffs_fd, std::uint32_t flags = 0) noexcept;

}  // namespace ebpf::sys
