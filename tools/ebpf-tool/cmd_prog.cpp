// ebpf-tool prog: load and test-run programs, list and show loaded programs.
//   ebpf-tool prog run --asm FILE [--type xdp|tc|socket|...] [--data HEX] [--ctx HEX] [--repeat N] [--json]
//   ebpf-tool prog list [--json]
//   ebpf-tool prog show ID [--json]
//   ebpf-tool prog run --obj FILE --prog NAME [--data HEX] [--ctx HEX] [--repeat N] [--json]
// With --obj the whole object is loaded (maps, global data, BTF, CO-RE); the program type comes from its
// section. Other programs of the object that fail to load (e.g. fentry under lockdown) do not matter.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "ebpf/packet.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "ebpf/text_asm.hpp"

#if __has_include("ebpf/object.hpp")
#include "ebpf/object.hpp"
#define EBPF_TOOL_HAVE_OBJECT 1
#endif

namespace {

using ebpf::ProgType;

int fail(const ebpf::Error& err) {
  std::fprintf(stderr, "ebpf-tool: %s\n", err.to_string().c_str());
  if (err.has_verifier_log() && !err.verifier_log().empty())
    std::fprintf(stderr, "--- verifier log%s ---\n%.*s\n", err.log_truncated() ? " (truncated)" : "",
                 static_cast<int>(err.verifier_log().size()), err.verifier_log().data());
  return 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: ebpf-tool prog run (--asm FILE [--type TYPE] | --obj FILE --prog NAME) [--data HEX] [--ctx HEX]\n"
               "                         [--repeat N] [--json]\n"
               "       ebpf-tool prog list [--json]\n"
               "       ebpf-tool prog show ID [--json]\n"
               "TYPE: xdp (default), tc (sched_cls), socket (socket_filter), or any kernel program type name\n");
  return 2;
}

std::optional<ProgType> parse_type(const std::string& s) {
  if (s.empty() || s == "xdp") return ProgType::xdp;
  if (s == "tc" || s == "cls") return ProgType::sched_cls;
  if (s == "socket") return ProgType::socket_filter;
  return ebpf::prog_type_from_name(s);
}


// A UDP frame used when --data is not given, so `prog run` works out of the box for packet programs.
std::vector<std::uint8_t> default_frame() {
  using namespace ebpf::packet;
  auto frame = Builder()
                   .ethernet(Mac{2, 0, 0, 0, 0, 1}, Mac{2, 0, 0, 0, 0, 2})
                   .ipv4(Ipv4Addr{10, 0, 0, 1}, Ipv4Addr{10, 0, 0, 2})
                   .udp(12345, 53)
                   .payload("ebpf-tool")
                   .build();
  return frame ? *frame : std::vector<std::uint8_t>{};
}

bool has_packet_data(ProgType t) {
  return t == ProgType::xdp || t == ProgType::sched_cls || t == ProgType::sched_act ||
         t == ProgType::socket_filter || t == ProgType::cgroup_skb || t == ProgType::lwt_in ||
         t == ProgType::lwt_out || t == ProgType::lwt_xmit || t == ProgType::flow_dissector ||
         t == ProgType::sk_skb;
}

std::string_view xdp_action(std::uint32_t v) {
  static constexpr std::string_view kNames[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};
  return v < 5 ? kNames[v] : std::string_view();
}

// Loads the program to run: from assembler text, or from an ELF object (which stays alive in `object`).
struct Loaded {
  ebpf::Program program;
  std::shared_ptr<void> object;  // keeps an ELF object's maps alive while its program runs
};

ebpf::Result<Loaded> load_from_asm(const std::string& path, ProgType type) {
  std::string text;
  if (!ebpf_tool::read_input(path, text)) return ebpf::Error(ebpf::Errc::io, "read", "cannot read " + path);
  auto code = EBPF_TRY(ebpf::assemble_text(text));
  if (auto missing = code.unresolved(); !missing.empty())
    return ebpf::Error::invalid("prog run", path + " uses map '" + missing.front() + "'; prog run --asm creates no maps");
  ebpf::ProgramLoadOptions load;
  load.name = "ebpf_tool_run";
  return Loaded{EBPF_TRY(ebpf::Program::load(type, code.span(), load)), nullptr};
}

