// libFuzzer target: arbitrary bytes as .BTF. Parsing must never crash or hang; whatever parses is then
// resolved, searched, dumped (raw and C) and sanitised, which must not crash either.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ebpf/btf.hpp"
#include "ebpf/btf/dump.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto btf = ebpf::Btf::parse(std::as_bytes(std::span(data, size)));
  if (!btf) return 0;
  for (ebpf::btf::Type t : *btf) {
    (void)btf->skip_modifiers(t.id());
    (void)btf->resolve_size(t.id());
    (void)btf->resolve_align(t.id());
    if (!t.name().empty()) (void)btf->find(t.name(), t.kind());
  }
  (void)ebpf::btf::dump_raw(*btf);
  (void)ebpf::btf::dump_c(*btf);
  (void)ebpf::btf::sanitize(*btf, ebpf::btf::KernelFeatures::none());
  // Split BTF on top of itself exercises id and string offsets continuing after a base.
  (void)ebpf::Btf::parse(std::as_bytes(std::span(data, size)), *btf);
  return 0;
}
