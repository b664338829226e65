// src/dsl/seed_load.hpp — how every seed program loads: the caller's options, the seed's own program name
// when the caller gave none, and the expected attach type the program type needs (sk_skb, sk_msg).
#pragma once

#include <optional>

#include "ebpf/assembler.hpp"
#include "ebpf/program.hpp"

namespace ebpf::dsl::detail {

inline Result<Program> load_seed(ProgType type, const Bytecode& code, const char* default_name,
                                 const ProgramLoadOptions& opts, std::optional<AttachType> attach = std::nullopt) {
  ProgramLoadOptions options = opts;
  if (options.name.empty()) options.name = default_name;
  if (attach) options.expected_attach_type = attach;
  return Program::load(type, code.span(), options);
}

}  // namespace ebpf::dsl::detail
