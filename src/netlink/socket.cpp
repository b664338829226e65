// The netlink socket: send a request, read replies until the ACK or NLMSG_DONE, decode negative ACKs
// (with the kernel's extended-ACK message) into ebpf::Error.
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

#include "ebpf/netlink.hpp"

namespace ebpf::netlink {

namespace {

constexpr std::size_t kReceiveBufferSize = 64 * 1024;  // larger than any single dump batch the kernel sends
constexpr int kReceiveTimeoutSeconds = 10;            // the kernel always answers; this only guards hangs

// errno values whose natural meaning for rtnetlink is "no such thing" (device, qdisc, filter).
Error make_netlink_error(int err, std::string_view operation, std::string_view kernel_message) {
  std::string message = kernel_message.empty() ? std::string(std::strerror(err)) : std::string(kernel_message);
  if (err == ENODEV || err == ENOENT) return Error(Errc::not_found, std::string(operation), message, err);
  return Error::from_errno(err, std::string(operation), message);
}

// The extended-ACK text (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR / NLMSG_DONE message, if any.
std::string_view extended_ack_message(const nlmsghdr& hdr, std::span<const std::byte> payload) {
  if (!(hdr.nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  std::size_t offset = sizeof(nlmsgerr);
  if (hdr.nlmsg_type == NLMSG_DONE) {
    offset = sizeof(int);
  } else if (!(hdr.nlmsg_flags & NLM_F_CAPPED) && payload.size() >= sizeof(nlmsgerr)) {
    nlmsgerr err;
    std::memcpy(&err, payload.data(), sizeof err);
    offset = NLMSG_ALIGN(sizeof(int) + err.msg.nlmsg_len);
  }
  if (offset >= payload.size()) return {};
  auto msg = Attributes(payload.subspan(offset)).find(NLMSGERR_ATTR_MSG);
  return msg ? msg->string() : std::string_view();
}

int read_int(std::span<const std::byte> payload) {
  int value = 0;
  if (payload.size() >= sizeof value) std::memcpy(&value, payload.data(), sizeof value);
  return value;
}

}  // namespace

Result<Socket> Socket::open() {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return Error::from_errno(errno, "socket(AF_NETLINK)", "cannot open a NETLINK_ROUTE socket");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) < 0)
    return Error::from_errno(errno, "bind(AF_NETLINK)");
  int one = 1;
  // Extended ACKs carry the kernel's explanation of a failure; capped ACKs keep them small.
  // Both are best effort: without them errors still arrive, just without text.
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  timeval timeout{kReceiveTimeoutSeconds, 0};
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  Socket socket(std::move(fd));
  socket.rx_.resize(kReceiveBufferSize);
  return socket;
}

Result<Socket> Socket::open_in_netns(int netns_fd) {
  auto guard = EBPF_TRY(NetnsGuard::enter(netns_fd));
  return open();
}

Result<void> Socket::send(Request& request, std::string_view operation) {
  request.set_sequence(++seq_);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  auto bytes = request.bytes();
  for (;;) {
    auto n = ::sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                      sizeof kernel);
    if (n >= 0) return ok();
    if (errno != EINTR) return Error::from_errno(errno, std::string(operation), "sending the netlink request");
  }
}

Result<void> Socket::execute(Request& request, std::string_view operation, const Callback& on_message) {
  request.add_flags(NLM_F_ACK);
  EBPF_TRY(send(request, operation));
  return receive_until_done(seq_, false, operation, on_message);
}

Result<void> Socket::dump(Request& request, std::string_view operation, const Callback& on_message) {
  request.add_flags(NLM_F_DUMP);
  EBPF_TRY(send(request, operation));
  return receive_until_done(seq_, true, operation, on_message);
}

Result<void> Socket::receive_until_done(std::uint32_t seq, bool dump, std::string_view operation,
                                        const Callback& on_message) {
  for (;;) {
    auto n = ::recv(fd_.get(), rx_.data(), rx_.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Error(Errc::timeout, std::string(operation), "no reply from the kernel", errno);
      return Error::from_errno(errno, std::string(operation), "receiving the netlink reply");
    }
    if (static_cast<std::size_t>(n) > rx_.size())
      return Error(Errc::no_space, std::string(operation), "netlink reply larger than the receive buffer");
    std::span<const std::byte> rest(rx_.data(), static_cast<std::size_t>(n));
    while (rest.size() >= NLMSG_HDRLEN) {
      nlmsghdr hdr;
      std::memcpy(&hdr, rest.data(), sizeof hdr);
      if (hdr.nlmsg_len < NLMSG_HDRLEN || hdr.nlmsg_len > rest.size())
        return Error(Errc::bad_format, std::string(operation), "malformed netlink reply");
      auto payload = rest.subspan(NLMSG_HDRLEN, hdr.nlmsg_len - NLMSG_HDRLEN);
      rest = rest.subspan(std::min<std::size_t>(NLMSG_ALIGN(hdr.nlmsg_len), rest.size()));
      if (hdr.nlmsg_seq != seq) continue;  // a late reply to an earlier request
      if (hdr.nlmsg_type == NLMSG_ERROR || (dump && hdr.nlmsg_type == NLMSG_DONE)) {
        int err = -read_int(payload);
        if (err != 0) return make_netlink_error(err, operation, extended_ack_message(hdr, payload));
        if (hdr.nlmsg_type == NLMSG_DONE || !dump) return ok();
        continue;
      }
      if (hdr.nlmsg_type == NLMSG_NOOP || hdr.nlmsg_type == NLMSG_DONE) continue;
      if (hdr.nlmsg_type == NLMSG_OVERRUN)
        return Error(Errc::io, std::string(operation), "netlink receive overrun");
      if (on_message) on_message(Message{hdr.nlmsg_type, hdr.nlmsg_flags, payload});
    }
  }
}

}  // namespace ebpf::netlink
