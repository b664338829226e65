// Feature probes that need BTF: tiny hand-built blobs, and enumerator names in the kernel's own BTF.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "ebpf/syscall.hpp"
#include "features_internal.hpp"

namespace ebpf::features::detail {

namespace {

struct BtfHeader {
  std::uint16_t magic = 0xeb9f;
  std::uint8_t version = 1;
  std::uint8_t flags = 0;
  std::uint32_t hdr_len = sizeof(BtfHeader);
  std::uint32_t type_off = 0;
  std::uint32_t type_len = 0;
  std::uint32_t str_off = 0;
  std::uint32_t str_len = 0;
};
static_assert(sizeof(BtfHeader) == 24);

std::vector<std::uint8_t> blob(std::span<const std::uint32_t> types, std::string_view strings) {
  BtfHeader h;
  h.type_len = static_cast<std::uint32_t>(types.size_bytes());
  h.str_off = h.type_len;
  h.str_len = static_cast<std::uint32_t>(strings.size());
  std::vector<std::uint8_t> out(sizeof h + h.type_len + h.str_len);
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, types.data(), h.type_len);
  std::memcpy(out.data() + sizeof h + h.type_len, strings.data(), strings.size());
  return out;
}

Result<Fd> load_blob(std::span<const std::uint32_t> types, std::string_view strings) {
  auto bytes = blob(types, strings);
  sys::BtfLoadAttr attr;
  attr.btf = sys::ptr(bytes.data());
  attr.btf_size = static_cast<std::uint32_t>(bytes.size());
  return sys::btf_load(attr);
}

}  // namespace

Result<bool> probe_btf(std::span<const std::uint32_t> types, std::string_view strings) {
  auto fd = load_blob(types, strings);
  if (fd) return true;
  if (fd.error().sys_errno() == EINVAL) return false;
  auto err = std::move(fd).error();
  return err.context("BTF feature probe");
}

Result<Fd> load_int_btf() {
  // [1] int: size 4, signed 32-bit.
  static constexpr std::uint32_t kTypes[] = {1, 1U << 24, 4, (1U << 24) | 32};
  return load_blob(kTypes, std::string_view("\0int\0", 5));
}

std::optional<bool> vmlinux_has_name(std::string_view name) {
  static std::once_flag once;
  static std::string strings;
  static bool readable = false;
  std::call_once(once, [] {
    int fd = ::open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    std::string data;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    BtfHeader h;
    if (data.size() < sizeof h) return;
    std::memcpy(&h, data.data(), sizeof h);
    if (h.magic != 0xeb9f || std::size_t(h.hdr_len) + h.str_off + h.str_len > data.size()) return;
    strings = data.substr(h.hdr_len + h.str_off, h.str_len);
    readable = true;
  });
  if (!readable) return std::nullopt;
  std::string needle;
  needle += '\0';
  needle += name;
  needle += '\0';
  return strings.find(needle) != std::string::npos;
}

}  // namespace ebpf::features::detail
