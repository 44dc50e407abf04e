// The pullcache binary's command line: exit codes and messages a platform engineer sees.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

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

TEST(Cli, MetricsListenOverride) {
  TempDir dir;
  const int port = freePort();
  const int metrics = freePort();
  writeTextFile(dir.sub("c.yaml"), "listen: 127.0.0.1:" + std::to_string(port) +
                                       "\nmetrics_listen: 127.0.0.1:1\ncache: {dir: " +
                                       dir.sub("cache") + "}\nupstreams:\n  - match: docker.io\n");
  Process serve({pullcacheBinary(), "serve", "--config", dir.sub("c.yaml"), "--metrics-listen",
                 "127.0.0.1:" + std::to_string(metrics)},
                dir.sub("serve.log"));
  EXPECT_TRUE(waitFor(
      [&] {
        return httpGet("http://127.0.0.1:" + std::to_string(metrics) + "/healthz").status == 200;
      },
      std::chrono::seconds(10)))
      << serve.log();
  auto bad = runCommand({pullcacheBinary(), "serve", "--config", dir.sub("c.yaml"),
                         "--metrics-listen", "node-ip:9095"});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.output.find("--metrics-listen"), std::string::npos) << bad.output;
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

TEST(Cli, SigtermStopsCleanlyWithAClientStuckMidTransfer) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  auto image = writeOciLayout(dir.sub("layout"), "v1", {{16 << 20, 5}});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry.host(), "slow/reader", &log), 0) << log;
  auto remote = inspectRemote(registry.host(), "slow/reader", "v1");
  PullcacheServer pc(dir.sub("pc"), registry.host());
  pc.start();
  // A client that asks for a 16 MiB blob and never reads: its session blocks in sendfile.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(pc.port()));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /v2/slow/reader/blobs/" + remote.layer_digests[0] +
                    "?ns=" + registry.host() + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char first[1];
  ASSERT_EQ(::recv(fd, first, 1, 0), 1);  // the response has started
  EXPECT_EQ(pc.stop(), 0);                // exits on its own, status 0
  ::close(fd);
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
