// Private helper of the DSL building blocks: label names unique within one Assembler, so a block can be used
// several times in one program without its internal labels colliding.
#pragma once

#include <string>

#include "ebpf/assembler.hpp"

namespace ebpf::dsl::detail {

// "__dsl_<what>_<position>": the position makes each use of a block distinct; `what` names the block in
// disassembly and in assembler errors.
inline std::string local_label(const Assembler& a, const char* what) {
  return std::string("__dsl_") + what + "_" + std::to_string(a.size());
}

}  // namespace ebpf::dsl::detail
