#include "daemon/peers/membership.h"

#include <gtest/gtest.h>

namespace pullcache::peers {
namespace {

config::PeersConfig dnsConfig() {
  config::PeersConfig c;
  c.enabled = true;
  c.listen = {"10.0.0.1", 5001};
  c.dns_name = "pullcache-peers.kube-system.svc.cluster.local";
  c.dns_port = 5001;
  return c;
}

TEST(Membership, AStaticListIncludesThisNodeSortedOnce) {
  config::PeersConfig c;
  c.enabled = true;
  c.listen = {"10.0.0.5", 5001};
  c.static_members = {{"10.0.0.9", 5001}, {"10.0.0.5", 5001}, {"fd00::2", 5001}};
  metrics::Gauge gauge;
  Membership m(c, nullptr, &gauge);
  m.start();  // nothing to resolve
  auto v = m.view();
  EXPECT_EQ(v->self, "10.0.0.5:5001");
  EXPECT_EQ(v->members,
            (std::vector<std::string>{"10.0.0.5:5001", "10.0.0.9:5001", "[fd00::2]:5001"}));
  EXPECT_EQ(gauge.value(), 3);
}

TEST(Membership, DnsRecordsBecomeMembersWithTheServicePort) {
  std::vector<std::string> answer = {"10.0.0.3", "10.0.0.2", "fd00::7"};
  metrics::Gauge gauge;
  Membership m(
      dnsConfig(),
      [&](const std::string& name) -> Result<std::vector<std::string>> {
        EXPECT_EQ(name, "pullcache-peers.kube-system.svc.cluster.local");
        return answer;
      },
      &gauge);
  EXPECT_EQ(m.view()->members, std::vector<std::string>{"10.0.0.1:5001"});  // before: alone
  ASSERT_TRUE(m.refresh());
  EXPECT_EQ(m.view()->members, (std::vector<std::string>{"10.0.0.1:5001", "10.0.0.2:5001",
                                                         "10.0.0.3:5001", "[fd00::7]:5001"}));
  EXPECT_EQ(gauge.value(), 4);
  EXPECT_FALSE(m.view()->listed) << "this node is not among the records yet";
  answer.push_back("10.0.0.1");
  ASSERT_TRUE(m.refresh());
  EXPECT_TRUE(m.view()->listed);
  answer = {"10.0.0.2"};  // a pod went away
  ASSERT_TRUE(m.refresh());
  EXPECT_EQ(m.view()->members, (std::vector<std::string>{"10.0.0.1:5001", "10.0.0.2:5001"}));
}

TEST(Membership, AFailingOrEmptyResolutionKeepsTheLastGoodView) {
  bool failing = false;
  bool empty = false;
  Membership m(
      dnsConfig(),
      [&](const std::string&) -> Result<std::vector<std::string>> {
        if (failing) return fail(Errc::kUpstreamUnavailable, "SERVFAIL");
        if (empty) return std::vector<std::string>{};
        return std::vector<std::string>{"10.0.0.2", "10.0.0.3"};
      },
      nullptr);
  ASSERT_TRUE(m.refresh());
  const auto good = m.view()->members;
  ASSERT_EQ(good.size(), 3u);
  failing = true;
  auto r = m.refresh();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("SERVFAIL"), std::string::npos);
  EXPECT_EQ(m.view()->members, good);
  failing = false;
  empty = true;
  EXPECT_FALSE(m.refresh());
  EXPECT_EQ(m.view()->members, good);
}

TEST(Membership, TheRefresherThreadFollowsTheRecords) {
  std::mutex mu;
  std::vector<std::string> answer = {"10.0.0.2"};
  auto c = dnsConfig();
  c.refresh = std::chrono::milliseconds(100);
  Membership m(
      c,
      [&](const std::string&) -> Result<std::vector<std::string>> {
        std::lock_guard lock(mu);
        return answer;
      },
      nullptr);
  m.start();
  EXPECT_EQ(m.view()->members.size(), 2u);  // the first resolution ran in start()
  {
    std::lock_guard lock(mu);
    answer = {"10.0.0.2", "10.0.0.3", "10.0.0.4"};
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (m.view()->members.size() != 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(m.view()->members.size(), 4u);
  m.stop();
}

TEST(Membership, TheSystemResolverReadsLiterals) {
  auto r = systemResolve("127.0.0.7");
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r.value(), std::vector<std::string>{"127.0.0.7"});
  EXPECT_FALSE(systemResolve("no-such-name.invalid"));
}

}  // namespace
}  // namespace pullcache::peers
