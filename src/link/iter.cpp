// BPF iterators: iterator links, and reading a walk through BPF_ITER_CREATE.
#include "ebpf/attach/iter.hpp"

#include <unistd.h>

#include <cerrno>

#include "ebpf/btf.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

Result<std::uint32_t> iter_target_btf_id(std::string_view target) {
  if (target.empty()) return Error::invalid("iterator", "empty iterator target");
  auto vmlinux = EBPF_TRY(Btf::load_vmlinux());
  auto func = vmlinux.find("bpf_iter_" + std::string(target), btf::Kind::func);
  if (!func)
    return Error(Errc::not_found, "iterator", "the kernel has no '" + std::string(target) + "' iterator (no BTF function bpf_iter_" +
                                                  std::string(target) + ")");
  return func->id();
}

Result<Link> attach_iter(const Program& program, const IterOptions& options) {
  constexpr std::string_view op = "attach iterator";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::tracing)
    return Error::invalid(std::string(op), detail::program_label(program) +
                                               " cannot be an iterator: it needs a tracing program loaded with "
                                               "expected attach type trace_iter");
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(AttachType::trace_iter);
  if (!options.link_info.empty()) {
    attr.as<sys::LinkCreateAttr::Iter>().iter_info = sys::ptr(options.link_info.data());
    attr.as<sys::LinkCreateAttr::Iter>().iter_info_len = static_cast<std::uint32_t>(options.link_info.size());
  }
  auto fd = sys::link_create(attr);
  if (!fd) return std::move(fd.error().context(detail::program_label(program)));
  return Link::from_fd(std::move(*fd), "iterator " + detail::program_label(program));
}

Result<Fd> open_iter(const Link& link) {
  if (link.fd() < 0) return Error::invalid("BPF_ITER_CREATE", "not an iterator link (detached or not a bpf_link)");
  return sys::iter_create(link.fd());
}

Result<std::string> read_iter(const Link& link) {
  auto fd = EBPF_TRY(open_iter(link));
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno != EINTR && errno != EAGAIN) {
      return Error::from_errno(errno, "read(iterator)", "the iterator program failed mid-walk");
    }
  }
}

}  // namespace ebpf
