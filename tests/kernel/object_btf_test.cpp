// An object whose BTF the kernel refuses still loads (as with libbpf), and the kernel's reason is kept:
// Object::btf_error() carries the errno and the BTF verifier log. The bad type is one our sanitiser has no
// reason to touch: a struct member renamed to an invalid C identifier inside the compiled object.
#include <algorithm>
#include <cstring>

#include "../unit/elf_test_support.hpp"
#include "ebpf/object.hpp"
#include "support/clang.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

constexpr const char* kProgram = R"(
struct et_record { int et_bad_member; };
struct et_record rec;
SEC("xdp") int count(struct xdp_md *ctx) { rec.et_bad_member++; return 2; }
char LICENSE[] SEC("license") = "GPL";
)";

// Replaces every occurrence of `from` with `to` (same length) in the object's bytes.
std::size_t replace_all(std::vector<std::byte>& bytes, std::string_view from, std::string_view to) {
  std::size_t n = 0;
  auto as_byte = [](char c) { return static_cast<std::byte>(c); };
  std::vector<std::byte> needle(from.size()), repl(to.size());
  std::transform(from.begin(), from.end(), needle.begin(), as_byte);
  std::transform(to.begin(), to.end(), repl.begin(), as_byte);
  for (auto it = bytes.begin(); (it = std::search(it, bytes.end(), needle.begin(), needle.end())) != bytes.end(); ++n)
    it = std::copy(repl.begin(), repl.end(), it);
  return n;
}

std::uint32_t run_count(Object& obj) {
  std::vector<std::uint8_t> frame(64, 0);
  TestRunOptions opts;
  opts.data_in = frame;
  auto r = obj.program("count")->test_run(opts);
  EXPECT_TRUE(r.ok());
  return r ? r->retval : 0;
}

TEST(ObjectBtf, RefusedBtfIsReportedAndProgramsStillLoad) {
  EBPF_REQUIRE_KERNEL();
  test::TempDir dir("obj_btf");
  ASSERT_OK_AND_ASSIGN(auto path, test::compile_bpf_c(dir, "rec", std::string(test::kBpfPrelude) + kProgram));
  auto bytes = test::read_file(path);

  ASSERT_OK_AND_ASSIGN(auto good, Object::open(bytes));
  ASSERT_OK(good.load());
  EXPECT_EQ(good.btf_error(), nullptr);

  ASSERT_GE(replace_all(bytes, "et_bad_member", "et-bad-member"), 1u);
  ASSERT_OK_AND_ASSIGN(auto bad, Object::open(bytes));  // our parser accepts it: names are the kernel's business
  ASSERT_OK(bad.load());
  const Error* why = bad.btf_error();
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(why->sys_errno(), EINVAL) << why->to_string();
  EXPECT_NE(why->message().find("object BTF"), std::string::npos) << why->to_string();
  ASSERT_TRUE(why->has_verifier_log()) << why->to_string();
  EXPECT_NE(why->verifier_log().find("Invalid name"), std::string::npos) << why->verifier_log();
  EXPECT_NE(why->verifier_log().find("et-bad-member"), std::string::npos) << why->verifier_log();
  // Everything else loaded without BTF and works.
  EXPECT_EQ(run_count(bad), 2u);
  std::int32_t member = 0;
  ASSERT_OK(bad.read_global("rec", std::as_writable_bytes(std::span(&member, 1))));
  EXPECT_EQ(member, 1);
}

}  // namespace
}  // namespace ebpf
