// The Helm chart's upstreams with the real helm binary: AWS endpoints, ordered sources and the
// source breaker reaching the daemon config, the EKS pull-through cache example values in
// deploy/ (checked by `pullcache check-config`), and bad source values refused at install time.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/base64.h"
#include "daemon/config/config.h"
#include "tests/integration/fixtures.h"
#include "tests/integration/helm_support.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {
namespace {

TEST(HelmChart, AwsEndpointsReachTheDaemonConfig) {
  auto objects = render(
      {"--set", "config.aws.ecrEndpoint=https://vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com",
       "--set", "config.aws.stsEndpoint=https://vpce-2.sts.eu-west-1.vpce.amazonaws.com", "--set",
       "config.defaultUpstream=", "--set-json",
       R"(config.upstreams=[{"match":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","auth":"ecr"}])"});
  std::string config_text = daemonConfig(objects);
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().aws.ecr_endpoint, "https://vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com");
  EXPECT_EQ(c.value().aws.sts_endpoint, "https://vpce-2.sts.eu-west-1.vpce.amazonaws.com");
  EXPECT_TRUE(c.value().aws.region.empty());
  // Defaults render no aws: section at all.
  EXPECT_EQ(daemonConfig(render()).find("aws:"), std::string::npos);
}

// deploy/eks-pull-through-cache-values.yaml, a private cluster with no egress: it lints strict,
// every public registry goes first to its ECR pull-through cache rule through the ecr.dkr VPC
// endpoint and then to the registry itself, the API calls go to the ecr.api endpoint, and the
// daemon accepts the rendered config (its parser and `pullcache check-config`).
TEST(HelmChart, EksPullThroughCacheValuesRenderAConfigTheDaemonAccepts) {
  const std::string values =
      std::string(PULLCACHE_SOURCE_DIR) + "/deploy/eks-pull-through-cache-values.yaml";
  auto lint = helm({"lint", "--strict", kChart, "-f", values});
  EXPECT_EQ(lint.code, 0) << lint.output;
  const std::string config_text = daemonConfig(render({"-f", values}));
  ASSERT_FALSE(config_text.empty());

  const std::string ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
  const std::string dkr_endpoint =
      "https://vpce-0123456789abcdef0-abcdefgh.dkr.ecr.eu-west-1.vpce.amazonaws.com";
  const std::pair<const char*, const char*> rules[] = {
      {"docker.io", "docker-hub"},
      {"ghcr.io", "github"},
      {"quay.io", "quay"},
      {"registry.k8s.io", "k8s"},
      {"public.ecr.aws", "ecr-public"},
  };
  // The rendered YAML, as the daemon reads it.
  auto config_yaml = YAML::Load(config_text);
  for (const auto& [registry, prefix] : rules) {
    auto upstream = findWhere(config_yaml["upstreams"], "match", registry);
    ASSERT_TRUE(upstream.IsMap()) << registry << "\n" << config_text;
    EXPECT_FALSE(upstream["url"]) << registry;
    const auto sources = upstream["sources"];
    ASSERT_EQ(sources.size(), 2u) << registry;
    EXPECT_EQ(sources[0]["registry"].as<std::string>(), ecr + "/" + prefix);
    EXPECT_EQ(sources[0]["url"].as<std::string>(), dkr_endpoint);
    EXPECT_EQ(sources[1]["registry"].as<std::string>(), registry);
    EXPECT_FALSE(sources[1]["url"]) << registry;
  }
  EXPECT_EQ(config_yaml["aws"]["ecr_endpoint"].as<std::string>(""),
            "https://vpce-0fedcba9876543210-hgfedcba.api.ecr.eu-west-1.vpce.amazonaws.com");

  // The daemon's own parser: the ECR sources get auth ecr from their host, the registries'
  // own stay anonymous.
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  for (const auto& [registry, prefix] : rules) {
    const config::UpstreamConfig* upstream = nullptr;
    for (const auto& u : c.value().upstreams) {
      if (u.match == registry) upstream = &u;
    }
    ASSERT_NE(upstream, nullptr) << registry;
    ASSERT_EQ(upstream->sources.size(), 2u) << registry;
    EXPECT_EQ(upstream->sources[0].registry, ecr + "/" + prefix);
    EXPECT_EQ(upstream->sources[0].url, dkr_endpoint);
    EXPECT_EQ(upstream->sources[0].auth, config::AuthMode::kEcr) << registry;
    EXPECT_EQ(upstream->sources[1].registry, registry);
    EXPECT_EQ(upstream->sources[1].auth, config::AuthMode::kAnonymous) << registry;
  }
  EXPECT_EQ(c.value().aws.region, "eu-west-1");

  TempDir dir;
  writeTextFile(dir.sub("config.yaml"), config_text);
  auto check = runCommand({pullcacheBinary(), "check-config", dir.sub("config.yaml")});
  EXPECT_EQ(check.code, 0) << check.output << "\n" << config_text;
}

