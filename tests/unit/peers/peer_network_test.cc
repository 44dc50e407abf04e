// Whom a node asks for a blob: the plan from the view, failed members, poisoned digests.
#include "daemon/peers/peer_network.h"

#include <gtest/gtest.h>

#include "daemon/peers/ranking.h"
#include "tests/support/fake_upstream_client.h"

namespace pullcache::peers {
namespace {

config::PeersConfig staticConfig(const std::string& self, int members) {
  config::PeersConfig c;
  c.enabled = true;
  c.listen = config::parseEndpoint(self).value();
  for (int i = 0; i < members; ++i)
    c.static_members.push_back({"10.0.0." + std::to_string(i + 1), 5001});
  c.fanout = 2;
  return c;
}

class PeerNetworkTest : public ::testing::Test {
 protected:
  asio::io_context ioc_;
  testing::FakeUpstreamClient http_{ioc_.get_executor()};
  SystemClock clock_;
};

TEST_F(PeerNetworkTest, TheRootFetchesOthersAskItThenTheirTreeParent) {
  auto c = staticConfig("10.0.0.1:5001", 8);
  Membership m(c, nullptr, nullptr);
  PeerNetwork net(c, Secret("s"), m, http_, clock_);
  const auto& members = m.view()->members;
  int as_root = 0;
  for (int b = 0; b < 200; ++b) {
    const Digest d = sha256Of("blob " + std::to_string(b));
    const Placement p = place(d, members, "10.0.0.1:5001", 2);
    auto hops = net.plan(d, {});
    if (p.selfIsRoot()) {
      EXPECT_TRUE(hops.empty());
      ++as_root;
      continue;
    }
    ASSERT_FALSE(hops.empty());
    EXPECT_EQ(hops.front().member, p.root);
    if (*p.parent == p.root) {
      ASSERT_EQ(hops.size(), 1u);
      EXPECT_TRUE(hops.front().as_child);
    } else {
      ASSERT_EQ(hops.size(), 2u);
      EXPECT_FALSE(hops[0].as_child);
      EXPECT_EQ(hops[1].member, *p.parent);
      EXPECT_TRUE(hops[1].as_child);
    }
  }
  EXPECT_GT(as_root, 5);  // about 1/8 of 200
}

TEST_F(PeerNetworkTest, AFailedMemberIsSkippedAndAPoisonedDigestGoesToTheUpstream) {
  auto c = staticConfig("10.0.0.1:5001", 4);
  Membership m(c, nullptr, nullptr);
  PeerNetwork net(c, Secret("s"), m, http_, clock_);
  for (int b = 0; b < 50; ++b) {
    const Digest d = sha256Of("blob " + std::to_string(b));
    auto hops = net.plan(d, {});
    if (hops.empty()) continue;
    const std::string root = hops.front().member;
    net.failed(root, metrics::PeerError::kConnect);
    for (const auto& h : net.plan(d, {})) EXPECT_NE(h.member, root);
    net.poisoned(d);
    EXPECT_TRUE(net.plan(d, {}).empty());
    return;
  }
  FAIL() << "this node was the root of every blob";
}

TEST_F(PeerNetworkTest, ANodeNotYetInTheRecordsNeverTakesTheRootsPart) {
  config::PeersConfig c;
  c.enabled = true;
  c.listen = {"10.0.0.9", 5001};
  c.dns_name = "peers.test";
  c.dns_port = 5001;
  c.fanout = 2;
  Membership m(
      c,
      [](const std::string&) -> Result<std::vector<std::string>> {
        return std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"};
      },
      nullptr);
  ASSERT_TRUE(m.refresh());
  ASSERT_FALSE(m.view()->listed);
  PeerNetwork net(c, Secret("s"), m, http_, clock_);
  const std::vector<std::string> others = {"10.0.0.1:5001", "10.0.0.2:5001", "10.0.0.3:5001"};
  for (int b = 0; b < 100; ++b) {
    const Digest d = sha256Of("blob " + std::to_string(b));
    auto hops = net.plan(d, {});
    ASSERT_FALSE(hops.empty()) << "blob " << b << " would leave the upstream twice";
    EXPECT_EQ(hops.front().member, others[rankMembers(d, others)[0]]);
  }
}

}  // namespace
}  // namespace pullcache::peers
