// The pullcache binary's command line: exit codes and messages a platform engineer sees.
#include <gtest/gtest.h>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"

namespace pullcache::testing {
namespace {

TEST(Cli, VersionAndUsage) {
  auto v = runCommand({pullcacheBinary(), "version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.output.find("pullcache "), std::string::npos);
  auto usage = runCommand({pullcacheBinary(), "frobnicate"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.output.find("usage:"), std::string::npos);
}

TEST(Cli, CheckConfigNamesTheBadKey) {
  TempDir dir;
  writeTextFile(dir.sub("good.yaml"), "upstreams:\n  - match: docker.io\n");
  auto good = runCommand({pullcacheBinary(), "check-config", dir.sub("good.yaml")});
  EXPECT_EQ(good.code, 0) << good.output;
  writeTextFile(dir.sub("bad.yaml"),
                "upstreams:\n  - match: docker.io\ncache:\n  max_bytes: lots\n");
  auto bad = runCommand({pullcacheBinary(), "check-config", dir.sub("bad.yaml")});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.output.find("cache.max_bytes"), std::string::npos) << bad.output;
  // serve refuses the same file before touching anything.
  auto serve = runCommand({pullcacheBinary(), "serve", "--config", dir.sub("bad.yaml")});
  EXPECT_EQ(serve.code, 3);
}

TEST(Cli, SecretsNeverReachTheLog) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  PullcacheOptions options;
  PullcacheServer pc(dir.sub("pc"), registry.host(), options);
  // Same upstream, with basic credentials this time (docker-registry ignores them).
  std::string yaml = readTextFile(pc.configPath());
  auto pos = yaml.find("    url: http://");
  yaml.insert(yaml.find('\n', pos) + 1,
              "    auth: basic\n    username: robot\n    password: s3cr3t-value\n");
  writeTextFile(pc.configPath(), yaml);
  pc.start();
  auto r = httpGet(pc.url("/v2/some/repo/manifests/latest?ns=" + registry.host()));
  EXPECT_EQ(r.status, 404);
  pc.stop();
  EXPECT_EQ(pc.log().find("s3cr3t-value"), std::string::npos);
  EXPECT_NE(pc.log().find("status=404"), std::string::npos);
}

TEST(Cli, HealthAndReadiness) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  PullcacheServer pc(dir.sub("pc"), registry.host());
  pc.start();
  EXPECT_EQ(httpGet(pc.healthUrl("/healthz")).status, 200);
  EXPECT_EQ(httpGet(pc.healthUrl("/readyz")).status, 200);
  EXPECT_EQ(httpGet(pc.healthUrl("/nope")).status, 404);
  // The registry port is not the health port and vice versa.
  EXPECT_EQ(httpGet(pc.url("/healthz")).status, 404);
}

}  // namespace
}  // namespace pullcache::testing
