// sk_skb / sk_msg programs on SOCKMAP / SOCKHASH maps: bpf_link first, BPF_PROG_ATTACH fallback.
#include "ebpf/attach/sockmap.hpp"

#include <cerrno>

#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"

namespace ebpf {

namespace {

constexpr std::string_view kOp = "attach sockmap";

std::optional<ProgType> program_type_for(AttachType type) {
  switch (type) {
    case AttachType::sk_skb_stream_parser:
    case AttachType::sk_skb_stream_verdict:
    case AttachType::sk_skb_verdict: return ProgType::sk_skb;
    case AttachType::sk_msg_verdict: return ProgType::sk_msg;
    default: return std::nullopt;
  }
}

// A program attached with BPF_PROG_ATTACH: the map and program stay open so detach can name both.
class SockmapProgAttachment final : public Attachment {
 public:
  SockmapProgAttachment(Fd map, Fd prog, AttachType type, std::string description)
      : map_(std::move(map)), prog_(std::move(prog)), type_(type), description_(std::move(description)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::prog_attach; }
  std::string describe() const override { return description_; }
  Result<void> detach() override {
    sys::ProgAttachAttr attr;
    attr.target_fd = static_cast<std::uint32_t>(map_.get());
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_.get());
    attr.attach_type = static_cast<std::uint32_t>(type_);
    auto r = sys::prog_detach(attr);
    if (!r) return std::move(std::move(r).error().context(description_));
    return ok();
  }

 private:
  Fd map_;
  Fd prog_;
  AttachType type_;
  std::string description_;
};

Result<void> validate(const Program& program, int map_fd, AttachType type) {
  if (!program.valid()) return Error::invalid(std::string(kOp), "the program is not loaded");
  auto wanted = program_type_for(type);
  if (!wanted)
    return Error::invalid(std::string(kOp), std::string(name(type)) + " is not a sockmap attach type");
  if (program.type() != *wanted)
    return Error::invalid(std::string(kOp), detail::program_label(program) + " cannot attach as " +
                                                std::string(name(type)) + ": it needs a " + std::string(name(*wanted)) +
                                                " program");
  if (map_fd < 0) return Error::invalid(std::string(kOp), "no map descriptor given");
  return ok();
}

Result<Link> attach_with_link(const Program& program, int map_fd, AttachType type, const std::string& what) {
  sys::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(program.fd());
  attr.target_fd = static_cast<std::uint32_t>(map_fd);
  attr.attach_type = static_cast<std::uint32_t>(type);
  auto link = sys::link_create(attr);
  if (!link) return std::move(std::move(link).error().context(what));
  return Link::from_fd(std::move(*link), what + " via bpf_link");
}

Result<Link> attach_with_prog_attach(const Program& program, int map_fd, AttachType type, const std::string& what) {
  auto map = EBPF_TRY(detail::dup_fd(map_fd, "sockmap"));
  auto prog = EBPF_TRY(detail::dup_fd(program.fd(), "program"));
  sys::ProgAttachAttr attr;
  attr.target_fd = static_cast<std::uint32_t>(map_fd);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(program.fd());
  attr.attach_type = static_cast<std::uint32_t>(type);
  auto r = sys::prog_attach(attr);
  if (!r) {
    auto error = std::move(r).error();
    if (error.sys_errno() == EBUSY)
      return Error(Errc::busy, "BPF_PROG_ATTACH", what + ": the map already has a program for this hook", EBUSY);
    return std::move(error.context(what));
  }
  return Link(std::make_unique<SockmapProgAttachment>(std::move(map), std::move(prog), type, what + " via PROG_ATTACH"));
}

}  // namespace

Result<Link> attach_sockmap(const Program& program, int map_fd, AttachType type, const SockmapOptions& options) {
  EBPF_TRY(validate(program, map_fd, type));
  std::string what = std::string(name(type)) + " " + detail::program_label(program) + " on map fd " + std::to_string(map_fd);
  if (options.mode == SockmapAttachMode::prog_attach) return attach_with_prog_attach(program, map_fd, type, what);
  auto link = attach_with_link(program, map_fd, type, what);
  if (link || options.mode == SockmapAttachMode::link) return link;
  // Kernels before 6.10 reject sockmap links with EINVAL: fall back to BPF_PROG_ATTACH.
  if (link.error().sys_errno() != EINVAL && link.error().sys_errno() != EOPNOTSUPP) return link;
  return attach_with_prog_attach(program, map_fd, type, what);
}

}  // namespace ebpf