#ifdef EBPF_TOOL_HAVE_OBJECT
// A private bpffs directory for maps the object pins by name, so a test run never leaves pins behind nor
// picks up someone else's pinned maps. Removed (with its pins) when the run is over.
struct TempPinDir {
  std::string path;
  TempPinDir() {
    std::string p = "/sys/fs/bpf/ebpf-tool-run-" + std::to_string(::getpid());
    if (::mkdir(p.c_str(), 0700) == 0) path = std::move(p);
  }
  ~TempPinDir() {
    if (path.empty()) return;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          ::unlink((path + "/" + e->d_name).c_str());
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  }
};
#endif

ebpf::Result<Loaded> load_from_object(const std::string& path, const std::string& name) {
#ifdef EBPF_TOOL_HAVE_OBJECT
  auto pins = std::make_shared<TempPinDir>();
  if (pins->path.empty())
    return ebpf::Error(ebpf::Errc::io, "mkdir", "cannot create a private pin directory under /sys/fs/bpf");
  auto object = std::make_shared<ebpf::Object>(EBPF_TRY(ebpf::Object::open(path)));
  if (object->spec().program(name) == nullptr)
    return ebpf::Error(ebpf::Errc::not_found, "prog run", path + " has no program named '" + name + "'");
  for (auto& p : object->spec().programs) p.autoload = p.name == name;
  ebpf::ObjectLoadOptions options;
  options.per_program = true;
  options.pin_root = pins->path;
  EBPF_TRY(object->load(options));
  if (const auto* err = object->program_error(name)) return *err;
  auto* prog = object->program(name);
  if (prog == nullptr) return ebpf::Error(ebpf::Errc::not_found, "prog run", "program '" + name + "' did not load");
  // The object (maps) must outlive the run; the pin directory goes after it.
  auto keep = std::shared_ptr<void>(nullptr, [object, pins](void*) mutable {
    object.reset();
    pins.reset();
  });
  return Loaded{EBPF_TRY(prog->clone()), keep};
#else
  (void)path;
  (void)name;
  return ebpf::Error(ebpf::Errc::not_supported, "prog run", "--obj needs the ELF object loader (ebpf/object.hpp)");
#endif
}

int run(const std::vector<std::string>& args) {
  const std::string asm_path = ebpf_tool::flag_value(args, "--asm");
  const std::string obj_path = ebpf_tool::flag_value(args, "--obj");
  const std::string prog_name = ebpf_tool::flag_value(args, "--prog");
  if (asm_path.empty() == obj_path.empty() || (!obj_path.empty() && prog_name.empty())) return usage();
  auto type = parse_type(ebpf_tool::flag_value(args, "--type"));
  if (!type) {
    std::fprintf(stderr, "ebpf-tool: unknown program type '%s'\n", ebpf_tool::flag_value(args, "--type").c_str());
    return 2;
  }
  auto loaded = asm_path.empty() ? load_from_object(obj_path, prog_name) : load_from_asm(asm_path, *type);
  if (!loaded) return fail(loaded.error().context(asm_path.empty() ? obj_path : asm_path));
  const ebpf::Program& prog = loaded->program;
  type = prog.type();

  std::vector<std::uint8_t> data, ctx;
  if (auto hex = ebpf_tool::flag_value(args, "--data"); !hex.empty()) {
    auto bytes = ebpf::packet::from_hex(hex);
    if (!bytes) return fail(bytes.error().context("--data"));
    data = std::move(*bytes);
  } else if (has_packet_data(*type)) {
    data = default_frame();
  }
  if (auto hex = ebpf_tool::flag_value(args, "--ctx"); !hex.empty()) {
    auto bytes = ebpf::packet::from_hex(hex);
    if (!bytes) return fail(bytes.error().context("--ctx"));
    ctx = std::move(*bytes);
  }
  std::uint32_t repeat = 1;
  if (auto r = ebpf_tool::flag_value(args, "--repeat"); !r.empty()) repeat = static_cast<std::uint32_t>(std::strtoul(r.c_str(), nullptr, 10));

  ebpf::TestRunOptions opts;
  opts.data_in = data;
  opts.ctx_in = ctx;
  if (!ctx.empty()) opts.ctx_out_size = ebpf::TestRunOptions::kAuto;
  opts.repeat = repeat;
  auto result = prog.test_run(opts);
  if (!result) return fail(result.error());

  const std::string out_hex = ebpf::packet::to_hex(result->data_out);
  if (ebpf_tool::has_flag(args, "--json")) {
    std::printf("{\"type\":\"%s\",\"retval\":%u,\"duration_ns\":%lld,\"repeat\":%u,\"data_out\":\"%s\",\"ctx_out\":\"%s\"}\n",
                std::string(ebpf::name(*type)).c_str(), result->retval,
                static_cast<long long>(result->duration.count()), repeat, out_hex.c_str(),
                ebpf::packet::to_hex(result->ctx_out).c_str());
    return 0;
  }
  std::printf("retval: %u", result->retval);
  if (*type == ProgType::xdp && !xdp_action(result->retval).empty())
    std::printf(" (%s)", std::string(xdp_action(result->retval)).c_str());
  std::printf("\nduration: %lld ns per run (%u run%s)\n", static_cast<long long>(result->duration.count()), repeat,
              repeat == 1 ? "" : "s");
  std::printf("data_out: %zu bytes%s%s\n", result->data_out.size(), out_hex.empty() ? "" : "\n  ", out_hex.c_str());
  if (!result->ctx_out.empty()) std::printf("ctx_out: %s\n", ebpf::packet::to_hex(result->ctx_out).c_str());
  return 0;
}

