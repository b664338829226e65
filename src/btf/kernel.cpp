// Loading BTF into the kernel (BPF_BTF_LOAD through ebpf/syscall.hpp), probing which kinds the running kernel
// understands, and sanitising a blob for an older kernel by rewriting unsupported kinds into older ones of
// the same record size, so type ids (referenced by programs and maps) never change.
#include <cstring>
#include <string>

#include "btf_data.hpp"
#include "ebpf/btf.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf::btf {

namespace {

using detail::info_kind;
using detail::info_vlen;

std::uint32_t make_info(Kind kind, std::uint32_t vlen, bool kflag = false) { return Builder::info(kind, vlen, kflag); }
constexpr std::uint32_t kIntByte = 8;  // BTF_INT_ENC(0, 0, 8): an 8-bit unsigned int

struct Sanitizer {
  const KernelFeatures& f;
  std::vector<std::uint32_t> types;  // own type section, rewritten in place
  std::string strings;               // own string section (datasec names are rewritten)
  TypeId start_id = 1;
  TypeId u64_id = 0;  // appended for enum64 -> union members
  std::uint32_t base_str_len = 0;
  std::uint32_t count = 0;
  std::vector<std::uint32_t> extra;  // appended types

  TypeId u64_type() {
    if (!u64_id) {
      u64_id = start_id + count;
      ++count;
      extra.insert(extra.end(), {0u, make_info(Kind::int_, 0), 8u, 64u});
    }
    return u64_id;
  }

  void rewrite(std::uint32_t* t, const Btf& btf) {
    std::uint32_t kind = info_kind(t[1]), vlen = info_vlen(t[1]);
    switch (static_cast<Kind>(kind)) {
      case Kind::var:
        if (!f.datasec) t[1] = make_info(Kind::int_, 0), t[2] = 1, t[3] = kIntByte;
        break;
      case Kind::datasec:
        if (!f.datasec) {
          rename_datasec(t[0], btf);
          t[1] = make_info(Kind::struct_, vlen);
          for (std::uint32_t i = 0; i < vlen; ++i) {
            std::uint32_t* m = t + 3 + 3 * i;
            std::uint32_t var = m[0], offset = m[1];
            m[2] = offset * 8;
            m[1] = var;
            m[0] = btf.at(var).name_off();
          }
        }
        break;
      case Kind::func_proto:
        if (!f.func) t[0] = 0, t[1] = make_info(Kind::enum_, vlen), t[2] = 4;
        break;
      case Kind::func:
        if (!f.func) t[1] = make_info(Kind::typedef_, 0);
        else if (!f.func_global && vlen == kFuncGlobal) t[1] = make_info(Kind::func, kFuncStatic);
        break;
      case Kind::float_:
        if (!f.float_) t[0] = 0, t[1] = make_info(Kind::struct_, 0);
        break;
      case Kind::decl_tag:
        if (!f.decl_tag) t[0] = 0, t[1] = make_info(Kind::int_, 0), t[2] = 1, t[3] = kIntByte;
        break;
      case Kind::type_tag:
        if (!f.type_tag) t[0] = 0, t[1] = make_info(Kind::const_, 0);
        break;
      case Kind::enum_:
        if (!f.enum64) t[1] &= ~(1u << 31);  // signedness flag is 6.0 too
        break;
      case Kind::enum64:
        if (!f.enum64) {
          TypeId u64 = u64_type();
          t[1] = make_info(Kind::union_, vlen);
          for (std::uint32_t i = 0; i < vlen; ++i) t[3 + 3 * i + 1] = u64, t[3 + 3 * i + 2] = 0;
        }
        break;
      default:
        break;
    }
  }

  // ".data" is not a valid struct name: dots become underscores (in this blob's own string section).
  void rename_datasec(std::uint32_t name_off, const Btf&) {
    if (name_off < base_str_len) return;  // a base string: not ours to rewrite
    for (std::size_t i = name_off - base_str_len; i < strings.size() && strings[i]; ++i)
      if (strings[i] == '.' || strings[i] == '/' || strings[i] == '-') strings[i] = '_';
  }
};

std::uint32_t total_strings(const Btf* btf) {
  return btf ? static_cast<std::uint32_t>(btf->strings().size()) + total_strings(btf->base()) : 0;
}

std::vector<std::byte> assemble(std::span<const std::uint32_t> types, std::span<const std::uint32_t> extra,
                                const std::string& strings) {
  std::uint32_t type_len = static_cast<std::uint32_t>((types.size() + extra.size()) * 4);
  std::uint32_t str_len = static_cast<std::uint32_t>(strings.size());
  std::vector<std::byte> out(detail::kHeaderSize + type_len + str_len);
  std::uint16_t magic = kMagic;
  std::memcpy(out.data(), &magic, 2);
  out[2] = std::byte{1};
  std::uint32_t hdr[5] = {detail::kHeaderSize, 0, type_len, type_len, str_len};
  std::memcpy(out.data() + 4, hdr, sizeof hdr);
  std::byte* p = out.data() + detail::kHeaderSize;
  if (!types.empty()) std::memcpy(p, types.data(), types.size() * 4);
  if (!extra.empty()) std::memcpy(p + types.size() * 4, extra.data(), extra.size() * 4);
  std::memcpy(p + type_len, strings.data(), str_len);
  return out;
}

}  // namespace

