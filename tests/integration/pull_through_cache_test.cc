// Docker Hub images through an ECR pull-through cache rule, transparently: pods name
// docker.io/library/<image>, pullcache asks the ECR registry for docker-hub/library/<image>
// with an ECR token, and falls back to Docker Hub itself. The ECR side is the strict fake of
// tests/support/fake_aws.h with a pull-through cache rule whose upstream is a second real
// docker-registry playing Docker Hub; containerd is the client.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/integration/fixtures.h"
#include "tests/support/fake_aws.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kKeyId = "AKIAPULLCACHEPTC0001";
constexpr const char* kSecret = "pUllThr0ughCacheTestSecretKeyValue000001";
constexpr const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

class PullThroughCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    own_ = std::make_unique<RegistryServer>(dir_.sub("own"));  // the account's own repositories
    own_->start();
    hub_ = std::make_unique<RegistryServer>(dir_.sub("hub"));  // plays Docker Hub
    hub_->start();
    // Two official images sharing their base layer.
    std::string log;
    auto app = writeOciLayout(dir_.sub("app"), "v1", {{1 << 20, 901}, {256 << 10, 902}});
    ASSERT_EQ(pushWithSkopeo(app, hub_->host(), "library/app", &log), 0) << log;
    auto other = writeOciLayout(dir_.sub("other"), "v1", {{1 << 20, 901}, {384 << 10, 903}});
    ASSERT_EQ(pushWithSkopeo(other, hub_->host(), "library/other", &log), 0) << log;
    app_ = inspectRemote(hub_->host(), "library/app", "v1");
    other_ = inspectRemote(hub_->host(), "library/other", "v1");
    ASSERT_EQ(app_.layer_digests[0], other_.layer_digests[0]) << "the shared base layer";
    FakeAws::Options o;
    o.upstream_registry = own_->host();
    o.pull_through_rules = {{"docker-hub", hub_->host()}};
    aws_ = std::make_unique<FakeAws>(o);
    aws_->addStaticKey(kKeyId, kSecret);
  }

  std::string ecrSource(const std::string& prefix) const {
    return aws_->registryHost() + "/" + prefix;
  }

  // docker.io through the rule `prefix` first, then "Docker Hub" (hub_).
  PullcacheOptions options(const std::string& prefix = "docker-hub") {
    PullcacheOptions o;
    o.env = aws_->isolatedEnv(dir_.sub("home"));
    o.env.push_back(std::string("AWS_ACCESS_KEY_ID=") + kKeyId);
    o.env.push_back(std::string("AWS_SECRET_ACCESS_KEY=") + kSecret);
    o.upstreams_yaml =
        "upstreams:\n  - match: docker.io\n    sources:\n      - registry: " + ecrSource(prefix) +
        "\n        url: " + aws_->registry().url() +
        "\n      - registry: docker.io\n        url: http://" + hub_->host() +
        "\ndefault_upstream: docker.io\n"
        "source_breaker: {failures: 2, backoff: 30s}\n";
    return o;
  }

  std::unique_ptr<PullcacheServer> startPullcache(PullcacheOptions o) {
    auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc"), "docker.io", std::move(o));
    pc->start();
    return pc;
  }

  static double metric(const PullcacheServer& pc, const std::string& series) {
    auto all = scrapeMetrics(pc);
    auto it = all.find(series);
    return it == all.end() ? 0 : it->second;
  }
  std::string fallbackSeries(const std::string& source, const std::string& reason) const {
    return "pullcache_upstream_source_fallbacks_total{upstream=\"docker.io\",source=\"" + source +
           "\",reason=\"" + reason + "\"}";
  }
  // Requests pullcache itself sent to the hub (the fake's proxying is not counted there).
  static double sentTo(const PullcacheServer& pc, const std::string& upstream) {
    double n = 0;
    for (const auto& [series, value] : scrapeMetrics(pc))
      if (series.starts_with("pullcache_upstream_requests_total{upstream=\"" + upstream + "\""))
        n += value;
    return n;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> own_;
  std::unique_ptr<RegistryServer> hub_;
  std::unique_ptr<FakeAws> aws_;
  RemoteImage app_;
  RemoteImage other_;
};

