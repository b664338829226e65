// ebpf/attach/tail_call.hpp — tail-call chains: programs registered in the slots of a PROG_ARRAY, which
// bpf_tail_call(ctx, prog_array, index) jumps to.
//
// TailCallChain owns the PROG_ARRAY's user-space reference (the kernel empties a prog array when its last
// user reference closes, so the chain must live as long as the chain is wanted) and, optionally, the programs
// registered in it. set() registers a program in a slot (BPF_MAP_UPDATE_ELEM with the program fd), clear()
// unregisters it (the tail call then fails and the caller falls through to its next instruction), and
// clear_all() / destruction unregister every slot and close the programs the chain owns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/program.hpp"

namespace ebpf {

class TailCallChain {
 public:
  // A new PROG_ARRAY with `slots` entries.
  static Result<TailCallChain> create(std::uint32_t slots, const std::string& name = "et_tail_calls");
  // An existing PROG_ARRAY (e.g. an object's map); the chain keeps a duplicate of the fd.
  static Result<TailCallChain> adopt(int prog_array_fd);

  TailCallChain(TailCallChain&&) noexcept = default;
  TailCallChain& operator=(TailCallChain&& other) noexcept;
  ~TailCallChain();

  // The PROG_ARRAY fd programs reference in bpf_tail_call (ld_map_fd).
  int map_fd() const noexcept { return map_.get(); }
  std::uint32_t slots() const noexcept { return slots_; }

  // Registers `program` in `slot`; the chain takes ownership and closes it in clear()/clear_all().
  Result<void> set(std::uint32_t slot, Program&& program);
  // Registers a program the caller keeps owning.
  Result<void> set(std::uint32_t slot, const Program& program);
  // Unregisters `slot` (Errc::key_not_found when it is empty) and closes the program if the chain owns it.
  Result<void> clear(std::uint32_t slot);
  // Unregisters every slot and closes every owned program.
  Result<void> clear_all();
  // The id of the program the kernel has in `slot`, nullopt when the slot is empty.
  Result<std::optional<std::uint32_t>> program_id(std::uint32_t slot) const;

 private:
  TailCallChain(Fd map, std::uint32_t slots) : map_(std::move(map)), slots_(slots) {}
  Result<void> check_slot(std::uint32_t slot, std::string_view op) const;

  Fd map_;
  std::uint32_t slots_ = 0;
  std::map<std::uint32_t, Program> owned_;
};

}  // namespace ebpf
