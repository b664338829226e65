// Uses installed headers and the installed library: prints the error text of a known errno mapping and
// the name of a map type, both computed by library code.
#include <cstdio>
#include <string>

#include "ebpf/error.hpp"
#include "ebpf/types.hpp"

int main() {
  auto e = ebpf::Error::from_errno(ENOENT, "BPF_MAP_LOOKUP_ELEM");
  std::string line = e.to_string() + " / " + std::string(ebpf::name(ebpf::MapType::lru_hash));
  std::puts(line.c_str());
  return line == "BPF_MAP_LOOKUP_ELEM: No such file or directory (ENOENT) / lru_hash" ? 0 : 1;
}