TEST_F(PullThroughCacheTest, ContainerdPullsADockerHubImageThroughTheRuleWithAnEcrToken) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  auto pc = startPullcache(options());
  const std::string hosts = dir_.sub("hosts");
  writeHostsToml(hosts, "docker.io", pc->url(""));
  Containerd node(dir_.sub("node"));
  node.start();
  auto pull = node.pull("docker.io/library/app:v1", hosts);
  ASSERT_EQ(pull.code, 0) << pull.output << pc->log();

  auto c = aws_->counters();
  EXPECT_EQ(c.registry_no_token, 0) << "every request carried a live ECR token";
  EXPECT_EQ(c.registry_expired_token, 0);
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  EXPECT_GE(c.pull_through_requests, 1);
  ASSERT_FALSE(c.registry_paths.empty());
  for (const auto& path : c.registry_paths)
    EXPECT_TRUE(path == "/v2/" || path.starts_with("/v2/docker-hub/library/app/")) << path;
  EXPECT_EQ(c.s3_with_authorization, 0);
  EXPECT_GE(c.s3_requests, 2) << "layers came from the ECR side's S3";
  EXPECT_EQ(sentTo(*pc, "docker.io"), 0) << "Docker Hub itself was never asked";
  EXPECT_GT(sentTo(*pc, ecrSource("docker-hub")), 0);
}

TEST_F(PullThroughCacheTest, WithTheEcrFrontStoppedPullsGoToDockerHubAndSharedLayersAreHits) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  auto pc = startPullcache(options());
  const std::string hosts = dir_.sub("hosts");
  writeHostsToml(hosts, "docker.io", pc->url(""));
  Containerd node(dir_.sub("node"));
  node.start();
  ASSERT_EQ(node.pull("docker.io/library/app:v1", hosts).code, 0) << pc->log();

  aws_->stopRegistry();
  auto pull = node.pull("docker.io/library/other:v1", hosts);
  ASSERT_EQ(pull.code, 0) << pull.output << pc->log();
  EXPECT_GE(metric(*pc, fallbackSeries(ecrSource("docker-hub"), "unreachable")), 1);
  EXPECT_GT(sentTo(*pc, "docker.io"), 0);
  // The base layer came through ECR with app; asked for other's sake, it was a cache hit.
  EXPECT_EQ(hub_->countRequests("GET", "/v2/library/other/blobs/" + other_.layer_digests[0]), 0);
  EXPECT_EQ(hub_->countRequests("GET", "/v2/library/other/blobs/" + other_.layer_digests[1]), 1);
  // failures: 2 opened the breaker: later requests skip the ECR front at once.
  EXPECT_EQ(metric(*pc, "pullcache_upstream_source_breaker_open{upstream=\"docker.io\",source=\"" +
                            ecrSource("docker-hub") + "\"}"),
            1);
}

TEST_F(PullThroughCacheTest, WithBothSourcesDownCachedContentIsStillServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  PullcacheOptions o = options();
  o.tag_ttl = "1s";  // the tag is revalidated below, and both sources fail it
  auto pc = startPullcache(o);
  const std::string hosts = dir_.sub("hosts");
  writeHostsToml(hosts, "docker.io", pc->url(""));
  Containerd node(dir_.sub("node"));
  node.start();
  ASSERT_EQ(node.pull("docker.io/library/app:v1", hosts).code, 0) << pc->log();

  aws_->stopRegistry();
  hub_->stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // A new containerd namespace downloads everything again: all of it from the cache.
  auto again = node.pull("docker.io/library/app:v1", hosts, "second");
  ASSERT_EQ(again.code, 0) << again.output << pc->log();
  EXPECT_NE(pc->log().find("serving stale docker.io/library/app:v1"), std::string::npos)
      << pc->log();
}

