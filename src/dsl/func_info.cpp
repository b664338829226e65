// BTF func_info for DSL programs with callbacks (see ebpf/dsl/func_info.hpp).
#include "ebpf/dsl/func_info.hpp"

#include <cctype>
#include <span>
#include <string>

#include "ebpf/btf.hpp"

namespace ebpf::dsl {

namespace {
std::string identifier(std::string_view label) {
  std::string s(label.empty() ? "fn" : label);
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) c = '_';
  if (std::isdigit(static_cast<unsigned char>(s[0]))) s.insert(0, "_");
  return s;
}
}  // namespace

void ProgramBtf::apply(ProgramLoadOptions& opts) const {
  opts.btf_fd = btf.get();
  opts.func_info = std::as_bytes(std::span(func_info));
  opts.func_info_rec_size = 8;
}

Result<ProgramBtf> callback_btf(const Bytecode& code) {
  btf::Builder b;
  const btf::TypeId int_type = b.add_int("int", 4, btf::kIntSigned, 32);
  const btf::TypeId proto = b.add_func_proto(int_type, {});
  ProgramBtf out;
  out.func_info = {0, b.add_func("prog", proto, btf::kFuncGlobal)};  // the entry, as clang marks it
  for (const Symbol& s : code.symbols) {  // sorted by instruction: func_info must be too
    if (!s.function || s.insn == 0) continue;
    out.func_info.push_back(s.insn);
    out.func_info.push_back(b.add_func(identifier(s.name), proto, btf::kFuncStatic));
  }
  const auto blob = b.finish();
  out.btf = EBPF_TRY(btf::load_raw_into_kernel(blob));
  return out;
}

}  // namespace ebpf::dsl
