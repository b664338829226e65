#include <gtest/gtest.h>

#include "ebpf/error.hpp"
#include "ebpf/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace {

using ebpf::Errc;
using ebpf::Error;
using ebpf::Result;

Result<int> parse_positive(int v) {
  if (v <= 0) return Error::invalid("parse", "value must be positive, got " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  int x = EBPF_TRY(parse_positive(v));
  return 2 * x;
}

TEST(Error, FromErrnoMapsCodesAndNamesTheErrno) {
  auto e = Error::from_errno(ENOENT, "BPF_MAP_LOOKUP_ELEM");
  EXPECT_EQ(e.code(), Errc::key_not_found);
  EXPECT_EQ(e.sys_errno(), ENOENT);
  EXPECT_EQ(e.to_string(), "BPF_MAP_LOOKUP_ELEM: No such file or directory (ENOENT)");
  EXPECT_EQ(Error::from_errno(EPERM, "x").code(), Errc::permission);
  EXPECT_EQ(Error::from_errno(EOPNOTSUPP, "x").code(), Errc::not_supported);
  EXPECT_EQ(Error::from_errno(524, "x").code(), Errc::not_supported);
  EXPECT_EQ(Error::from_errno(E2BIG, "x").code(), Errc::no_space);
  EXPECT_EQ(Error::from_errno(EEXIST, "x").code(), Errc::key_exists);
}

TEST(Error, TryPropagatesTheFirstError) {
  auto good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_EQ(bad.error().message(), "value must be positive, got -1");
}

TEST(Error, SummaryTakesTheLastMeaningfulVerifierLines) {
  Error e(Errc::verifier, "BPF_PROG_LOAD", "program rejected", EACCES);
  e.with_verifier_log("0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok\nprocessed 2 insns (limit 1000000)\n", false);
  EXPECT_EQ(e.summary(1), "R0 !read_ok");
  EXPECT_NE(e.to_string().find("verifier: "), std::string::npos);
  Error copy = e;  // shared log: copying is cheap and keeps it
  EXPECT_EQ(copy.verifier_log(), e.verifier_log());
  e.with_verifier_log("a\nb", true);
  EXPECT_EQ(e.summary(1), "b (log truncated)");
}

TEST(Error, ContextPrefixesTheMessage) {
  auto e = Error::from_errno(E2BIG, "BPF_MAP_CREATE", "too many entries");
  e.context("map 'flows'");
  EXPECT_EQ(e.message(), "map 'flows': too many entries");
  EXPECT_EQ(e.code(), Errc::no_space);
}

TEST(Fd, ClosesOnDestructionAndNeverUsesStdio) {
  int raw;
  {
    ebpf::Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    EXPECT_GT(fd.get(), 2);
    raw = fd.get();
    auto copy = fd.dup();
    ASSERT_TRUE(copy.ok());
    EXPECT_NE(copy->get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(Fd, MovesOwnership) {
  ebpf::Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  ebpf::Fd b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  EXPECT_FALSE(ebpf::Fd().dup().ok());
}

}  // namespace
