// Netfilter links: a netfilter program on the IPv4 LOCAL_IN hook of a private namespace sees the UDP datagrams
// a veth peer sends (it matches them by skb->len, read through BTF), counts them, and its NF_DROP verdict
// really drops them; after detach they are delivered again.
#include <gtest/gtest.h>

#include <climits>

#include "ebpf/assembler.hpp"
#include "ebpf/attach/netfilter.hpp"
#include "ebpf/btf.hpp"
#include "ebpf/program.hpp"
#include "support/counter.hpp"
#include "support/kernel.hpp"
#include "support/netns.hpp"

namespace ebpf {
namespace {

constexpr std::size_t kPayload = 77;
constexpr std::uint32_t kIpLen = 20 + 8 + kPayload;  // skb->len at LOCAL_IN: the IPv4 packet
constexpr int kCount = 5;

// Byte offset of sk_buff.len in the running kernel.
Result<std::uint32_t> skb_len_offset() {
  auto vmlinux = EBPF_TRY(btf::Btf::load_vmlinux());
  auto skb = EBPF_TRY(vmlinux.find("sk_buff", btf::Kind::struct_));
  for (std::uint32_t i = 0; i < skb.vlen(); ++i)
    if (skb.member(i).name == "len") return skb.member(i).bit_offset / 8;
  return Error(Errc::not_found, "BTF", "sk_buff has no member len");
}

// Slot 0 counts every packet, slot 1 the packets of kIpLen bytes, which get `verdict`; the rest are accepted.
Result<test::CountingProgram> netfilter_counter(int verdict) {
  using namespace isa;
  auto len_off = EBPF_TRY(skb_len_offset());
  auto map = EBPF_TRY(test::counter_map(2));
  Assembler a;
  a.ldx(DW, r2, r1, 8).ldx(W, r6, r2, static_cast<std::int16_t>(len_off));  // ctx->skb->len
  test::emit_count(a, map);
  a.jne(r6, static_cast<std::int32_t>(kIpLen), "accept").mov(r4, 1).atomic_add(DW, r7, 8, r4);
  a.mov(r0, verdict).exit();
  a.label("accept").mov(r0, netfilter::kAccept).exit();
  auto code = EBPF_TRY(std::move(a).finish());
  ProgramLoadOptions options;
  options.name = "et_nf";
  options.expected_attach_type = AttachType::netfilter;
  auto program = EBPF_TRY(Program::load(ProgType::netfilter, code.span(), options));
  return test::CountingProgram{std::move(map), std::move(program)};
}

class NetfilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EBPF_REQUIRE_KERNEL();
    auto topo = test::VethTopology::create();
    ASSERT_OK(topo);
    topo_.emplace(std::move(*topo));
  }
  // Attaches inside the right namespace (a netfilter link hooks the attaching thread's namespace).
  Result<Link> attach_in_right(const Program& program, const NetfilterOptions& options = {}) {
    auto scope = EBPF_TRY(test::NetnsScope::enter(topo_->right));
    return attach_netfilter(program, options);
  }
  Result<int> send_udp() {
    return test::udp_exchange(topo_->left, topo_->right, topo_->right_end.address, 40123, kCount, kPayload);
  }
  std::optional<test::VethTopology> topo_;
};

TEST_F(NetfilterTest, AcceptVerdictCountsRealTraffic) {
  ASSERT_OK_AND_ASSIGN(auto c, netfilter_counter(netfilter::kAccept));
  ASSERT_OK_AND_ASSIGN(auto link, attach_in_right(c.program, {netfilter::Family::ipv4, netfilter::Hook::local_in, 50}));
  ASSERT_OK_AND_ASSIGN(auto info, link.info());
  EXPECT_EQ(info.type, LinkType::netfilter);
  ASSERT_OK_AND_ASSIGN(auto nf, netfilter_link_info(link));
  EXPECT_EQ(nf.family, netfilter::Family::ipv4);
  EXPECT_EQ(nf.hook, netfilter::Hook::local_in);
  EXPECT_EQ(nf.priority, 50);
  EXPECT_FALSE(nf.ip_defrag);
  ASSERT_OK_AND_ASSIGN(int received, send_udp());
  EXPECT_EQ(received, kCount);
  EXPECT_EQ(c.slot(1), static_cast<std::uint64_t>(kCount));
  EXPECT_GE(c.slot(0), c.slot(1));
}

