// ebpf-tool: a bpftool-like command line over the ebpf library.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"

namespace ebpf_tool {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

bool has_flag(const std::vector<std::string>& args, std::string_view flag) {
  for (const auto& a : args)
    if (a == flag) return true;
  return false;
}

std::string flag_value(const std::vector<std::string>& args, std::string_view flag) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag) return args[i + 1];
  return {};
}

std::vector<std::string> positional(const std::vector<std::string>& args,
                                    const std::vector<std::string_view>& value_flags) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].starts_with("-")) {
      for (auto vf : value_flags)
        if (args[i] == vf) ++i;
      continue;
    }
    out.push_back(args[i]);
  }
  return out;
}

bool read_input(const std::string& path, std::string& out) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "ebpf-tool: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool ok = !std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (!ok) std::fprintf(stderr, "ebpf-tool: cannot read %s\n", path.c_str());
  return ok;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace ebpf_tool

namespace {
int usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr, "usage: ebpf-tool <group> <command> [args]\n\ngroups:\n");
  for (const auto& c : ebpf_tool::registry())
    std::fprintf(code == 0 ? stdout : stderr, "  %-8s %s\n", c.group.c_str(), c.summary.c_str());
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(2);
  std::string group = argv[1];
  if (group == "--help" || group == "-h" || group == "help") return usage(0);
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : ebpf_tool::registry())
    if (c.group == group) return c.run(args);
  std::fprintf(stderr, "ebpf-tool: unknown group '%s'\n", group.c_str());
  return usage(2);
}
