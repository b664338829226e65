// Preparing an object's BTF for BPF_BTF_LOAD: compilers leave DATASEC sizes/offsets at 0 and mark externs with
// linkages the kernel refuses; loaders fix both from the ELF symbol table (done here on a copy of the blob).
#include <cstring>

#include "load_state.hpp"

namespace ebpf::detail {
namespace {

std::uint32_t rd(const std::vector<std::byte>& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
void wr(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

// A 4-byte INT of the blob, for turning extern DATASECs into plain structs.
btf::TypeId find_int32(const btf::Btf& btf) {
  for (const auto& t : btf)
    if (t.kind() == btf::Kind::int_ && t.size() == 4) return t.id();
  return 0;
}

}  // namespace

Result<std::vector<std::byte>> kernel_ready_btf(const ObjectSpec& spec) {
  const btf::Btf& btf = *spec.btf;
  auto raw = btf.raw();
  std::vector<std::byte> blob(raw.begin(), raw.end());
  btf::TypeId int32 = find_int32(btf);
  const MapDefinition* kconfig = spec.map(".kconfig");

  for (const auto& t : btf) {
    auto rec = t.raw();
    if (rec.data() < raw.data() || rec.data() + rec.size() > raw.data() + raw.size())
      return Error(Errc::bad_format, "BTF fixup", "type record outside the blob");
    std::size_t off = static_cast<std::size_t>(rec.data() - raw.data());
    if (t.kind() == btf::Kind::var && t.var_linkage() == btf::kVarExtern) {
      wr(blob, off + 12, btf::kVarGlobal);
    } else if (t.kind() == btf::Kind::func && t.func_linkage() == btf::kFuncExtern) {
      wr(blob, off + 4, rd(blob, off + 4) & ~0xffffu);  // static linkage
    } else if (t.kind() == btf::Kind::datasec) {
      const DatasecLayout* layout = nullptr;
      for (const auto& l : spec.datasec_layouts)
        if (l.section == t.name()) layout = &l;
      auto var_offset = [&](std::string_view name) -> std::optional<std::uint64_t> {
        if (layout)
          for (const auto& [n, o] : layout->symbols)
            if (n == name) return o;
        if (kconfig && t.name() == ".kconfig")
          for (const auto& v : kconfig->variables)
            if (v.name == name) return v.offset;
        return std::nullopt;
      };
      std::uint64_t size = layout ? layout->size : (kconfig && t.name() == ".kconfig" ? kconfig->value_size : 0);
      bool resolvable = size != 0;
      for (std::uint32_t i = 0; i < t.vlen() && resolvable; ++i)
        resolvable = var_offset(btf.at(t.secinfo(i).type).name()).has_value();
      if (resolvable) {
        wr(blob, off + 8, static_cast<std::uint32_t>(size));
        for (std::uint32_t i = 0; i < t.vlen(); ++i)
          wr(blob, off + 12 + 12 * i + 4,
             static_cast<std::uint32_t>(*var_offset(btf.at(t.secinfo(i).type).name())));
      } else {
        // No section behind it (.ksyms): an anonymous struct of ints has the same record length.
        if (int32 == 0) return Error(Errc::not_supported, "BTF fixup", "no 4-byte INT to rewrite DATASEC '" +
                                                                         std::string(t.name()) + "' with");
        wr(blob, off, 0);
        wr(blob, off + 4, btf::Builder::info(btf::Kind::struct_, t.vlen()));
        wr(blob, off + 8, 4 * t.vlen());
        for (std::uint32_t i = 0; i < t.vlen(); ++i) {
          wr(blob, off + 12 + 12 * i, 0);
          wr(blob, off + 12 + 12 * i + 4, int32);
          wr(blob, off + 12 + 12 * i + 8, 32 * i);
        }
      }
    }
  }
  return blob;
}

Result<Fd> load_object_btf(const ObjectSpec& spec) {
  if (!spec.btf) return Error(Errc::not_found, "BPF_BTF_LOAD", "the object has no .BTF section");
  auto blob = EBPF_TRY(kernel_ready_btf(spec));
  auto fixed = EBPF_TRY(btf::Btf::parse(blob));
  auto fd = fixed.load_into_kernel();  // on refusal, retried once with a log that the error keeps
  if (!fd) return Error(fd.error()).context("object BTF");
  return fd;
}

}  // namespace ebpf::detail

namespace ebpf {

const Error* Object::btf_error() const noexcept { return state_->btf_error ? &*state_->btf_error : nullptr; }

}  // namespace ebpf