TEST_F(NetfilterTest, DropVerdictDropsPacketsUntilDetached) {
  ASSERT_OK_AND_ASSIGN(auto c, netfilter_counter(netfilter::kDrop));
  ASSERT_OK_AND_ASSIGN(auto link, attach_in_right(c.program, {netfilter::Family::ipv4, netfilter::Hook::pre_routing, -100}));
  ASSERT_OK_AND_ASSIGN(int dropped, send_udp());
  EXPECT_EQ(dropped, 0);
  EXPECT_EQ(c.slot(1), static_cast<std::uint64_t>(kCount));  // the hook saw every datagram it dropped
  ASSERT_OK(link.detach());
  ASSERT_OK_AND_ASSIGN(int delivered, send_udp());
  EXPECT_EQ(delivered, kCount);
  EXPECT_EQ(c.slot(1), static_cast<std::uint64_t>(kCount));
  auto again = link.detach();
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("already detached"), std::string::npos);
}

TEST_F(NetfilterTest, HookBelongsToTheAttachingNamespace) {
  // Attached in the left namespace, the LOCAL_IN hook never sees what the right namespace receives.
  ASSERT_OK_AND_ASSIGN(auto c, netfilter_counter(netfilter::kDrop));
  Result<Link> link = [&]() -> Result<Link> {
    auto scope = EBPF_TRY(test::NetnsScope::enter(topo_->left));
    return attach_netfilter(c.program);
  }();
  ASSERT_OK(link);
  ASSERT_OK_AND_ASSIGN(int received, send_udp());
  EXPECT_EQ(received, kCount);
  EXPECT_EQ(c.slot(1), 0U);
}

TEST_F(NetfilterTest, BadInput) {
  ASSERT_OK_AND_ASSIGN(auto c, netfilter_counter(netfilter::kAccept));
  auto reserved = attach_in_right(c.program, {netfilter::Family::ipv4, netfilter::Hook::local_in, INT_MIN});
  ASSERT_FALSE(reserved.has_value());
  EXPECT_EQ(reserved.error().code(), Errc::invalid_argument);
  EXPECT_NE(reserved.error().message().find("reserved"), std::string::npos);
  auto bad_hook = attach_in_right(c.program, {netfilter::Family::ipv4, static_cast<netfilter::Hook>(7), 0});
  ASSERT_FALSE(bad_hook.has_value());
  EXPECT_EQ(bad_hook.error().code(), Errc::invalid_argument);
  auto bad_family = attach_in_right(c.program, {static_cast<netfilter::Family>(7), netfilter::Hook::local_in, 0});
  ASSERT_FALSE(bad_family.has_value());
  EXPECT_EQ(bad_family.error().code(), Errc::invalid_argument);

  ASSERT_OK_AND_ASSIGN(auto xdp, test::counting_program(ProgType::xdp, 2));
  auto wrong_type = attach_in_right(xdp.program);
  ASSERT_FALSE(wrong_type.has_value());
  EXPECT_EQ(wrong_type.error().code(), Errc::invalid_argument);
  EXPECT_NE(wrong_type.error().message().find("needs a netfilter program"), std::string::npos);

  // Two BPF programs may not share one hook priority.
  ASSERT_OK_AND_ASSIGN(auto first, attach_in_right(c.program, {netfilter::Family::ipv4, netfilter::Hook::local_in, 7}));
  auto second = attach_in_right(c.program, {netfilter::Family::ipv4, netfilter::Hook::local_in, 7});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Errc::busy) << second.error().to_string();
}

}  // namespace
}  // namespace ebpf
