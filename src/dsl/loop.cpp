// Bounded loop blocks (see ebpf/dsl/loop.hpp).
#include "ebpf/dsl/loop.hpp"

#include <string>

#include "ebpf/helpers.hpp"
#include "local_label.hpp"

namespace ebpf::dsl {

namespace {
using namespace ebpf::isa;
}

Assembler& counted_loop(Assembler& a, Reg counter, std::int32_t count, const std::function<void(Assembler&)>& body) {
  const std::string top = detail::local_label(a, "loop_top");
  const std::string end = detail::local_label(a, "loop_end");
  a.mov(counter, 0);
  a.label(top).jge(counter, count, end);
  body(a);
  return a.add(counter, 1).ja(top).label(end);
}

Assembler& bpf_loop(Assembler& a, Operand count, Assembler::Label callback, Operand ctx) {
  // r2 stays while count and ctx move (either may come from r2), then receives the callback's address.
  load_args(a, 1, {count, r2, ctx, 0});
  a.ld_func(r2, callback);
  return a.call(helper::loop);
}

}  // namespace ebpf::dsl
