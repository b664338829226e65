// ebpf/netlink.hpp — a small rtnetlink (NETLINK_ROUTE) client for the hooks that are configured over netlink.
//
// XDP can be attached through IFLA_XDP on RTM_SETLINK, and classic TC programs live in a clsact qdisc as
// cls_bpf filters; both are netlink-only interfaces. This client speaks the protocol directly over an
// AF_NETLINK socket (no libmnl, no shelling out to ip/tc):
//   - Request builds one message: family header, attributes, nested attributes;
//   - Socket sends it and reads replies until the ACK (or NLMSG_DONE for dumps), turning a negative ACK into an
//     ebpf::Error whose message is the kernel's extended-ACK text when it sent one ("Exclusivity flag on, cannot
//     modify filter"), so callers see why, not just EINVAL;
//   - helpers for interfaces (name <-> index), XDP (set / query) and TC (clsact qdisc, cls_bpf filters).
// A Socket talks to the network namespace it was opened in; open_in_netns() opens one in another namespace
// without moving the calling thread for longer than the socket() call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

namespace ebpf::netlink {

// ---------------------------------------------------------------------------------------------------------
// Messages

// One netlink request under construction. Attributes are appended in order; nests are opened with
// begin_nested() and closed with end_nested(), which patches the nest's length.
class Request {
 public:
  // `type` is an RTM_* message type, `flags` NLM_F_* flags besides NLM_F_REQUEST (always set).
  Request(std::uint16_t type, std::uint16_t flags);

  // Appends the fixed family header (ifinfomsg, tcmsg, ...) that follows nlmsghdr. Call once, first.
  template <class T>
  Request& family_header(const T& header) {
    append(std::as_bytes(std::span<const T>(&header, 1)));
    return *this;
  }

  Request& put(std::uint16_t type, std::span<const std::byte> payload);
  Request& put_u8(std::uint16_t type, std::uint8_t value);
  Request& put_u16(std::uint16_t type, std::uint16_t value);
  Request& put_u32(std::uint16_t type, std::uint32_t value);
  Request& put_s32(std::uint16_t type, std::int32_t value);
  // A NUL-terminated string attribute.
  Request& put_string(std::uint16_t type, std::string_view value);

  // Opens a nested attribute; returns a token for end_nested().
  std::size_t begin_nested(std::uint16_t type);
  void end_nested(std::size_t token);

  std::uint16_t type() const noexcept;
  std::uint16_t flags() const noexcept;
  void add_flags(std::uint16_t flags) noexcept;
  void set_sequence(std::uint32_t seq) noexcept;
  // The whole message, header length filled in.
  std::span<const std::byte> bytes() const noexcept { return buf_; }

 private:
  void append(std::span<const std::byte> bytes);
  void pad();
  std::vector<std::byte> buf_;
};

// One attribute of a received message (a view into the receive buffer: valid during the callback only).
struct Attribute {
  std::uint16_t type = 0;  // without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits
  std::span<const std::byte> payload;

  // Fixed-size reads: nullopt when the payload is too short.
  std::optional<std::uint8_t> u8() const noexcept { return read<std::uint8_t>(); }
  std::optional<std::uint16_t> u16() const noexcept { return read<std::uint16_t>(); }
  std::optional<std::uint32_t> u32() const noexcept { return read<std::uint32_t>(); }
  std::optional<std::int32_t> s32() const noexcept { return read<std::int32_t>(); }
  // The payload as a string, without a trailing NUL.
  std::string_view string() const noexcept;

 private:
  template <class T>
  std::optional<T> read() const noexcept {
    if (payload.size() < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, payload.data(), sizeof value);
    return value;
  }
};

// The attributes in a buffer (a message's tail or a nested attribute's payload). Malformed trailing bytes
// are ignored, as the kernel does.
class Attributes {
 public:
  explicit Attributes(std::span<const std::byte> bytes);
  const std::vector<Attribute>& all() const noexcept { return attrs_; }
  std::optional<Attribute> find(std::uint16_t type) const noexcept;
  // The attributes nested inside attribute `type`, empty when absent.
  Attributes nested(std::uint16_t type) const;