TEST_F(PullThroughCacheTest, APrefixWithoutARuleIs404AtEcrAndTheNextSourceServes) {
  auto pc = startPullcache(options("quay"));  // no rule for "quay" in this account
  auto m = httpGet(pc->url("/v2/app/manifests/v1?ns=docker.io"), {kAccept});
  ASSERT_EQ(m.status, 200) << m.body << pc->log();
  EXPECT_EQ(m.header("docker-content-digest"), app_.manifest_digest);
  auto c = aws_->counters();
  EXPECT_NE(std::find(c.registry_paths.begin(), c.registry_paths.end(),
                      "/v2/quay/library/app/manifests/v1"),
            c.registry_paths.end())
      << "ECR was asked first, under the prefix, with library/ for a one-segment name";
  EXPECT_EQ(c.registry_no_token, 0);
  EXPECT_EQ(metric(*pc, fallbackSeries(ecrSource("quay"), "not_found")), 1);
  EXPECT_EQ(metric(*pc, "pullcache_upstream_source_breaker_open{upstream=\"docker.io\",source=\"" +
                            ecrSource("quay") + "\"}"),
            0)
      << "a 404 is a working registry";
  // A blob by digest is the same wherever it comes from: asked as docker.io, a hit from then on.
  const std::string d = app_.layer_digests[1];
  auto b = httpGet(pc->url("/v2/library/app/blobs/" + d + "?ns=docker.io"));
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(b.body), d);
}

TEST_F(PullThroughCacheTest, DoctorChecksEachSourceAndSaysWhichServesTheImage) {
  PullcacheServer pc(dir_.sub("pc"), "docker.io", options("quay"));  // config only
  std::vector<std::string> env = options().env;
  auto r = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath(), "--image",
                       "docker.io/library/app:v1"},
                      std::chrono::seconds(60), env);
  EXPECT_EQ(r.code, 0) << r.output;
  for (const std::string& line :
       {"ok    ecr token        docker.io source 1 (" + ecrSource("quay") + "): valid until ",
        "ok    registry         docker.io source 1 (" + ecrSource("quay") + ") (",
        std::string("ok    registry         docker.io source 2 (docker.io) (http://"),
        "warn  layer download   docker.io/library/app:v1 from source 1 " + ecrSource("quay") +
            ": manifest HTTP 404; the next source is asked",
        std::string("ok    layer download   docker.io/library/app:v1 from source 2 docker.io: "
                    "layer sha256:"),
        std::string("this source serves it"), std::string("all checks passed")}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << "missing: " << line << "\n" << r.output;
  }
  EXPECT_EQ(r.output.find(kSecret), std::string::npos);
  // No AWS credentials at all: the ECR source cannot work, but Docker Hub can, so a warning and
  // the checks go on (an upstream whose only source is ECR would stop here).
  auto no_creds = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath(), "--image",
                              "docker.io/library/app:v1"},
                             std::chrono::seconds(60), aws_->isolatedEnv(dir_.sub("home")));
  EXPECT_EQ(no_creds.code, 0) << no_creds.output;
  EXPECT_NE(no_creds.output.find("warn  aws credentials  docker.io source 1 (" + ecrSource("quay") +
                                 "): "),
            std::string::npos)
      << no_creds.output;
  EXPECT_NE(no_creds.output.find("this source serves it"), std::string::npos) << no_creds.output;
  // The ECR front down: a warning (the next source answers), not a failure.
  aws_->stopRegistry();
  auto down = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath()},
                         std::chrono::seconds(60), env);
  EXPECT_EQ(down.code, 0) << down.output;
  EXPECT_NE(down.output.find("requests go on to the next source"), std::string::npos)
      << down.output;
}

}  // namespace
}  // namespace pullcache::testing
