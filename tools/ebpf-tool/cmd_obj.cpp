// `ebpf-tool obj`: inspect BPF ELF objects, extract objects embedded in executables, load objects.
//   obj inspect FILE [--json]
//   obj extract BINARY... --out DIR
//   obj load FILE [--per-program] [--pin-root DIR] [--json]
// The JSON layout is documented (and kept stable) in docs/ebpf-tool.md.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "command.hpp"
#include "ebpf/elf.hpp"
#include "ebpf/object.hpp"
#include "ebpf/object_spec.hpp"

namespace ebpf_tool {
namespace {

using ebpf::MapDefinition;
using ebpf::ObjectSpec;
using ebpf::ProgramSpec;

std::string q(std::string_view s) { return "\"" + json_escape(s) + "\""; }

std::string attach_name(const ProgramSpec& p) {
  return p.expected_attach_type ? std::string(ebpf::name(*p.expected_attach_type)) : std::string();
}

std::string program_json(const ProgramSpec& p) {
  std::string o = "{\"name\":" + q(p.name) + ",\"section\":" + q(p.section) +
                  ",\"type\":" + q(ebpf::name(p.type)) + ",\"expected_attach_type\":" +
                  (p.expected_attach_type ? q(attach_name(p)) : "null") + ",\"attach_to\":" + q(p.attach_to) +
                  ",\"insns\":" + std::to_string(p.insns.size()) + ",\"global\":" + (p.global ? "true" : "false") +
                  ",\"flags\":" + std::to_string(p.flags) + ",\"relocations\":" + std::to_string(p.relocations.size()) +
                  ",\"func_info\":" + std::to_string(p.func_info.size()) +
                  ",\"line_info\":" + std::to_string(p.line_info.size()) +
                  ",\"core_relocations\":" + std::to_string(p.core_relos.size()) + "}";
  return o;
}

std::string map_json(const MapDefinition& m) {
  std::string o = "{\"name\":" + q(m.name) + ",\"source\":" + q(ebpf::name(m.source)) +
                  ",\"type\":" + q(ebpf::name(m.type)) + ",\"key_size\":" + std::to_string(m.key_size) +
                  ",\"value_size\":" + std::to_string(m.value_size) +
                  ",\"max_entries\":" + std::to_string(m.max_entries) + ",\"flags\":" + std::to_string(m.flags) +
                  ",\"pinning\":" + std::to_string(static_cast<unsigned>(m.pinning)) +
                  ",\"initial_slots\":" + std::to_string(m.initial_slots.size()) + ",\"inner\":" +
                  (m.inner.empty() ? std::string("null") : map_json(m.inner[0])) + "}";
  return o;
}

template <class T, class F>
std::string json_list(const std::vector<T>& items, F&& f) {
  std::string o = "[";
  for (std::size_t i = 0; i < items.size(); ++i) o += (i ? "," : "") + f(items[i]);
  return o + "]";
}

int inspect_json(const std::string& path, const ebpf::elf::File& file, const ObjectSpec& spec) {
  std::string o = "{\"file\":" + q(path) + ",\"license\":" + q(spec.license) +
                  ",\"kernel_version\":" + std::to_string(spec.kernel_version) + ",\"sections\":";
  std::vector<ebpf::elf::Section> sections(file.sections().begin() + (file.sections().empty() ? 0 : 1),
                                           file.sections().end());
  o += json_list(sections, [](const ebpf::elf::Section& s) {
    return "{\"index\":" + std::to_string(s.index) + ",\"name\":" + q(s.name) + ",\"type\":" +
           std::to_string(s.type) + ",\"flags\":" + std::to_string(s.flags) + ",\"size\":" + std::to_string(s.size) + "}";
  });
  o += ",\"programs\":" + json_list(spec.programs, program_json);
  o += ",\"subprograms\":" + json_list(spec.subprograms, program_json);
  o += ",\"maps\":" + json_list(spec.maps, map_json);
  std::vector<std::string> globals;
  for (const auto& m : spec.maps)
    for (const auto& v : m.variables)
      globals.push_back("{\"map\":" + q(m.name) + ",\"name\":" + q(v.name) + ",\"offset\":" +
                        std::to_string(v.offset) + ",\"size\":" + std::to_string(v.size) + "}");
  o += ",\"globals\":" + json_list(globals, [](const std::string& s) { return s; });
  if (spec.btf)
    o += ",\"btf\":{\"types\":" + std::to_string(spec.btf->type_count()) +
         ",\"ext\":" + (spec.btf_ext ? "true" : "false") + "}";
  else
    o += ",\"btf\":null";
  o += ",\"core_relocations\":" + std::to_string(spec.core_relocation_count()) + "}";
  std::printf("%s\n", o.c_str());
  return 0;
}

void print_program(const ProgramSpec& p) {
  std::printf("  %-28s %-24s %-16s %5zu insns  %zu relocs  %zu CO-RE\n", p.name.c_str(), p.section.c_str(),
              std::string(ebpf::name(p.type)).c_str(), p.insns.size(), p.relocations.size(), p.core_relos.size());
}

int inspect_text(const std::string& path, const ebpf::elf::File& file, const ObjectSpec& spec) {
  std::printf("%s: license \"%s\"\n", path.c_str(), spec.license.c_str());
  std::printf("sections (%zu):\n", file.sections().size() ? file.sections().size() - 1 : 0);
  for (const auto& s : file.sections())
    if (s.index) std::printf("  [%2u] %-32s type %-2u size %llu\n", s.index, std::string(s.name).c_str(), s.type,
                             static_cast<unsigned long long>(s.size));
  std::printf("programs (%zu):\n", spec.programs.size());
  for (const auto& p : spec.programs) print_program(p);
  std::printf("subprograms (%zu):\n", spec.subprograms.size());
  for (const auto& p : spec.subprograms) print_program(p);
  std::printf("maps (%zu):\n", spec.maps.size());
  for (const auto& m : spec.maps)
    std::printf("  %-28s %-16s %-12s key %u value %u max %u flags 0x%x\n", m.name.c_str(),
                std::string(ebpf::name(m.type)).c_str(), std::string(ebpf::name(m.source)).c_str(), m.key_size,
                m.value_size, m.max_entries, m.flags);
  std::printf("globals:\n");
  for (const auto& m : spec.maps)
    for (const auto& v : m.variables)
      std::printf("  %-16s %-28s offset %llu size %llu\n", m.name.c_str(), v.name.c_str(),
                  static_cast<unsigned long long>(v.offset), static_cast<unsigned long long>(v.size));
  if (spec.btf)
    std::printf("BTF: %u types, .BTF.ext %s, %zu CO-RE relocations\n", spec.btf->type_count(),
                spec.btf_ext ? "present" : "absent", spec.core_relocation_count());
  else
    std::printf("BTF: none\n");
  return 0;
}

int inspect(const std::vector<std::string>& args) {
  auto files = positional(args);
  if (files.size() != 1) {
    std::fprintf(stderr, "usage: ebpf-tool obj inspect FILE [--json]\n");
    return 2;
  }
  auto file = ebpf::elf::File::open(files[0]);
  if (!file) {
    std::fprintf(stderr, "ebpf-tool: %s\n", file.error().to_string().c_str());
    return 1;
  }
  auto spec = ObjectSpec::parse(file->bytes());
  if (!spec) {
    std::fprintf(stderr, "ebpf-tool: %s: %s\n", files[0].c_str(), spec.error().to_string().c_str());
    return 1;
  }
  return has_flag(args, "--json") ? inspect_json(files[0], *file, *spec) : inspect_text(files[0], *file, *spec);
}

int extract(const std::vector<std::string>& args) {
  auto inputs = positional(args, {"--out"});
  std::string out = flag_value(args, "--out");
  if (inputs.empty() || out.empty()) {
    std::fprintf(stderr, "usage: ebpf-tool obj extract BINARY... --out DIR\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "ebpf-tool: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  int status = 0;
  for (const auto& in : inputs) {
    auto file = ebpf::elf::File::open(in);  // any ELF file (usually an executable)
    std::span<const std::byte> bytes;
    std::vector<char> raw;
    if (file) {
      bytes = file->bytes();
    } else {
      std::ifstream f(in, std::ios::binary);
      if (!f) {
        std::fprintf(stderr, "ebpf-tool: cannot read %s\n", in.c_str());
        status = 1;
        continue;
      }
      raw.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      bytes = std::as_bytes(std::span<const char>(raw));
    }
    auto found = ebpf::elf::find_embedded_bpf_objects(bytes);
    std::string base = std::filesystem::path(in).filename().string();
    for (std::size_t i = 0; i < found.size(); ++i) {
      auto path = std::filesystem::path(out) / (base + "." + std::to_string(i) + ".bpf.o");
      std::ofstream o(path, std::ios::binary);
      o.write(reinterpret_cast<const char*>(found[i].bytes.data()), static_cast<std::streamsize>(found[i].size));
      if (!o) {
        std::fprintf(stderr, "ebpf-tool: cannot write %s\n", path.c_str());
        status = 1;
        continue;
      }
      std::printf("%s\t%llu\t%llu\n", path.c_str(), static_cast<unsigned long long>(found[i].offset),
                  static_cast<unsigned long long>(found[i].size));
    }
  }
  return status;
}

// Loads every program (all at once, or each on its own with --per-program) and reports what loaded.
int load(const std::vector<std::string>& args) {
  auto files = positional(args, {"--pin-root"});
  if (files.size() != 1) {
    std::fprintf(stderr, "usage: ebpf-tool obj load FILE [--per-program] [--pin-root DIR] [--json]\n");
    return 2;
  }
  auto obj = ebpf::Object::open(files[0]);
  if (!obj) {
    std::fprintf(stderr, "ebpf-tool: %s\n", obj.error().to_string().c_str());
    return 1;
  }
  ebpf::ObjectLoadOptions options;
  options.per_program = has_flag(args, "--per-program");
  if (auto root = flag_value(args, "--pin-root"); !root.empty()) options.pin_root = root;
  auto r = obj->load(options);
  bool json = has_flag(args, "--json");
  if (!r) {
    if (json)
      std::printf("{\"file\":%s,\"error\":%s}\n", q(files[0]).c_str(), q(r.error().to_string()).c_str());
    else
      std::fprintf(stderr, "ebpf-tool: %s\n", r.error().to_string().c_str());
    return 1;
  }
  std::string out = "{\"file\":" + q(files[0]) + ",\"programs\":[";
  bool first = true;
  for (const auto& p : obj->spec().programs) {
    const auto* err = obj->program_error(p.name);
    bool loaded = obj->program(p.name) != nullptr;
    if (json) {
      out += std::string(first ? "" : ",") + "{\"name\":" + q(p.name) + ",\"section\":" + q(p.section) +
             ",\"loaded\":" + (loaded ? "true" : "false") + ",\"errno\":" +
             std::to_string(err ? err->sys_errno() : 0) + ",\"error\":" + (err ? q(err->to_string()) : "null") + "}";
      first = false;
    } else {
      std::printf("%-32s %-32s %s\n", p.name.c_str(), p.section.c_str(),
                  loaded ? "OK" : err ? err->to_string().c_str() : "skipped");
    }
  }
  if (json) std::printf("%s]}\n", out.c_str());
  return obj->failed_programs().empty() ? 0 : 1;
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help") {
    std::fprintf(args.empty() ? stderr : stdout,
                 "usage: ebpf-tool obj inspect FILE [--json]\n"
                 "       ebpf-tool obj extract BINARY... --out DIR\n"
                 "       ebpf-tool obj load FILE [--per-program] [--pin-root DIR] [--json]\n");
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "inspect") return inspect(rest);
  if (args[0] == "extract") return extract(rest);
  if (args[0] == "load") return load(rest);
  std::fprintf(stderr, "ebpf-tool obj: unknown command '%s'\n", args[0].c_str());
  return 2;
}

Register reg("obj", "inspect BPF ELF objects, extract embedded ones", run);

}  // namespace
}  // namespace ebpf_tool