 private:
  std::vector<Attribute> attrs_;
};

// One received message.
struct Message {
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::span<const std::byte> payload;  // everything after nlmsghdr

  // The family header, nullopt when the message is too short for it.
  template <class T>
  std::optional<T> family_header() const noexcept {
    if (payload.size() < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, payload.data(), sizeof value);
    return value;
  }
  // The attributes after a family header of `header_size` bytes (aligned to 4).
  Attributes attributes(std::size_t header_size) const;
};

// ---------------------------------------------------------------------------------------------------------
// Socket

class Socket {
 public:
  using Callback = std::function<void(const Message&)>;

  // A NETLINK_ROUTE socket in the calling thread's network namespace, with extended ACKs enabled.
  static Result<Socket> open();
  // The same, in the network namespace `netns_fd` refers to (an fd on /var/run/netns/NAME or
  // /proc/PID/ns/net). The calling thread enters it only for the socket() call.
  static Result<Socket> open_in_netns(int netns_fd);

  // Sends `request` with NLM_F_ACK and waits for the ACK; messages that arrive before it (replies to a GET,
  // NLM_F_ECHO notifications) go to `on_message`. A negative ACK becomes an Error for `operation`.
  Result<void> execute(Request& request, std::string_view operation, const Callback& on_message = {});
  // Sends `request` with NLM_F_DUMP and hands every reply to `on_message` until NLMSG_DONE.
  Result<void> dump(Request& request, std::string_view operation, const Callback& on_message);

  int fd() const noexcept { return fd_.get(); }

 private:
  explicit Socket(Fd fd) : fd_(std::move(fd)) {}
  Result<void> send(Request& request, std::string_view operation);
  Result<void> receive_until_done(std::uint32_t seq, bool dump, std::string_view operation,
                                  const Callback& on_message);
  Fd fd_;
  std::uint32_t seq_ = 0;
  std::vector<std::byte> rx_;
};

// Enters a network namespace for the calling thread (setns) and returns to the previous one on destruction.
// Only the calling thread moves; file descriptors, bpffs and the mount namespace are unaffected.
class NetnsGuard {
 public:
  static Result<NetnsGuard> enter(int netns_fd);
  // `path` is /var/run/netns/NAME or /proc/PID/ns/net.
  static Result<NetnsGuard> enter(const std::string& path);
  ~NetnsGuard();
  NetnsGuard(NetnsGuard&& other) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;

