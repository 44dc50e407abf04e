#include <gtest/gtest.h>

#include <map>

#include "daemon/config/config.h"
#include "daemon/config/yaml_keys.h"

namespace pullcache::config {
namespace {

Result<PeersConfig> parse(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  return yaml::parsePeers(YAML::Load(yaml), [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string errorOf(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  auto r = parse(yaml, std::move(env));
  return r ? std::string("(accepted)") : r.error().detail;
}

TEST(PeersConfig, TheIssuesKeysWithTheirDefaults) {
  auto r =
      parse("{listen: 10.0.1.5:5001, dns: \"pullcache-peers.kube-system.svc.cluster.local:5001\"}");
  ASSERT_TRUE(r) << r.error().detail;
  const PeersConfig& p = r.value();
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.self().str(), "10.0.1.5:5001");  // advertise defaults to listen
  EXPECT_EQ(p.dns_name, "pullcache-peers.kube-system.svc.cluster.local");
  EXPECT_EQ(p.dns_port, 5001);
  EXPECT_EQ(p.refresh, std::chrono::seconds(5));
  EXPECT_EQ(p.fanout, 4);
  EXPECT_EQ(p.secret_file, "/etc/pullcache/peer-secret");
  EXPECT_EQ(p.connect_timeout, std::chrono::milliseconds(500));
}

TEST(PeersConfig, AddressesExpandEnvironmentVariables) {
  auto r = parse("{listen: \"${HOST_IP}:5001\", static: [\"${HOST_IP}:5001\", 10.0.1.6:5001]}",
                 {{"HOST_IP", "10.0.1.5"}});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r.value().listen.str(), "10.0.1.5:5001");
  ASSERT_EQ(r.value().static_members.size(), 2u);
  EXPECT_EQ(errorOf("{listen: \"${HOST_IP}:5001\", static: [10.0.1.6:5001]}"),
            "peers.listen: environment variable HOST_IP is not set");
  EXPECT_EQ(errorOf("{listen: \"${HOST_IP:5001\", static: [10.0.1.6:5001]}"),
            "peers.listen: unterminated ${ in '${HOST_IP:5001'");
  EXPECT_EQ(errorOf("{listen: \"${HOST-IP}:5001\", static: [10.0.1.6:5001]}", {{"HOST-IP", "x"}}),
            "peers.listen: '${HOST-IP}' is not an environment variable name");
}

TEST(PeersConfig, BadInputIsRefusedNamingTheKey) {
  EXPECT_EQ(errorOf("{static: [10.0.1.6:5001]}"),
            "peers.advertise: is required when peers.listen is a wildcard address "
            "(0.0.0.0:5001): the other nodes need this node's own address");
  EXPECT_TRUE(parse("{advertise: 10.0.1.5:5001, static: [10.0.1.6:5001]}"));
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001}"),
            "peers: set exactly one of peers.dns (a headless Service) and peers.static");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [10.0.1.6:5001], dns: \"a.b:5001\"}"),
            "peers: set exactly one of peers.dns (a headless Service) and peers.static");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, dns: peers.svc}"),
            "peers.dns: 'peers.svc' is not name:port");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, dns: \"peers.svc:0\"}"),
            "peers.dns: '0' is not a port number");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, dns: \"Bad_Name!:5001\"}"),
            "peers.dns: 'Bad_Name!' is not a DNS name");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [0.0.0.0:5001]}"),
            "peers.static[0]: is a wildcard address");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: 10.0.1.6:5001}"),
            "peers.static: must be a list of \"IP:port\"");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [10.0.1.6:5001], fanout: 0}"),
            "peers.fanout: must be between 1 and 64");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [10.0.1.6:5001], refresh: 10ms}"),
            "peers.refresh: must be at least 100ms");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [10.0.1.6:5001], secret_file: rel/path}"),
            "peers.secret_file: must be an absolute path");
  EXPECT_EQ(errorOf("{listen: 10.0.1.5:5001, static: [10.0.1.6:5001], colour: red}")
                .rfind("peers.colour: unknown key", 0),
            0u);
}

TEST(PeersConfig, ThePeerPortIsNotTheRegistryPort) {
  auto c = parseConfig(
      "upstreams: [{match: docker.io}]\npeers: {listen: 127.0.0.1:5000, static: "
      "[10.0.0.2:5001]}\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().detail, "peers.listen: must differ from listen and metrics_listen");
  auto off = parseConfig("upstreams: [{match: docker.io}]\n");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off.value().peers.enabled);
}

}  // namespace
}  // namespace pullcache::config
