// libFuzzer target: ELF reading (sections, symbols, relocations, notes), embedded-object discovery and
// ObjectSpec parsing over arbitrary bytes. Any crash, hang or sanitizer report is a bug: malformed input must
// come back as an Error. Seeds: fuzz/corpus/elf/.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ebpf/elf.hpp"
#include "ebpf/object_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (auto file = ebpf::elf::File::view(bytes)) {
    for (const auto& s : file->sections()) {
      if (s.type == ebpf::elf::kShtRel || s.type == ebpf::elf::kShtRela) (void)file->relocations(s);
      if (s.type == ebpf::elf::kShtNote) (void)file->notes(s);
      (void)file->string_at(s, 0);
    }
  }
  (void)ebpf::elf::find_embedded_bpf_objects(bytes);
  if (auto spec = ebpf::ObjectSpec::parse(bytes)) (void)spec->core_relocation_count();
  return 0;
}
