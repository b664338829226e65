// Program::load with program BTF (func_info / line_info records) and with an fd_array of maps.
#include <cstring>
#include <vector>

#include "ebpf/isa.hpp"
#include "ebpf/map.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"

namespace {

using namespace ebpf::isa;
using ebpf::Errc;
using ebpf::Program;
using ebpf::ProgType;

// A hand-made BTF blob: [1] int, [2] func_proto () -> int, [3] func "prog" (global) of type 2.
// Strings: "int" at 1, "prog" at 5, "demo.c" at 10, "return 2;" at 17.
constexpr char kStrings[] = "\0int\0prog\0demo.c\0return 2;";
constexpr std::uint32_t kFileOff = 10, kLineOff = 17;

std::vector<std::uint8_t> btf_blob() {
  const std::uint32_t types[] = {
      1, 1U << 24, 4, (1U << 24) | 32,  // int: signed, 32 bits
      0, 13U << 24, 1,                  // func_proto, no params, returns [1]
      5, 12U << 24 | 1, 2,              // func "prog", linkage global, proto [2]
  };
  const std::uint32_t header[] = {0x0001eb9f, 24, 0, sizeof types, sizeof types, sizeof kStrings};
  std::vector<std::uint8_t> out(sizeof header + sizeof types + sizeof kStrings);
  std::memcpy(out.data(), header, sizeof header);
  std::memcpy(out.data() + sizeof header, types, sizeof types);
  std::memcpy(out.data() + sizeof header + sizeof types, kStrings, sizeof kStrings);
  return out;
}

ebpf::Result<ebpf::Fd> load_btf() {
  auto blob = btf_blob();
  ebpf::sys::BtfLoadAttr attr;
  attr.btf = ebpf::sys::ptr(blob.data());
  attr.btf_size = static_cast<std::uint32_t>(blob.size());
  return ebpf::sys::btf_load(attr);
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

TEST(ProgramBtf, FuncAndLineInfoReachTheKernel) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto btf, load_btf());
  std::vector<ebpf::Insn> insns = {mov(r0, 2), ebpf::isa::exit()};
  std::vector<std::uint32_t> func_info = {0, 3};                                         // insn 0: func [3]
  std::vector<std::uint32_t> line_info = {0, kFileOff, kLineOff, (7U << 10) | 5};        // insn 0: demo.c:7:5
  ebpf::ProgramLoadOptions opts;
  opts.name = ebpf::test::unique_name("btf");
  opts.btf_fd = btf.get();
  opts.func_info = bytes_of(func_info);
  opts.line_info = bytes_of(line_info);
  opts.log_level = ebpf::log_level::basic | ebpf::log_level::verbose;  // level 2 quotes source lines
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, insns, opts));
  ASSERT_OK_AND_ASSIGN(auto info, prog.info());
  EXPECT_NE(info.btf_id, 0u);
  EXPECT_EQ(info.func_info_count, 1u);
  EXPECT_EQ(info.line_info_count, 1u);
  // With line info the verifier log quotes the source line.
  EXPECT_NE(prog.verifier_log().find("return 2;"), std::string::npos) << prog.verifier_log();
  EXPECT_NE(prog.verifier_log().find("demo.c:7"), std::string::npos) << prog.verifier_log();
}

TEST(ProgramBtf, BadFuncInfoIsAVerifierErrorWithLog) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto btf, load_btf());
  std::vector<ebpf::Insn> insns = {mov(r0, 2), ebpf::isa::exit()};
  std::vector<std::uint32_t> func_info = {0, 1};  // type [1] is an int, not a func
  ebpf::ProgramLoadOptions opts;
  opts.name = ebpf::test::unique_name("badbtf");
  opts.btf_fd = btf.get();
  opts.func_info = bytes_of(func_info);
  auto r = Program::load(ProgType::xdp, insns, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::verifier);
  EXPECT_NE(r.error().verifier_log().find("func"), std::string::npos) << r.error().verifier_log();
}

TEST(ProgramBtf, InfoRecordsAreValidatedBeforeTheSyscall) {
  EBPF_REQUIRE_KERNEL();
  std::vector<ebpf::Insn> insns = {mov(r0, 2), ebpf::isa::exit()};
  std::vector<std::uint32_t> func_info = {0, 3};
  ebpf::ProgramLoadOptions no_btf;
  no_btf.func_info = bytes_of(func_info);
  auto r = Program::load(ProgType::xdp, insns, no_btf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("btf_fd"), std::string::npos);

  ebpf::ProgramLoadOptions ragged;
  ragged.btf_fd = 100;
  ragged.func_info = bytes_of(func_info).first(6);  // not a whole number of 8-byte records
  auto r2 = Program::load(ProgType::xdp, insns, ragged);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message().find("multiple of func_info_rec_size"), std::string::npos);
}

TEST(ProgramBtf, FdArrayMapsAreBoundToTheProgram) {
  EBPF_REQUIRE_KERNEL();
  ebpf::MapSpec spec;
  spec.type = ebpf::MapType::array;
  spec.name = ebpf::test::unique_name("fda");
  spec.key_size = 4;
  spec.value_size = 8;
  spec.max_entries = 1;
  ASSERT_OK_AND_ASSIGN(auto map, ebpf::Map::create(spec));
  ASSERT_OK_AND_ASSIGN(auto map_info, map.info());
  // r1 = fd_array[0]; key 0 on the stack; r0 = lookup; return 0
  std::vector<ebpf::Insn> insns;
  auto wide = ld_map_idx(r1, 0);
  insns.insert(insns.end(), wide.begin(), wide.end());
  for (auto i : {st(W, r10, -4, 0), mov(r2, r10), add(r2, -4), call_helper(1), mov(r0, 0), ebpf::isa::exit()})
    insns.push_back(i);
  const int fds[] = {map.fd()};
  ebpf::ProgramLoadOptions opts;
  opts.name = ebpf::test::unique_name("fda");
  opts.fd_array = fds;
  ASSERT_OK_AND_ASSIGN(auto prog, Program::load(ProgType::xdp, insns, opts));
  ASSERT_OK_AND_ASSIGN(auto info, prog.info());
  ASSERT_EQ(info.map_ids.size(), 1u);
  EXPECT_EQ(info.map_ids[0], map_info.id);

  ebpf::ProgramLoadOptions without;
  without.name = opts.name;
  auto r = Program::load(ProgType::xdp, insns, without);  // index 0 with no fd_array
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::verifier);
  EXPECT_NE(r.error().verifier_log().find("fd_array"), std::string::npos) << r.error().verifier_log();
}

}  // namespace