 private:
  explicit NetnsGuard(Fd previous) : previous_(std::move(previous)) {}
  Fd previous_;
};

// ---------------------------------------------------------------------------------------------------------
// Interfaces

struct Interface {
  std::uint32_t index = 0;
  std::string name;
  std::uint32_t flags = 0;  // IFF_UP, ...
  std::uint32_t mtu = 0;
};

// Name <-> index in the calling thread's network namespace (if_nametoindex / if_indextoname).
// An unknown interface is Errc::not_found.
Result<std::uint32_t> interface_index(std::string_view name);
Result<std::string> interface_name(std::uint32_t index);

// The same through a socket (so in the socket's namespace), with more detail.
Result<Interface> find_interface(Socket& socket, std::uint32_t index);
Result<Interface> find_interface(Socket& socket, std::string_view name);
Result<std::vector<Interface>> list_interfaces(Socket& socket);

// ---------------------------------------------------------------------------------------------------------
// XDP over netlink (IFLA_XDP)

namespace xdp_flags {
inline constexpr std::uint32_t update_if_noexist = 1U << 0;  // fail with EBUSY if a program is attached
inline constexpr std::uint32_t skb_mode = 1U << 1;           // generic XDP
inline constexpr std::uint32_t drv_mode = 1U << 2;           // native (driver) XDP
inline constexpr std::uint32_t hw_mode = 1U << 3;            // offloaded to the NIC
inline constexpr std::uint32_t replace = 1U << 4;            // only if the current program is expected_fd
inline constexpr std::uint32_t modes = skb_mode | drv_mode | hw_mode;
}  // namespace xdp_flags

// IFLA_XDP_ATTACHED values.
enum class XdpAttached : std::uint8_t { none = 0, driver = 1, generic = 2, offload = 3, multi = 4 };

struct XdpSetOptions {
  std::uint32_t flags = 0;  // xdp_flags::*
  int expected_fd = -1;     // with xdp_flags::replace: the program that must currently be attached
};

// Attaches `prog_fd` to interface `ifindex` (replacing any netlink-attached program unless
// xdp_flags::update_if_noexist); prog_fd -1 detaches the program of the mode in `flags`.
Result<void> set_xdp(Socket& socket, std::uint32_t ifindex, int prog_fd, const XdpSetOptions& options = {});

struct XdpState {
  XdpAttached attached = XdpAttached::none;
  std::uint32_t prog_id = 0;  // the single attached program (0 when none or several)
  std::uint32_t driver_prog_id = 0;
  std::uint32_t generic_prog_id = 0;
  std::uint32_t offload_prog_id = 0;
};
Result<XdpState> query_xdp(Socket& socket, std::uint32_t ifindex);

// ---------------------------------------------------------------------------------------------------------
// TC: clsact qdisc and cls_bpf filters

enum class TcDirection { ingress, egress };
std::string_view name(TcDirection direction) noexcept;

// Adds a clsact qdisc to the interface; Errc::key_exists (EEXIST) when one is already there.
Result<void> add_clsact(Socket& socket, std::uint32_t ifindex);
// Removes the clsact qdisc and every filter in it.
Result<void> delete_clsact(Socket& socket, std::uint32_t ifindex);
Result<bool> has_clsact(Socket& socket, std::uint32_t ifindex);

struct TcFilterOptions {
  std::uint16_t priority = 0;   // 0: the kernel picks one
  std::uint32_t handle = 0;     // 0: the kernel picks one
  std::string name;             // TCA_BPF_NAME, shown by `tc filter show`
  bool replace = false;         // replace the filter at (priority, handle) instead of failing with EEXIST
  bool direct_action = true;    // TCA_BPF_FLAG_ACT_DIRECT: the program's return value is the TC action
  std::uint16_t protocol = 0x0003;  // ETH_P_ALL, host byte order
};

struct TcFilter {
  std::uint32_t ifindex = 0;
  TcDirection direction = TcDirection::ingress;
  std::uint16_t priority = 0;
  std::uint32_t handle = 0;
  std::uint16_t protocol = 0;  // host byte order
  std::string kind;            // "bpf" for cls_bpf
  std::string name;            // TCA_BPF_NAME
  std::uint32_t prog_id = 0;
  bool direct_action = false;
};

// Adds a cls_bpf filter running `prog_fd` (a SCHED_CLS program) on the interface's clsact hook; the clsact
// qdisc must exist. Returns the filter as the kernel created it (priority and handle filled in).
Result<TcFilter> attach_tc_filter(Socket& socket, std::uint32_t ifindex, TcDirection direction, int prog_fd,
                                  const TcFilterOptions& options = {});
// Deletes the filter at (priority, handle); Errc::not_found when there is none.
Result<void> detach_tc_filter(Socket& socket, std::uint32_t ifindex, TcDirection direction,
                              std::uint16_t priority, std::uint32_t handle, std::uint16_t protocol = 0x0003);
// Every filter on the hook (empty when there is no clsact qdisc).
Result<std::vector<TcFilter>> list_tc_filters(Socket& socket, std::uint32_t ifindex, TcDirection direction);

}  // namespace ebpf::netlink