TEST(HelmChart, SourceBreakerValuesReachTheDaemonConfig) {
  // The chart's defaults are the daemon's.
  auto defaults = config::parseConfig(daemonConfig(render()));
  ASSERT_TRUE(defaults) << defaults.error().detail;
  EXPECT_EQ(defaults.value().source_breaker, config::SourceBreakerConfig{});

  auto objects = render({"--set",
                         "config.sourceBreaker.failures=5,config.sourceBreaker.backoff=10s,"
                         "config.sourceBreaker.maxBackoff=2m"});
  const std::string config_text = daemonConfig(objects);
  auto breaker = YAML::Load(config_text)["source_breaker"];
  ASSERT_TRUE(breaker.IsMap()) << config_text;
  EXPECT_EQ(breaker["failures"].as<int>(), 5);
  EXPECT_EQ(breaker["backoff"].as<std::string>(), "10s");
  EXPECT_EQ(breaker["max_backoff"].as<std::string>(), "2m");
  auto c = config::parseConfig(config_text);
  ASSERT_TRUE(c) << c.error().detail << "\n" << config_text;
  EXPECT_EQ(c.value().source_breaker.failures, 5);
  EXPECT_EQ(c.value().source_breaker.backoff.count(), 10'000);
  EXPECT_EQ(c.value().source_breaker.max_backoff.count(), 120'000);
}

TEST(HelmChart, BadSourceValuesFailAtInstallTime) {
  const std::string ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
  std::string nine = R"("sources":[)";
  for (int i = 0; i < 9; ++i) nine += std::string(i ? "," : "") + R"({"registry":"docker.io"})";
  nine += "]";
  struct Case {
    std::string flag;  // --set or --set-json
    std::string value;
    std::string error;  // what helm's output must name
  };
  const Case cases[] = {
      // An entry with sources has no url or auth keys of its own.
      {"--set-json",
       dockerIoWith(R"("url":"https://mirror.example","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.url"},
      {"--set-json", dockerIoWith(R"("auth":"basic","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.auth"},
      {"--set-json",
       dockerIoWith(R"("docker_config":"/etc/d.json","sources":[{"registry":"docker.io"}])"),
       "config.upstreams.0.docker_config"},
      // ...and a literal host.
      {"--set-json",
       R"(config.upstreams=[{"match":"*.docker.io","sources":[{"registry":"docker.io"}]}])",
       "config.upstreams.0.match"},
      {"--set-json", dockerIoWith(R"("sources":[{"url":"https://mirror.example"}])"),
       "config.upstreams.0.sources.0: registry is required"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"Registry-1.Docker.io"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io/Library"}])"),
       "config.upstreams.0.sources.0.registry"},
      // An ECR pull-through cache rule's prefix: 2 to 30 characters of ECR's grammar.
      {"--set-json", dockerIoWith(R"("sources":[{"registry":")" + ecr + R"(/d"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json",
       dockerIoWith(R"("sources":[{"registry":")" + ecr + "/" + std::string(31, 'd') + R"("}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":")" + ecr + R"(/docker__hub"}])"),
       "config.upstreams.0.sources.0.registry"},
      {"--set-json",
       dockerIoWith(R"("sources":[{"registry":"docker.io","url":"https://mirror.example/v2"}])"),
       "config.upstreams.0.sources.0.url"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io","auth":"magic"}])"),
       "config.upstreams.0.sources.0.auth"},
      {"--set-json", dockerIoWith(R"("sources":[{"registry":"docker.io","colour":"red"}])"),
       "colour"},
      {"--set-json", dockerIoWith(R"("sources":[])"), "config.upstreams.0.sources"},
      {"--set-json", dockerIoWith(nine), "config.upstreams.0.sources"},
      {"--set", "config.sourceBreaker.failures=0", "config.sourceBreaker.failures"},
      {"--set", "config.sourceBreaker.backoff=soon", "config.sourceBreaker.backoff"},
      {"--set", "config.sourceBreaker.maxBackoff=300", "config.sourceBreaker.maxBackoff"},
      {"--set", "config.sourceBreaker.colour=red", "colour"},
  };
  for (const auto& [flag, value, error] : cases) {
    auto r = helm({"template", "x", kChart, flag, value});
    EXPECT_NE(r.code, 0) << value;
    EXPECT_NE(r.output.find(error), std::string::npos) << value << ": " << r.output;
  }
  // What the schema refuses is only that: the same keys, rightly placed, pass.
  for (const std::string& good : {
           dockerIoWith(
               R"("sources":[{"registry":")" + ecr +
               R"(/docker-hub","url":"https://vpce-1.dkr.ecr.eu-west-1.vpce.amazonaws.com"},)"
               R"({"registry":"mirror.internal:5000/hub/docker_io","auth":"basic",)"
               R"("username":"u","password_file":"/etc/pullcache/p"},)"
               R"({"registry":"docker.io","allow_private_redirects":false}])"),
           dockerIoWith(R"("sources":[{"registry":")" + ecr + "/" + std::string(30, 'd') +
                        R"("}])"),
       }) {
    auto r = helm({"template", "x", kChart, "--set-json", good});
    EXPECT_EQ(r.code, 0) << good << ": " << r.output;
  }
}

// Every rendered object, with every option on, against the Kubernetes API schemas
// (kubernetes-models, and the Prometheus Operator's for PodMonitor and PrometheusRule).

}  // namespace
}  // namespace pullcache::testing
