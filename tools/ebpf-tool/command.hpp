// ebpf-tool's command registry: each command group lives in its own file and registers itself, so groups
// (obj, btf, asm, prog, map, link ...) can be added without touching main.cpp.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ebpf_tool {

// argv after the group name, e.g. for `ebpf-tool obj inspect x.o` the group "obj" gets {"inspect", "x.o"}.
using Handler = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string group;    // "obj"
  std::string summary;  // one line for `ebpf-tool --help`
  Handler run;
};

std::vector<Command>& registry();

struct Register {
  Register(std::string group, std::string summary, Handler run) {
    registry().push_back({std::move(group), std::move(summary), std::move(run)});
  }
};

// Helpers shared by commands.
bool has_flag(const std::vector<std::string>& args, std::string_view flag);
// Value following `flag` ("--out DIR"), or empty.
std::string flag_value(const std::vector<std::string>& args, std::string_view flag);
// Arguments that are neither flags nor values of the given value-taking flags.
std::vector<std::string> positional(const std::vector<std::string>& args,
                                    const std::vector<std::string_view>& value_flags = {});
// Reads a whole file ("-" = stdin) into `out`; prints why on stderr and returns false on failure.
bool read_input(const std::string& path, std::string& out);
// Escapes a string for a JSON string literal (without quotes).
std::string json_escape(std::string_view s);

}  // namespace ebpf_tool