void print_info(const ebpf::ProgramInfo& i, bool json) {
  std::string maps;
  for (auto id : i.map_ids) maps += (maps.empty() ? "" : ",") + std::to_string(id);
  if (json) {
    std::printf("{\"id\":%u,\"type\":\"%s\",\"name\":\"%s\",\"tag\":\"%s\",\"xlated_bytes\":%u,\"jited_bytes\":%u,"
                "\"map_ids\":[%s],\"run_count\":%llu,\"run_time_ns\":%llu,\"verified_insns\":%u,\"btf_id\":%u}",
                i.id, std::string(ebpf::name(i.type)).c_str(), ebpf_tool::json_escape(i.name).c_str(),
                i.tag_hex().c_str(), i.xlated_size, i.jited_size, maps.c_str(),
                static_cast<unsigned long long>(i.run_count), static_cast<unsigned long long>(i.run_time_ns),
                i.verified_insns, i.btf_id);
    return;
  }
  std::printf("%u: %s  name %s  tag %s  xlated %uB  jited %uB", i.id, std::string(ebpf::name(i.type)).c_str(),
              i.name.empty() ? "-" : i.name.c_str(), i.tag_hex().c_str(), i.xlated_size, i.jited_size);
  if (!maps.empty()) std::printf("  map_ids %s", maps.c_str());
  if (i.run_count != 0)
    std::printf("  run_cnt %llu run_time_ns %llu", static_cast<unsigned long long>(i.run_count),
                static_cast<unsigned long long>(i.run_time_ns));
}

int list(const std::vector<std::string>& args) {
  const bool json = ebpf_tool::has_flag(args, "--json");
  if (json) std::printf("[");
  bool first = true;
  std::uint32_t id = 0;
  for (;;) {
    auto next = ebpf::sys::get_next_id(ebpf::sys::ObjKind::prog, id);
    if (!next) {
      if (next.error().code() == ebpf::Errc::key_not_found) break;
      return fail(next.error());
    }
    id = *next;
    auto prog = ebpf::Program::from_id(id);
    if (!prog) continue;  // unloaded between the two calls
    auto info = prog->info();
    if (!info) continue;
    if (json && !first) std::printf(",");
    print_info(*info, json);
    if (!json) std::printf("\n");
    first = false;
  }
  if (json) std::printf("]\n");
  return 0;
}

int show(const std::vector<std::string>& args) {
  auto pos = ebpf_tool::positional(args);
  if (pos.size() != 2) return usage();
  char* end = nullptr;
  unsigned long id = std::strtoul(pos[1].c_str(), &end, 10);
  if (end == pos[1].c_str() || *end != '\0') return usage();
  auto prog = ebpf::Program::from_id(static_cast<std::uint32_t>(id));
  if (!prog) return fail(prog.error());
  auto info = prog->info();
  if (!info) return fail(info.error());
  print_info(*info, ebpf_tool::has_flag(args, "--json"));
  std::printf("\n");
  return 0;
}

int prog_main(const std::vector<std::string>& args) {
  if (args.empty()) return usage();
  if (args[0] == "run") return run(args);
  if (args[0] == "list") return list(args);
  if (args[0] == "show") return show(args);
  return usage();
}

ebpf_tool::Register reg("prog", "load, test-run, list and show programs", prog_main);

}  // namespace
