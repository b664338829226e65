// ebpf-tool feature probe [--json]: what the running kernel supports (program types, map types, features).
// Each answer is "yes", "no", or an error (e.g. EPERM when kernel policy forbids the probe itself).
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"
#include "ebpf/features.hpp"

namespace {

struct Row {
  std::string group, name, min_kernel;
  ebpf::Result<bool> answer;
};

std::vector<Row> probe_all() {
  namespace f = ebpf::features;
  std::vector<Row> rows;
  for (std::uint32_t i = 1; i < ebpf::kProgTypeCount; ++i) {
    auto t = static_cast<ebpf::ProgType>(i);
    rows.push_back({"prog_type", std::string(ebpf::name(t)), std::string(f::min_kernel(t)), f::has_prog_type(t)});
  }
  for (std::uint32_t i = 1; i < ebpf::kMapTypeCount; ++i) {
    auto t = static_cast<ebpf::MapType>(i);
    rows.push_back({"map_type", std::string(ebpf::name(t)), std::string(f::min_kernel(t)), f::has_map_type(t)});
  }
  for (std::uint32_t i = 0; i < ebpf::kFeatureCount; ++i) {
    auto t = static_cast<ebpf::Feature>(i);
    rows.push_back({"feature", std::string(ebpf::name(t)), std::string(f::min_kernel(t)), f::has(t)});
  }
  for (std::uint32_t i = 0; i < ebpf::kAttachTypeCount; ++i) {
    auto t = static_cast<ebpf::AttachType>(i);
    rows.push_back({"attach_type", std::string(ebpf::name(t)), "", f::has_attach_type(t)});
  }
  return rows;
}

std::string verdict(const ebpf::Result<bool>& r) {
  if (!r) return "error: " + r.error().to_string();
  return *r ? "yes" : "no";
}

int feature_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "probe") {
    std::fprintf(stderr, "usage: ebpf-tool feature probe [--json]\n");
    return 2;
  }
  auto rows = probe_all();
  if (ebpf_tool::has_flag(args, "--json")) {
    std::printf("[");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::printf("%s{\"group\":\"%s\",\"name\":\"%s\",", i ? "," : "", r.group.c_str(), r.name.c_str());
      if (r.answer)
        std::printf("\"supported\":%s", *r.answer ? "true" : "false");
      else
        std::printf("\"supported\":null,\"error\":\"%s\"", ebpf_tool::json_escape(r.answer.error().to_string()).c_str());
      if (!r.min_kernel.empty()) std::printf(",\"min_kernel\":\"%s\"", r.min_kernel.c_str());
      std::printf("}");
    }
    std::printf("]\n");
    return 0;
  }
  std::string group;
  for (const auto& r : rows) {
    if (r.group != group) std::printf("%s%s:\n", group.empty() ? "" : "\n", (group = r.group).c_str());
    std::printf("  %-32s %-5s %s\n", r.name.c_str(), r.min_kernel.empty() ? "" : r.min_kernel.c_str(),
                verdict(r.answer).c_str());
  }
  return 0;
}

ebpf_tool::Register reg("feature", "probe what the running kernel supports", feature_main);

}  // namespace
