// `ebpf-tool btf dump [FILE] [--format c|raw]`: print BTF from a raw BTF file (default: the running kernel's
// /sys/kernel/btf/vmlinux) or from the .BTF section of a BPF ELF object, as a C header or bpftool's raw listing.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "command.hpp"
#include "ebpf/btf.hpp"
#include "ebpf/btf/dump.hpp"
#include "ebpf/elf.hpp"

namespace {

ebpf::Result<ebpf::Btf> load_any(const std::string& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::memcmp(magic, "\x7f" "ELF", 4) != 0) return ebpf::Btf::load_file(path);
  auto file = EBPF_TRY(ebpf::elf::File::open(path));
  const auto* sec = file.section(".BTF");
  if (!sec) return ebpf::Error(ebpf::Errc::not_found, "btf dump", path + " has no .BTF section");
  return ebpf::Btf::parse(file.data(*sec));
}

int usage() {
  std::fprintf(stderr, "usage: ebpf-tool btf dump [FILE] [--format c|raw] [--base FILE]\n"
                       "  FILE: raw BTF or a BPF ELF object (default /sys/kernel/btf/vmlinux)\n"
                       "  --base: base BTF for split (module) BTF\n");
  return 2;
}

int dump(const std::vector<std::string>& args) {
  auto pos = ebpf_tool::positional(args, {"--format", "--base"});
  std::string path = pos.size() > 1 ? pos[1] : "/sys/kernel/btf/vmlinux";
  std::string format = ebpf_tool::flag_value(args, "--format");
  if (format.empty()) format = "raw";
  if (format != "c" && format != "raw") return usage();
  std::string base_path = ebpf_tool::flag_value(args, "--base");
  ebpf::Result<ebpf::Btf> btf = ebpf::Error(ebpf::Errc::io, "", "");
  if (!base_path.empty()) {
    auto base = ebpf::Btf::load_file(base_path);
    if (!base) {
      std::fprintf(stderr, "ebpf-tool: %s\n", base.error().to_string().c_str());
      return 1;
    }
    btf = ebpf::Btf::load_file(path, *base);
  } else {
    btf = load_any(path);
  }
  if (!btf) {
    std::fprintf(stderr, "ebpf-tool: %s\n", btf.error().to_string().c_str());
    return 1;
  }
  std::string text;
  if (format == "raw") {
    text = ebpf::btf::dump_raw(*btf);
  } else {
    auto c = ebpf::btf::dump_c(*btf);
    if (!c) {
      std::fprintf(stderr, "ebpf-tool: %s\n", c.error().to_string().c_str());
      return 1;
    }
    text = std::move(*c);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help") return usage();
  if (args[0] == "dump") return dump(args);
  std::fprintf(stderr, "ebpf-tool btf: unknown command '%s'\n", args[0].c_str());
  return usage();
}

ebpf_tool::Register reg("btf", "dump BTF as C or bpftool-style raw text", run);

}  // namespace