Result<std::vector<std::byte>> sanitize(const Btf& btf, const KernelFeatures& features) {
  Sanitizer s{features, {}, {}, btf.start_id(), 0, total_strings(btf.base()), 0, {}};
  auto strs = btf.strings();
  s.strings.assign(strs.data(), strs.size());
  std::vector<std::uint32_t> word_offsets;
  for (Type t : btf) {
    auto raw = t.raw();
    word_offsets.push_back(static_cast<std::uint32_t>(s.types.size()));
    std::size_t n = raw.size() / 4;
    s.types.resize(s.types.size() + n);
    std::memcpy(s.types.data() + word_offsets.back(), raw.data(), raw.size());
  }
  s.count = static_cast<std::uint32_t>(word_offsets.size());
  for (std::size_t i = 0; i < word_offsets.size(); ++i) s.rewrite(s.types.data() + word_offsets[i], btf);
  return assemble(s.types, s.extra, s.strings);
}

Result<Fd> load_raw_into_kernel(std::span<const std::byte> blob, const LoadOptions& options) {
  if (blob.empty() || blob.size() > UINT32_MAX)
    return Error::invalid("BPF_BTF_LOAD", "BTF blob size " + std::to_string(blob.size()) + " is out of range");
  sys::BtfLoadAttr attr;
  attr.btf = sys::ptr(blob.data());
  attr.btf_size = static_cast<std::uint32_t>(blob.size());
  std::string log;
  if (options.log_level > 0) {
    log.assign(options.log_size, '\0');
    attr.btf_log_buf = sys::ptr(log.data());
    attr.btf_log_size = static_cast<std::uint32_t>(log.size());
    attr.btf_log_level = options.log_level;
  }
  auto fd = sys::btf_load(attr);
  if (fd) return fd;
  if (options.log_level == 0 && options.log_size > 0) {  // retry once with a log to explain the rejection
    LoadOptions with_log = options;
    with_log.log_level = 1;
    auto again = load_raw_into_kernel(blob, with_log);
    if (again) return again;
    return again.error();
  }
  Error e = fd.error();
  log.resize(std::strlen(log.c_str()));
  if (!log.empty()) {
    e = Error(Errc::bad_format, "BPF_BTF_LOAD", "kernel rejected the BTF: " + e.message(), e.sys_errno());
    e.with_verifier_log(std::move(log), attr.btf_log_true_size > attr.btf_log_size);
  }
  return e;
}

Result<Fd> Btf::load_into_kernel(const LoadOptions& options) const {
  const KernelFeatures all;
  const KernelFeatures& f = options.features;
  bool everything = f.func == all.func && f.datasec == all.datasec && f.float_ == all.float_ &&
                    f.decl_tag == all.decl_tag && f.type_tag == all.type_tag && f.enum64 == all.enum64 &&
                    f.func_global == all.func_global;
  if (everything && start_id() == 1) return load_raw_into_kernel(raw(), options);
  auto blob = EBPF_TRY(sanitize(*this, f));
  return load_raw_into_kernel(blob, options);
}
Result<Fd> Btf::load_into_kernel() const { return load_into_kernel(LoadOptions{}); }

namespace {
// Loads a tiny blob made by `make`; true if the kernel accepts it.
template <class Make>
Result<bool> accepts(Make make) {
  Builder b;
  make(b);
  LoadOptions quiet;
  quiet.log_size = 0;
  auto fd = load_raw_into_kernel(b.finish(), quiet);
  if (fd) return true;
  if (fd.error().sys_errno() == EPERM) return fd.error();
  return false;
}
}  // namespace

Result<KernelFeatures> probe_kernel_features() {
  KernelFeatures f;
  f.func = EBPF_TRY(accepts([](Builder& b) {
    TypeId i = b.add_int("int", 4, kIntSigned);
    b.add_func("f", b.add_func_proto(i, {{"x", i}}), kFuncStatic);
  }));
  f.func_global = EBPF_TRY(accepts([](Builder& b) {
    TypeId i = b.add_int("int", 4, kIntSigned);
    b.add_func("f", b.add_func_proto(i, {{"x", i}}), kFuncGlobal);
  }));
  f.datasec = EBPF_TRY(accepts([](Builder& b) {
    TypeId i = b.add_int("int", 4, kIntSigned);
    TypeId v = b.add_var("x", i, kVarStatic);
    b.add_datasec(".data", 4, {{v, 0, 4}});
  }));
  f.float_ = EBPF_TRY(accepts([](Builder& b) { b.add_float("float", 4); }));
  f.decl_tag = EBPF_TRY(accepts([](Builder& b) {
    TypeId i = b.add_int("int", 4, kIntSigned);
    TypeId v = b.add_var("x", i, kVarStatic);
    b.add_decl_tag("tag", v, -1);
  }));
  f.type_tag = EBPF_TRY(accepts([](Builder& b) {
    TypeId i = b.add_int("int", 4, kIntSigned);
    b.add_ptr(b.add_type_tag("tag", i));
  }));
  f.enum64 = EBPF_TRY(accepts([](Builder& b) { b.add_enum64("e", 8, {{"A", 1ll << 40}}); }));
  return f;
}

}  // namespace ebpf::btf
