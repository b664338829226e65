// Context prologues and tracepoint format parsing (see ebpf/dsl/context.hpp).
#include "ebpf/dsl/context.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;

constexpr int kMaxCtxArgs = 12;  // raw tracepoints / struct_ops callbacks take at most 12 u64 arguments

// The value of "key:VALUE;" inside one format line, or empty.
std::string_view value_of(std::string_view line, std::string_view key) {
  auto at = line.find(key);
  if (at == std::string_view::npos) return {};
  line.remove_prefix(at + key.size());
  return line.substr(0, line.find(';'));
}

bool to_int(std::string_view s, long& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "int fd" / "const char * filename" / "unsigned long args[6]": the name is the last identifier before '['.
std::string field_name(std::string_view decl) {
  decl = decl.substr(0, decl.find('['));
  while (!decl.empty() && decl.back() == ' ') decl.remove_suffix(1);
  auto start = decl.find_last_of(" *");
  return std::string(start == std::string_view::npos ? decl : decl.substr(start + 1));
}
}  // namespace

Assembler& save_context(Assembler& a, Reg into) { return a.mov(into, r1); }

Assembler& skb_load_data(Assembler& a, Reg ctx, const PacketRegs& regs) {
  a.ldx(W, regs.data, ctx, ctx::sk_buff::data).ldx(W, regs.data_end, ctx, ctx::sk_buff::data_end);
  return a.mov(regs.cursor, regs.data);
}

Assembler& sk_msg_load_data(Assembler& a, Reg ctx, const PacketRegs& regs) {
  a.ldx(DW, regs.data, ctx, ctx::sk_msg::data).ldx(DW, regs.data_end, ctx, ctx::sk_msg::data_end);
  return a.mov(regs.cursor, regs.data);
}

Assembler& load_flow_keys(Assembler& a, Reg dst, Reg ctx) { return a.ldx(DW, dst, ctx, ctx::sk_buff::flow_keys); }

Result<void> load_arg(Assembler& a, Reg dst, Reg ctx, int n) {
  if (n < 0 || n >= kMaxCtxArgs)
    return Error::invalid("load_arg", "argument index " + std::to_string(n) + " is outside 0..11");
  a.ldx(DW, dst, ctx, static_cast<std::int16_t>(n * 8));
  return ok();
}

Result<void> load_pt_regs_arg(Assembler& a, Arch arch, Reg dst, Reg ctx, int n) {
  if (n < 1 || n > 6)
    return Error::invalid("load_pt_regs_arg", "argument " + std::to_string(n) +
                                                  " is not passed in a register (1..6 are)");
  a.ldx(DW, dst, ctx, pt_regs_layout(arch).parm[n - 1]);
  return ok();
}

Assembler& load_pt_regs_rc(Assembler& a, Arch arch, Reg dst, Reg ctx) {
  return a.ldx(DW, dst, ctx, pt_regs_layout(arch).rc);
}
Assembler& load_pt_regs_sp(Assembler& a, Arch arch, Reg dst, Reg ctx) {
  return a.ldx(DW, dst, ctx, pt_regs_layout(arch).sp);
}
Assembler& load_pt_regs_ip(Assembler& a, Arch arch, Reg dst, Reg ctx) {
  return a.ldx(DW, dst, ctx, pt_regs_layout(arch).ip);
}

Assembler& load_iter_ctx(Assembler& a, Reg meta, Reg object, Reg ctx) {
  a.ldx(DW, meta, ctx, ctx::iter::meta);
  return a.ldx(DW, object, ctx, ctx::iter::object);
}

Result<std::vector<TracepointField>> parse_tracepoint_format(std::string_view text) {
  std::vector<TracepointField> fields;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    std::string_view decl = value_of(line, "field:");
    if (decl.empty()) continue;
    long offset = 0, size = 0, is_signed = 0;
    if (!to_int(value_of(line, "offset:"), offset) || !to_int(value_of(line, "size:"), size) ||
        !to_int(value_of(line, "signed:"), is_signed) || offset < 0 || offset > 32767 || size <= 0 || size > 65535)
      return Error(Errc::bad_format, "parse_tracepoint_format",
                   "line " + std::to_string(line_no) + ": expected offset/size/signed in \"" + std::string(line) + "\"");
    fields.push_back({field_name(decl), static_cast<std::int16_t>(offset), static_cast<std::uint16_t>(size),
                      is_signed != 0});
  }
  if (fields.empty()) return Error(Errc::bad_format, "parse_tracepoint_format", "no field: lines in the format text");
  return fields;
}

Result<TracepointField> tracepoint_field(std::string_view category, std::string_view name, std::string_view field) {
  const std::string rel = "/events/" + std::string(category) + "/" + std::string(name) + "/format";
  std::ifstream in("/sys/kernel/tracing" + rel);
  if (!in) in.open("/sys/kernel/debug/tracing" + rel);
  if (!in)
    return Error(Errc::not_found, "tracepoint_field",
                 "no format file for tracepoint " + std::string(category) + "/" + std::string(name) +
                     " (is tracefs mounted at /sys/kernel/tracing?)");
  std::stringstream text;
  text << in.rdbuf();
  auto fields = EBPF_TRY(parse_tracepoint_format(text.str()));
  for (auto& f : fields)
    if (f.name == field) return f;
  return Error(Errc::not_found, "tracepoint_field",
               "tracepoint " + std::string(category) + "/" + std::string(name) + " has no field " + std::string(field));
}

}  // namespace ebpf::dsl
