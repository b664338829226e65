// ebpf-tool asm / disasm: eBPF text to raw little-endian instructions and back.
//   ebpf-tool asm FILE [-o OUT]          text (LLVM/bpftool or mnemonic syntax) → raw bytes (stdout without -o)
//   ebpf-tool disasm FILE [--indices]    raw bytes → text with labels
// FILE may be "-" for standard input.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"
#include "ebpf/disasm.hpp"
#include "ebpf/text_asm.hpp"

namespace {

// Positional arguments, counting a lone "-" (stdin) as one.
std::vector<std::string> files_of(const std::vector<std::string>& args, const std::vector<std::string_view>& value_flags) {
  auto files = ebpf_tool::positional(args, value_flags);
  if (ebpf_tool::has_flag(args, "-")) files.push_back("-");
  return files;
}


bool write_all(const std::string& path, const void* data, std::size_t size) {
  std::FILE* f = path.empty() ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::fprintf(stderr, "ebpf-tool: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  bool ok = std::fwrite(data, 1, size, f) == size;
  if (f != stdout) ok = std::fclose(f) == 0 && ok;
  if (!ok) std::fprintf(stderr, "ebpf-tool: cannot write %s\n", path.empty() ? "stdout" : path.c_str());
  return ok;
}

int run_asm(const std::vector<std::string>& args) {
  auto files = files_of(args, {"-o"});
  if (files.size() != 1 || ebpf_tool::has_flag(args, "--help")) {
    std::fprintf(stderr, "usage: ebpf-tool asm FILE [-o OUT]\n");
    return 2;
  }
  std::string text;
  if (!ebpf_tool::read_input(files[0], text)) return 1;
  auto code = ebpf::assemble_text(text);
  if (!code) {
    std::fprintf(stderr, "%s: %s\n", files[0].c_str(), code.error().message().c_str());
    return 1;
  }
  for (const auto& name : code->unresolved())
    std::fprintf(stderr, "warning: map '%s' is not resolved (fd 0 in the output)\n", name.c_str());
  return write_all(ebpf_tool::flag_value(args, "-o"), code->insns.data(), code->insns.size() * sizeof(ebpf::Insn))
             ? 0
             : 1;
}

int run_disasm(const std::vector<std::string>& args) {
  auto files = files_of(args, {});
  if (files.size() != 1 || ebpf_tool::has_flag(args, "--help")) {
    std::fprintf(stderr, "usage: ebpf-tool disasm FILE [--indices]\n");
    return 2;
  }
  std::string bytes;
  if (!ebpf_tool::read_input(files[0], bytes)) return 1;
  if (bytes.size() % sizeof(ebpf::Insn) != 0) {
    std::fprintf(stderr, "%s: size %zu is not a multiple of 8 (one eBPF instruction)\n", files[0].c_str(),
                 bytes.size());
    return 1;
  }
  std::vector<ebpf::Insn> insns(bytes.size() / sizeof(ebpf::Insn));
  std::memcpy(insns.data(), bytes.data(), bytes.size());
  std::string text = ebpf::disassemble(insns, {.indices = ebpf_tool::has_flag(args, "--indices")});
  return write_all("", text.data(), text.size()) ? 0 : 1;
}

const ebpf_tool::Register asm_group("asm", "assemble eBPF text into raw instructions", run_asm);
const ebpf_tool::Register disasm_group("disasm", "disassemble raw eBPF instructions", run_disasm);

}  // namespace
