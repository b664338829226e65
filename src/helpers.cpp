// Names of the helper catalogue's kinds (the table itself is constexpr in ebpf/helpers.hpp).
#include "ebpf/helpers.hpp"

namespace ebpf {

std::string_view to_string(HelperRet r) {
  switch (r) {
    case HelperRet::integer: return "integer";
    case HelperRet::none: return "void";
    case HelperRet::pointer: return "pointer or NULL";
  }
  return "?";
}

std::string_view to_string(HelperArg a) {
  switch (a) {
    case HelperArg::scalar: return "scalar";
    case HelperArg::ctx: return "ctx";
    case HelperArg::map: return "map";
    case HelperArg::mem: return "mem";
    case HelperArg::const_mem: return "const mem";
    case HelperArg::size: return "size";
    case HelperArg::callback: return "callback";
    case HelperArg::socket: return "socket";
    case HelperArg::dynptr: return "dynptr";
    case HelperArg::kernel_object: return "kernel object";
  }
  return "?";
}

}  // namespace ebpf
