// ebpf/object.hpp — loading a BPF ELF object into the kernel: maps, global data, programs.
//
//   auto obj = EBPF_TRY(Object::open("prog.bpf.o"));      // parse only (ObjectSpec), no kernel access
//   obj.spec().map("events")->max_entries = 4096;          // adjust before load
//   EBPF_TRY(obj.set_global("targ_pid", std::uint32_t{42})); // .rodata / .data constants by name
//   EBPF_TRY(obj.load());                                  // maps, BTF, CO-RE, linking, programs
//   Program* p = obj.program("handle_exec");  Map* m = obj.map("events");
//
// load() creates every map (reusing pinned ones when `pinning` asks for it), fills global data (.rodata is
// frozen), loads the object's BTF (with the DATASEC/extern fix-ups compilers leave to loaders), applies CO-RE
// relocations against the running kernel's BTF, links the .text subprograms each program calls, resolves
// kconfig / ksym / kfunc externs, and loads every program whose `autoload` is set. With
// `ObjectLoadOptions::per_program` a failing program records its own error (program_error()) and the others
// still load; otherwise the first failure is returned.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ebpf/btf.hpp"
#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"
#include "ebpf/map.hpp"
#include "ebpf/object_spec.hpp"
#include "ebpf/program.hpp"

namespace ebpf {

struct ObjectLoadOptions {
  std::string pin_root = "/sys/fs/bpf";  // directory for maps with pinning by name
  bool per_program = false;              // keep loading other programs when one fails
  std::uint32_t log_level = 0;           // verifier log level for every program (0: log only on failure)
  const btf::Btf* kernel_btf = nullptr;  // CO-RE / ksym target; default: /sys/kernel/btf/vmlinux
};

class Object {
 public:
  static Result<Object> open(const std::string& path);
  static Result<Object> open(std::span<const std::byte> bytes);
  static Object from_spec(ObjectSpec spec);

  Object(Object&&) noexcept;
  Object& operator=(Object&&) noexcept;
  ~Object();

  // The spec, adjustable until load().
  ObjectSpec& spec() noexcept;
  const ObjectSpec& spec() const noexcept;

  // Sets a global variable of a data section (.rodata, .data, .bss, .rodata.* ...) by name before load.
  // The size must match the variable's size.
  Result<void> set_global(std::string_view name, std::span<const std::byte> value);
  template <class T>
  Result<void> set_global(std::string_view name, const T& value) {
    return set_global(name, std::as_bytes(std::span<const T>(&value, 1)));
  }

  Result<void> load(const ObjectLoadOptions& options = {});
  bool loaded() const noexcept;

  // After load: nullptr when unknown (or, for programs, not loaded).
  Program* program(std::string_view name) noexcept;
  Map* map(std::string_view name) noexcept;
  // Per-program mode: the error of a program that failed to load, nullptr if it loaded or was skipped.
  const Error* program_error(std::string_view name) const noexcept;
  // After load: why the kernel refused the object's BTF (its BTF log in verifier_log()), nullptr when the BTF
  // loaded or the object has none. Programs and maps then load without BTF, as libbpf does.
  const Error* btf_error() const noexcept;
  // Names of the programs that loaded / failed, in spec order.
  std::vector<std::string> loaded_programs() const;
  std::vector<std::string> failed_programs() const;

  // Global data after load: a writable mmap of .data/.bss (read-only for .rodata) for direct access.
  Result<std::span<std::byte>> global_data(std::string_view section);
  // Reads / writes one global variable through the map after load.
  Result<void> read_global(std::string_view name, std::span<std::byte> out) const;
  Result<void> write_global(std::string_view name, std::span<const std::byte> value);

  struct State;  // implementation detail (src/object/)

 private:
  explicit Object(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ebpf
