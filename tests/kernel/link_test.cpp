// Link semantics shared by every hook: ownership (move, destruction), pins and ids, release, and errors for
// operations a Link cannot do. Uses raw tracepoint links (no namespace needed) as the bpf_link under test.
#include <gtest/gtest.h>
#include <unistd.h>

#include "ebpf/attach/tracing.hpp"
#include "ebpf/link.hpp"
#include "ebpf/program.hpp"
#include "ebpf/syscall.hpp"
#include "support/kernel.hpp"

namespace ebpf {
namespace {

Result<Program> raw_tp_program() {
  Insn insns[2];
  insns[0].code = 0xb7;  // r0 = 0
  insns[1].code = 0x95;  // exit
  ProgramLoadOptions options;
  options.name = "et_link";
  return Program::load(ProgType::raw_tracepoint, insns, options);
}

// Whether a link with this id still exists in the kernel.
bool link_exists(std::uint32_t id) { return sys::get_fd_by_id(sys::ObjKind::link, id).has_value(); }

struct Unpin {
  std::string path;
  ~Unpin() { ::unlink(path.c_str()); }
};

TEST(Link, DestructionAndMoveAssignmentReleaseTheLink) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, raw_tp_program());
  std::uint32_t first_id = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_raw_tracepoint(prog, "sys_enter"));
    ASSERT_OK_AND_ASSIGN(auto info, link.info());
    first_id = info.id;
    EXPECT_TRUE(link_exists(first_id));
    ASSERT_OK_AND_ASSIGN(auto second, attach_raw_tracepoint(prog, "sys_exit"));
    ASSERT_OK_AND_ASSIGN(auto second_info, second.info());
    link = std::move(second);  // the first link is released here
    EXPECT_FALSE(link_exists(first_id));
    EXPECT_TRUE(link_exists(second_info.id));
    Link moved(std::move(link));
    EXPECT_FALSE(link.attached());
    EXPECT_TRUE(moved.attached());
    first_id = second_info.id;
  }
  EXPECT_FALSE(link_exists(first_id));
}

TEST(Link, PinOpenPinnedAndRelease) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, raw_tp_program());
  Unpin pin{"/sys/fs/bpf/" + test::unique_name("link")};
  std::uint32_t id = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto link, attach_raw_tracepoint(prog, "sys_enter"));
    ASSERT_OK(link.pin(pin.path));
    id = link.info()->id;
  }
  EXPECT_TRUE(link_exists(id)) << "a pinned link outlives its Link";
  ASSERT_OK_AND_ASSIGN(auto reopened, Link::open_pinned(pin.path));
  ASSERT_OK_AND_ASSIGN(auto info, reopened.info());
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(info.type, LinkType::raw_tracepoint);
  ::unlink(pin.path.c_str());
  ASSERT_OK_AND_ASSIGN(auto fd, reopened.release_fd());
  EXPECT_FALSE(reopened.attached());
  EXPECT_TRUE(link_exists(id)) << "release_fd hands the link over without detaching";
  fd.reset();
  EXPECT_FALSE(link_exists(id));
}

TEST(Link, OpenPinnedErrors) {
  EBPF_REQUIRE_KERNEL();
  auto missing = Link::open_pinned("/sys/fs/bpf/etno-such-pin");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::not_found);

  // A pinned program is a BPF object but not a link.
  ASSERT_OK_AND_ASSIGN(auto prog, raw_tp_program());
  Unpin pin{"/sys/fs/bpf/" + test::unique_name("prog")};
  ASSERT_OK(prog.pin(pin.path));
  auto not_link = Link::open_pinned(pin.path);
  ASSERT_FALSE(not_link.has_value());
  EXPECT_EQ(not_link.error().code(), Errc::invalid_argument);
  EXPECT_NE(not_link.error().message().find("not a link"), std::string::npos) << not_link.error().to_string();

  auto zero = Link::from_id(0);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code(), Errc::invalid_argument);
  auto gone = Link::from_id(0x7ffffff0);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code(), Errc::not_found);
}

TEST(Link, EmptyLinkRefusesEverything) {
  Link empty;
  EXPECT_FALSE(empty.attached());
  EXPECT_EQ(empty.fd(), -1);
  auto d = empty.detach();
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code(), Errc::invalid_argument);
  auto p = empty.pin("/sys/fs/bpf/x");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), Errc::invalid_argument);
  auto i = empty.info();
  ASSERT_FALSE(i.has_value());
  Program none;
  auto u = empty.update(none);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code(), Errc::invalid_argument);
}

TEST(Link, RawTracepointLinkCannotUpdate) {
  EBPF_REQUIRE_KERNEL();
  ASSERT_OK_AND_ASSIGN(auto prog, raw_tp_program());
  ASSERT_OK_AND_ASSIGN(auto other, raw_tp_program());
  ASSERT_OK_AND_ASSIGN(auto link, attach_raw_tracepoint(prog, "sys_enter"));
  auto r = link.update(other);
  ASSERT_FALSE(r.has_value());  // the kernel has no update for raw_tp links
  EXPECT_NE(r.error().sys_errno(), 0) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("raw tracepoint sys_enter"), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace ebpf
