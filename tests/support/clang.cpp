#include "support/clang.hpp"

#include <stdlib.h>

#include <array>
#include <cstdio>
#include <fstream>

namespace ebpf::test {

const std::string& bpf_clang() {
  static const std::string path = [] {
    for (const char* c : {"/usr/bin/clang-19", "/usr/bin/clang"})
      if (std::filesystem::exists(c)) return std::string(c);
    return std::string();
  }();
  return path;
}

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "_XXXXXX";
  if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Result<std::filesystem::path> compile_bpf_c(const TempDir& dir, std::string_view name, std::string_view source,
                                            std::string_view extra_flags) {
  if (bpf_clang().empty()) return Error::invalid("compile_bpf_c", "no clang installed (apt-get install clang-19)");
  if (dir.path().empty()) return Error::invalid("compile_bpf_c", "temporary directory could not be created");
  const auto src = dir.path() / (std::string(name) + ".c");
  const auto obj = dir.path() / (std::string(name) + ".o");
  std::ofstream(src) << source;
  const std::string command = bpf_clang() + " -O2 -g -target bpf -c " + std::string(extra_flags) + " " +
                              src.string() + " -o " + obj.string() + " 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return Error::from_errno(errno, "popen", command);
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) output += buf.data();
  const int status = ::pclose(pipe);
  if (status != 0) return Error::invalid("compile_bpf_c", "clang failed on " + src.string() + ":\n" + output);
  return obj;
}

}  // namespace ebpf::test
