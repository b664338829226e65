// Socket filters through SO_ATTACH_BPF / SO_DETACH_BPF.
#include "ebpf/attach/socket.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "ebpf/program.hpp"

namespace ebpf {

namespace {

Result<void> set_filter(int socket_fd, int prog_fd) {
  if (::setsockopt(socket_fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof prog_fd) < 0) {
    int err = errno;
    if (err == ENOTSOCK)
      return Error(Errc::invalid_argument, "setsockopt(SO_ATTACH_BPF)", "the descriptor is not a socket", err);
    return Error::from_errno(err, "setsockopt(SO_ATTACH_BPF)");
  }
  return ok();
}

class SocketFilterAttachment final : public Attachment {
 public:
  explicit SocketFilterAttachment(Fd socket) : socket_(std::move(socket)) {}
  AttachMechanism mechanism() const noexcept override { return AttachMechanism::socket_option; }
  std::string describe() const override { return "socket filter on fd " + std::to_string(socket_.get()); }

  Result<void> detach() override {
    int unused = 0;
    if (::setsockopt(socket_.get(), SOL_SOCKET, SO_DETACH_BPF, &unused, sizeof unused) < 0) {
      int err = errno;
      if (err == ENOENT)
        return Error(Errc::not_found, "setsockopt(SO_DETACH_BPF)", describe() + ": the socket has no filter", err);
      return Error::from_errno(err, "setsockopt(SO_DETACH_BPF)", describe());
    }
    socket_.reset();
    return ok();
  }

  Result<void> update(int new_prog_fd, int old_prog_fd) override {
    if (old_prog_fd >= 0)
      return Error(Errc::not_supported, "setsockopt(SO_ATTACH_BPF)",
                   describe() + ": a socket filter cannot be replaced conditionally");
    return set_filter(socket_.get(), new_prog_fd);
  }

 private:
  Fd socket_;
};

}  // namespace

Result<Link> attach_socket_filter(const Program& program, int socket_fd) {
  constexpr std::string_view op = "attach socket filter";
  if (!program.valid()) return Error::invalid(std::string(op), "the program is not loaded");
  if (program.type() != ProgType::socket_filter)
    return Error::invalid(std::string(op),
                          detail::program_label(program) + " cannot filter a socket: it needs a socket_filter program");
  if (socket_fd < 0) return Error::invalid(std::string(op), "no socket descriptor given");
  auto socket = EBPF_TRY(detail::dup_fd(socket_fd, "socket"));
  EBPF_TRY(set_filter(socket_fd, program.fd()));
  return Link(std::make_unique<SocketFilterAttachment>(std::move(socket)));
}

}  // namespace ebpf
