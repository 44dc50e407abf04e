// ECR through pullcache against strict loopback fakes of the AWS side (tests/support/fake_aws.h)
// with a real docker-registry holding the images: each credential provider end to end, token
// refresh before expiry and after the registry refuses an expired one, S3 redirects without
// Authorization, expired pre-signed URLs, clear errors, and containerd pulling across a token
// expiry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/fake_aws.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kStaticKeyId = "AKIAPULLCACHETEST001";
constexpr const char* kStaticSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSTATICKEY";
constexpr const char* kRoleArn = "arn:aws:iam::123456789012:role/pullcache-irsa";

class EcrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    auto image = writeOciLayout(dir_.sub("layout"), "v1", {{1 << 20, 71}, {512 << 10, 72}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "team/app", &log), 0) << log;
    remote_ = inspectRemote(registry_->host(), "team/app", "v1");
  }

  void startAws(FakeAws::Options o = {}) {
    o.upstream_registry = registry_->host();
    aws_ = std::make_unique<FakeAws>(o);
  }

  // The daemon's environment: nothing from the machine's AWS set-up leaks in (empty = unset),
  // IMDS off unless a test points it at the fake, every AWS endpoint at a fake.
  std::vector<std::string> baseEnv() { return aws_->isolatedEnv(dir_.sub("home")); }

  // The environment provider's long-term keys, known to the fake ECR API.
  std::vector<std::string> staticKeyEnv() {
    aws_->addStaticKey(kStaticKeyId, kStaticSecret);
    auto env = baseEnv();
    env.push_back(std::string("AWS_ACCESS_KEY_ID=") + kStaticKeyId);
    env.push_back(std::string("AWS_SECRET_ACCESS_KEY=") + kStaticSecret);
    return env;
  }

  // Config for an upstream on the fake ECR registry host.
  PullcacheOptions ecrOptions(std::vector<std::string> env, const std::string& match = "") {
    PullcacheOptions o;
    o.env = std::move(env);
    o.upstreams_yaml = "upstreams:\n  - match: \"" +
                       (match.empty() ? aws_->registryHost() : match) +
                       "\"\n    url: " + aws_->registry().url() + "\n";
    return o;
  }

  std::unique_ptr<PullcacheServer> startPullcache(std::vector<std::string> env,
                                                  std::string extra_upstream_yaml = "") {
    PullcacheOptions o = ecrOptions(std::move(env));
    o.upstreams_yaml += extra_upstream_yaml;
    auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc"), aws_->registryHost(), o);
    pc->start();
    return pc;
  }

  std::string ns() const { return "?ns=" + aws_->registryHost(); }

  // A manifest and a layer through pullcache: both must arrive intact.
  void pullImage(PullcacheServer& pc) {
    auto m = httpGet(pc.url("/v2/team/app/manifests/v1" + ns()), {kAccept});
    ASSERT_EQ(m.status, 200) << m.body << pc.log();
    EXPECT_EQ(m.header("docker-content-digest"), remote_.manifest_digest);
    for (const auto& d : remote_.layer_digests) {
      auto b = httpGet(pc.url("/v2/team/app/blobs/" + d + ns()));
      ASSERT_EQ(b.status, 200) << b.body << pc.log();
      EXPECT_EQ("sha256:" + sha256Hex(b.body), d);
    }
  }

  void expectNoSecretsLogged(const PullcacheServer& pc, const std::vector<std::string>& secrets) {
    std::string log = pc.log();
    for (const auto& s : secrets) EXPECT_EQ(log.find(s), std::string::npos) << "logged: " << s;
    EXPECT_EQ(log.find("Basic "), std::string::npos);
    EXPECT_EQ(log.find("Signature="), std::string::npos);
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<FakeAws> aws_;
  RemoteImage remote_;
};

TEST_F(EcrTest, EnvironmentKeysSignTheTokenRequestAndLayersComeFromS3WithoutAuthorization) {
  startAws();
  auto env = staticKeyEnv();
  auto pc = startPullcache(env);
  pullImage(*pc);
  auto c = aws_->counters();
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  EXPECT_EQ(c.ecr_token_calls, 1) << "one token serves every request";
  EXPECT_EQ(c.credentials_used[kStaticKeyId], 1);
  EXPECT_EQ(c.s3_requests, static_cast<int>(remote_.layer_digests.size()))
      << "every layer GET is redirected to S3";
  EXPECT_EQ(c.s3_with_authorization, 0);
  auto metrics = scrapeMetrics(*pc);
  EXPECT_GT(metrics["pullcache_auth_token_expiry_timestamp_seconds{upstream=\"" +
                    aws_->registryHost() + "\"}"],
            0);
  expectNoSecretsLogged(*pc, {kStaticSecret});
  EXPECT_NE(pc->log().find("ECR token for region us-east-1 obtained with credentials from "
                           "environment (access key AKIAPULL...)"),
            std::string::npos)
      << pc->log();
}

TEST_F(EcrTest, WebIdentityAssumesTheRoleAndRereadsTheRotatedTokenFile) {
  FakeAws::Options o;
  o.credentials_ttl = std::chrono::seconds(12);  // refreshed at half: within the test
  o.token_ttl = std::chrono::seconds(8);
  startAws(o);
  aws_->setWebIdentity("eyJhbGciOiJSUzI1NiJ9.first", kRoleArn);
  writeTextFile(dir_.sub("token"), "eyJhbGciOiJSUzI1NiJ9.first\n");
  auto env = baseEnv();
  env.push_back(std::string("AWS_ROLE_ARN=") + kRoleArn);
  env.push_back("AWS_WEB_IDENTITY_TOKEN_FILE=" + dir_.sub("token"));
  env.push_back("AWS_ROLE_SESSION_NAME=node-a");
  auto pc = startPullcache(env);
  pullImage(*pc);
  EXPECT_EQ(aws_->counters().sts_calls, 1);
  // kubelet rotates the projected token; STS stops accepting the old one.
  writeTextFile(dir_.sub("token"), "eyJhbGciOiJSUzI1NiJ9.second\n");
  aws_->setWebIdentity("eyJhbGciOiJSUzI1NiJ9.second", kRoleArn);
  ASSERT_TRUE(waitFor([&] { return aws_->counters().sts_calls >= 2; }, std::chrono::seconds(20),
                      std::chrono::milliseconds(200)))
      << pc->log();
  ASSERT_TRUE(waitFor([&] { return aws_->counters().ecr_token_calls >= 3; },
                      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << pc->log();
  auto c = aws_->counters();
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  for (const auto& [key, n] : c.credentials_used) EXPECT_TRUE(key.starts_with("ASIA")) << key;
  EXPECT_NE(pc->log().find("web-identity (arn:aws:sts::123456789012:assumed-role/pullcache-irsa/"
                           "node-a)"),
            std::string::npos)
      << pc->log();
  expectNoSecretsLogged(*pc, {"eyJhbGciOiJSUzI1NiJ9"});
}

TEST_F(EcrTest, SharedCredentialsFileWithANamedProfile) {
  startAws();
  aws_->addStaticKey(kStaticKeyId, kStaticSecret);
  writeTextFile(dir_.sub("credentials"),
                "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\n"
                "aws_secret_access_key = nope\n\n# the one to use\n[ci]\n"
                "aws_access_key_id = " +
                    std::string(kStaticKeyId) + "\naws_secret_access_key = " + kStaticSecret +
                    "\n");
  auto env = baseEnv();
  env.push_back("AWS_SHARED_CREDENTIALS_FILE=" + dir_.sub("credentials"));
  env.push_back("AWS_PROFILE=ci");
  auto pc = startPullcache(env);
  pullImage(*pc);
  auto c = aws_->counters();
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  EXPECT_EQ(c.credentials_used[kStaticKeyId], 1);
  expectNoSecretsLogged(*pc, {kStaticSecret});
}

TEST_F(EcrTest, ContainerCredentialsOfEksPodIdentityWithATokenFile) {
  startAws();
  aws_->setContainerToken("pod-identity-token-1");
  writeTextFile(dir_.sub("pod-token"), "pod-identity-token-1");
  auto env = baseEnv();
  env.push_back("AWS_CONTAINER_CREDENTIALS_FULL_URI=" + aws_->container().url() +
                "/v1/credentials");
  env.push_back("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + dir_.sub("pod-token"));
  auto pc = startPullcache(env);
  pullImage(*pc);
  auto c = aws_->counters();
  EXPECT_EQ(c.container_calls, 1);
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  expectNoSecretsLogged(*pc, {"pod-identity-token-1"});
}

TEST_F(EcrTest, InstanceRoleFromImdsV2) {
  startAws();
  auto env = baseEnv();
  env.push_back("AWS_EC2_METADATA_DISABLED=false");
  env.push_back("AWS_EC2_METADATA_SERVICE_ENDPOINT=" + aws_->imds().url() + "/");
  auto pc = startPullcache(env);
  pullImage(*pc);
  auto c = aws_->counters();
  EXPECT_EQ(c.imds_credential_calls, 1);
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  EXPECT_NE(pc->log().find("imds (instance role pullcache-node-role)"), std::string::npos)
      << pc->log();
}

TEST_F(EcrTest, TokenIsRefreshedBeforeExpiryAndOnceWhenTheRegistryCallsItExpired) {
  FakeAws::Options o;
  o.token_ttl = std::chrono::seconds(6);
  startAws(o);
  auto env = staticKeyEnv();
  auto pc = startPullcache(env);
  // Fetched at start-up, then renewed in the background at about half its life, idle or not.
  ASSERT_TRUE(waitFor([&] { return aws_->counters().ecr_token_calls >= 3; },
                      std::chrono::seconds(15), std::chrono::milliseconds(100)))
      << pc->log();
  pullImage(*pc);
  EXPECT_EQ(aws_->counters().registry_expired_token, 0) << "an expired token was sent";

  // The registry refuses every token it issued ("has expired"): one refresh, one retry.
  aws_->expireAllTokens();
  const int before = aws_->counters().ecr_token_calls;
  auto t = httpGet(pc->url("/v2/team/app/tags/list" + ns()));
  EXPECT_EQ(t.status, 200) << t.body << pc->log();
  auto c = aws_->counters();
  EXPECT_EQ(c.registry_expired_token, 1);
  EXPECT_EQ(c.ecr_token_calls, before + 1);
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  auto metrics = scrapeMetrics(*pc);
  EXPECT_GE(metrics["pullcache_auth_token_refreshes_total{upstream=\"" + aws_->registryHost() +
                    "\",provider=\"ecr\",result=\"success\"}"],
            4);
}

TEST_F(EcrTest, ConcurrentMissesShareOneTokenFetch) {
  startAws();
  auto env = staticKeyEnv();
  // No start-up fetch: the upstream is a glob, so the first requests race for the token.
  auto o = ecrOptions(env, "*.dkr.ecr.us-east-1.amazonaws.com");
  auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc"), aws_->registryHost(), o);
  pc->start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      const auto& d = remote_.layer_digests[static_cast<std::size_t>(i) % 2];
      auto b = httpGet(pc->url("/v2/team/app/blobs/" + d + ns()));
      if (b.status == 200 && "sha256:" + sha256Hex(b.body) == d) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8) << pc->log();
  EXPECT_EQ(aws_->counters().ecr_token_calls, 1);
}

TEST_F(EcrTest, AnExpiredPresignedUrlIsReplacedByANewOneFromTheRegistry) {
  startAws();
  auto env = staticKeyEnv();
  auto pc = startPullcache(env);
  aws_->expireNextPresignedUrls(1);
  const auto& d = remote_.layer_digests[0];
  auto b = httpGet(pc->url("/v2/team/app/blobs/" + d + ns()));
  ASSERT_EQ(b.status, 200) << b.body << pc->log();
  EXPECT_EQ("sha256:" + sha256Hex(b.body), d);
  auto c = aws_->counters();
  EXPECT_EQ(c.s3_expired, 1);
  EXPECT_EQ(c.s3_requests, 2);
  EXPECT_EQ(c.s3_with_authorization, 0);
}

TEST_F(EcrTest, AccessDeniedIsA503WithOneClearLogLineAndNoSecret) {
  startAws();
  aws_->addStaticKey(kStaticKeyId, kStaticSecret);
  aws_->denyEcr(true);
  auto env = staticKeyEnv();
  auto pc = startPullcache(env);
  auto m = httpGet(pc->url("/v2/team/app/manifests/v1" + ns()), {kAccept});
  EXPECT_EQ(m.status, 503) << m.body;
  EXPECT_EQ(ociErrorCode(m.body), "UNAVAILABLE");
  std::string log = pc->log();
  EXPECT_NE(log.find("AccessDeniedException: User is not authorized to perform: "
                     "ecr:GetAuthorizationToken"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("with credentials from environment (access key AKIAPULL...)"),
            std::string::npos)
      << log;
  EXPECT_EQ(aws_->counters().registry_requests, 0) << "nothing reaches the registry untokened";
  expectNoSecretsLogged(*pc, {kStaticSecret});
  // The permission is granted: the next request works without a restart.
  aws_->denyEcr(false);
  m = httpGet(pc->url("/v2/team/app/manifests/v1" + ns()), {kAccept});
  EXPECT_EQ(m.status, 200) << m.body << pc->log();
}

TEST_F(EcrTest, NoCredentialsAnywhereNamesEveryProviderTried) {
  startAws();
  auto pc = startPullcache(baseEnv());
  auto m = httpGet(pc->url("/v2/team/app/manifests/v1" + ns()), {kAccept});
  EXPECT_EQ(m.status, 503) << m.body;
  EXPECT_NE(pc->log().find("no AWS credentials found; tried environment (not configured), "
                           "web-identity (not configured), shared-credentials (not configured), "
                           "container (not configured), imds (not configured)"),
            std::string::npos)
      << pc->log();
}

TEST_F(EcrTest, ContainerdPullsFromTheEcrHostNameAcrossATokenExpiry) {
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  FakeAws::Options o;
  o.token_ttl = std::chrono::seconds(5);
  startAws(o);
  auto env = staticKeyEnv();
  auto pc = startPullcache(env);
  const std::string hosts = dir_.sub("hosts");
  writeHostsToml(hosts, aws_->registryHost(), pc->url(""));
  Containerd node(dir_.sub("node"));
  node.start();
  auto first = node.pull(aws_->registryHost() + "/team/app:v1", hosts);
  ASSERT_EQ(first.code, 0) << first.output << pc->log();
  const int tokens_after_first = aws_->counters().ecr_token_calls;

  // A second image appears upstream; the first token has expired by the time it is pulled.
  auto second = writeOciLayout(dir_.sub("layout2"), "v2", {{768 << 10, 73}, {256 << 10, 74}});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(second, registry_->host(), "team/app", &log), 0) << log;
  std::this_thread::sleep_for(std::chrono::seconds(6));  // the scenario is "after expiry"
  auto again = node.pull(aws_->registryHost() + "/team/app:v2", hosts);
  ASSERT_EQ(again.code, 0) << again.output << pc->log();

  auto c = aws_->counters();
  EXPECT_GT(c.ecr_token_calls, tokens_after_first);
  EXPECT_EQ(c.ecr_rejected_calls, 0) << c.last_rejection;
  EXPECT_EQ(c.s3_with_authorization, 0);
  EXPECT_GE(c.s3_requests, 4);
  EXPECT_EQ(c.registry_expired_token, 0) << "pullcache renewed the token before it expired";
}

TEST_F(EcrTest, DoctorWalksEveryLinkWithoutPrintingASecret) {
  startAws();
  auto env = staticKeyEnv();
  auto o = ecrOptions({});  // config only: doctor gets the environment below
  PullcacheServer pc(dir_.sub("pc"), aws_->registryHost(), o);  // no daemon started
  auto r = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath(), "--image",
                       aws_->registryHost() + "/team/app:v1"},
                      std::chrono::seconds(60), env);
  EXPECT_EQ(r.code, 0) << r.output;
  for (const std::string& line :
       {std::string("ok    config"), std::string("ok    cache dir"),
        std::string("warn  daemon           not answering"),
        std::string("ok    aws credentials  environment: access key AKIAPULL..."),
        "ok    ecr token        " + aws_->registryHost() + ": valid until ",
        "ok    registry         " + aws_->registryHost() + " (" + aws_->registry().url() +
            "): /v2/ HTTP 200",
        "ok    layer download   " + aws_->registryHost() + "/team/app:v1: layer sha256:",
        "via " + aws_->s3().hostPort(), std::string("all checks passed")}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << "missing: " << line << "\n" << r.output;
  }
  EXPECT_EQ(r.output.find(kStaticSecret), std::string::npos);
  EXPECT_EQ(aws_->counters().s3_with_authorization, 0);
}

TEST_F(EcrTest, DoctorStopsAtTheFirstBrokenLink) {
  startAws();
  aws_->addStaticKey(kStaticKeyId, kStaticSecret);
  aws_->denyEcr(true);
  auto env = staticKeyEnv();
  auto o = ecrOptions({});  // config only: doctor gets the environment below
  PullcacheServer pc(dir_.sub("pc"), aws_->registryHost(), o);
  auto r = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath()},
                      std::chrono::seconds(60), env);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL  ecr token"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("AccessDeniedException"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("registry "), std::string::npos) << "checks stop at the first failure";
  // With no credentials anywhere, the first broken link is the credential chain itself.
  auto none = runCommand({pullcacheBinary(), "doctor", "--config", pc.configPath()},
                         std::chrono::seconds(60), baseEnv());
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.output.find("FAIL  aws credentials  " + aws_->registryHost() +
                             ": no AWS credentials found"),
            std::string::npos)
      << none.output;
  auto bad = runCommand({pullcacheBinary(), "doctor", "--config", dir_.sub("missing.yaml")});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.output.find("FAIL  config"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace pullcache::testing
