// The credential chain's pure parts (answers of STS, IMDS and the container endpoint, the shared
// credentials file, AWS error bodies, endpoint resolution), the chain's order and caching, and
// the ECR token refresh schedule. The providers' I/O is exercised end to end against the fakes in
// tests/integration/ecr_test.cc.
#include "daemon/auth/aws_credentials.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "daemon/auth/ecr_auth.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/manual_clock.h"
#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::auth {
namespace {

using std::chrono::seconds;
using testing::ManualClock;

TEST(Iso8601, ParsesTheFormsAwsSends) {
  auto t = parseIso8601Utc("2026-11-22T07:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1795330800);
  EXPECT_EQ(parseIso8601Utc("2026-11-22T07:00:00.123Z"), t);
  EXPECT_EQ(parseIso8601Utc("2026-11-22T07:00:00+00:00"), t);
  for (const char* bad : {"", "2026-11-22", "2026-11-22T07:00:00", "2026-13-22T07:00:00Z",
                          "2026-11-22T07:00:00+02:00", "2026-11-22T07:00:00.Z", "x026-11-22T07:00:00Z",
                          // Found by the fuzzer: years the clock cannot hold used to overflow.
                          "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z"})
    EXPECT_FALSE(parseIso8601Utc(bad)) << bad;
}

TEST(CredentialsFile, FindsTheProfileAndRefusesWhatItCannotUse) {
  const std::string text =
      "# comment\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key=s1\n\n"
      "[ci]\n  aws_access_key_id=AKIACI\n aws_secret_access_key = s2 \naws_session_token = tok\n"
      "[sso]\nsso_start_url = https://example.awsapps.com/start\n";
  auto d = parseCredentialsFile(text, "default");
  ASSERT_TRUE(d && d.value());
  EXPECT_EQ(d.value()->access_key_id, "AKIADEFAULT");
  EXPECT_EQ(d.value()->secret_access_key.reveal(), "s1");
  EXPECT_TRUE(d.value()->session_token.empty());
  auto ci = parseCredentialsFile(text, "ci");
  ASSERT_TRUE(ci && ci.value());
  EXPECT_EQ(ci.value()->secret_access_key.reveal(), "s2");
  EXPECT_EQ(ci.value()->session_token.reveal(), "tok");
  auto missing = parseCredentialsFile(text, "prod");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing.value());
  auto sso = parseCredentialsFile(text, "sso");
  ASSERT_FALSE(sso);
  EXPECT_NE(sso.error().detail.find("not supported"), std::string::npos);
  EXPECT_FALSE(parseCredentialsFile("[broken\n", "default"));
}

TEST(StsAnswer, AssumeRoleWithWebIdentity) {
  const std::string xml =
      "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
      "<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>"
      "<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>a&amp;b</SecretAccessKey>"
      "<SessionToken>tok</SessionToken><Expiration>2026-11-22T08:00:00Z</Expiration>"
      "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
  auto c = parseAssumeRoleWithWebIdentityResponse(xml);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c.value().credentials.access_key_id, "ASIAX");
  EXPECT_EQ(c.value().credentials.secret_access_key.reveal(), "a&b");
  EXPECT_EQ(c.value().credentials.session_token.reveal(), "tok");
  EXPECT_EQ(c.value().identity, "arn:aws:sts::1:assumed-role/r/s");
  EXPECT_EQ(c.value().expiration, parseIso8601Utc("2026-11-22T08:00:00Z"));
  EXPECT_FALSE(parseAssumeRoleWithWebIdentityResponse("<ErrorResponse/>"));
  EXPECT_FALSE(parseAssumeRoleWithWebIdentityResponse(
      "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>B</SecretAccessKey>"
      "<SessionToken>C</SessionToken><Expiration>tomorrow</Expiration></Credentials>"));
}

TEST(CredentialsJson, ContainerAndImdsAnswers) {
  auto c = parseCredentialsJson(
      R"({"AccessKeyId":"ASIAC","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-22T08:00:00Z","RoleArn":"arn:aws:iam::1:role/x"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().identity, "arn:aws:iam::1:role/x");
  EXPECT_TRUE(c.value().expiration);
  auto imds = parseCredentialsJson(
      R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAI","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-22T08:00:00Z"})");
  ASSERT_TRUE(imds);
  auto failed = parseCredentialsJson(R"({"Code":"AssumeRoleUnauthorizedAccess","Message":"no"})");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().detail.find("AssumeRoleUnauthorizedAccess"), std::string::npos);
  EXPECT_FALSE(parseCredentialsJson(R"({"AccessKeyId":"A"})"));
  EXPECT_FALSE(parseCredentialsJson("not json"));
  EXPECT_FALSE(parseCredentialsJson(
      R"({"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"})"));
}

TEST(AwsErrors, JsonAndXmlBodies) {
  auto j = parseAwsJsonError(
      R"({"__type":"com.amazonaws.ecr#AccessDeniedException","message":"User x is not authorized"})",
      "");
  EXPECT_EQ(j.code, "AccessDeniedException");
  EXPECT_EQ(j.message, "User x is not authorized");
  auto header_only = parseAwsJsonError("", "UnrecognizedClientException:http://internal");
  EXPECT_EQ(header_only.code, "UnrecognizedClientException");
  auto x = parseAwsXmlError(
      "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad &lt;jwt&gt;</Message>"
      "</Error></ErrorResponse>");
  EXPECT_EQ(x.code, "InvalidIdentityToken");
  EXPECT_EQ(x.message, "bad <jwt>");
}

TEST(Endpoints, ConfigThenServiceVariableThenGlobalVariableThenRegional) {
  std::map<std::string, std::string> vars;
  EnvLookup env = [&](const std::string& n) { return vars.contains(n) ? vars[n] : std::string(); };
  EXPECT_EQ(resolveEndpoint("", env, "ECR"), "");
  vars["AWS_ENDPOINT_URL"] = "https://all.example/";
  EXPECT_EQ(resolveEndpoint("", env, "ECR"), "https://all.example");
  vars["AWS_ENDPOINT_URL_ECR"] = "https://vpce-1.api.ecr.us-east-1.vpce.amazonaws.com";
  EXPECT_EQ(resolveEndpoint("", env, "ECR"), "https://vpce-1.api.ecr.us-east-1.vpce.amazonaws.com");
  EXPECT_EQ(resolveEndpoint("", env, "STS"), "https://all.example");
  EXPECT_EQ(resolveEndpoint("https://from-config", env, "ECR"), "https://from-config");
  EXPECT_EQ(defaultStsEndpoint("eu-west-1"), "https://sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(defaultStsEndpoint("cn-north-1"), "https://sts.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(defaultStsEndpoint(""), "https://sts.amazonaws.com");
}

// A provider scripted by the test.
class ScriptedProvider final : public CredentialProvider {
 public:
  ScriptedProvider(std::string name, bool configured, const Clock& clock, seconds lifetime)
      : name_(std::move(name)), configured_(configured), clock_(clock), lifetime_(lifetime) {}
  [[nodiscard]] std::string_view name() const noexcept override { return name_; }
  [[nodiscard]] bool configured() const override { return configured_; }
  Task<Result<TimedCredentials>> fetch() override {
    ++fetches;
    if (fail) co_return fail_error();
    TimedCredentials c;
    c.credentials.access_key_id = name_ + std::to_string(fetches);
    c.credentials.secret_access_key = Secret("s");
    c.provider = name_;
    if (lifetime_.count() > 0) c.expiration = clock_.now() + lifetime_;
    co_return c;
  }
  static Error fail_error() { return Error{Errc::kUpstreamUnavailable, "scripted failure"}; }
  int fetches = 0;
  bool fail = false;

 private:
  std::string name_;
  bool configured_;
  const Clock& clock_;
  seconds lifetime_;
};

TEST(CredentialChain, FirstConfiguredProviderAnswersAndItsFailureIsNotPapered) {
  ManualClock clock;
  asio::io_context ioc;
  std::vector<std::unique_ptr<CredentialProvider>> providers;
  auto* env = new ScriptedProvider("environment", false, clock, seconds(0));
  auto* web = new ScriptedProvider("web-identity", true, clock, seconds(3600));
  auto* imds = new ScriptedProvider("imds", true, clock, seconds(3600));
  providers.emplace_back(env);
  providers.emplace_back(web);
  providers.emplace_back(imds);
  AwsCredentialChain chain(std::move(providers), clock);
  EXPECT_EQ(chain.configuredProviders(), (std::vector<std::string>{"web-identity", "imds"}));
  auto c = testing::runCoro(ioc, chain.get());
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().provider, "web-identity");
  // Cached while fresh: no second fetch.
  clock.advance(std::chrono::minutes(50));
  EXPECT_TRUE(testing::runCoro(ioc, chain.get()));
  EXPECT_EQ(web->fetches, 1);
  // Within 5 minutes of expiry: refreshed.
  clock.advance(std::chrono::minutes(6));
  auto refreshed = testing::runCoro(ioc, chain.get());
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(web->fetches, 2);
  EXPECT_EQ(refreshed.value().credentials.access_key_id, "web-identity2");
  // A failed refresh keeps the still-valid credentials...
  web->fail = true;
  clock.advance(std::chrono::minutes(56));
  auto kept = testing::runCoro(ioc, chain.get());
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept.value().credentials.access_key_id, "web-identity2");
  // ...until they expire; then the error, and never the next provider (IMDS).
  clock.advance(std::chrono::minutes(5));
  auto failed = testing::runCoro(ioc, chain.get());
  ASSERT_FALSE(failed);
  EXPECT_EQ(imds->fetches, 0);
}

TEST(CredentialChain, ShortLivedCredentialsAreRefreshedAtHalfTheirLife) {
  ManualClock clock;
  asio::io_context ioc;
  std::vector<std::unique_ptr<CredentialProvider>> providers;
  auto* p = new ScriptedProvider("container", true, clock, seconds(120));
  providers.emplace_back(p);
  AwsCredentialChain chain(std::move(providers), clock);
  EXPECT_TRUE(testing::runCoro(ioc, chain.get()));
  clock.advance(seconds(59));
  EXPECT_TRUE(testing::runCoro(ioc, chain.get()));
  EXPECT_EQ(p->fetches, 1);
  clock.advance(seconds(2));
  EXPECT_TRUE(testing::runCoro(ioc, chain.get()));
  EXPECT_EQ(p->fetches, 2);
}

TEST(CredentialChain, NothingConfiguredNamesEveryProvider) {
  ManualClock clock;
  asio::io_context ioc;
  std::vector<std::unique_ptr<CredentialProvider>> providers;
  providers.emplace_back(new ScriptedProvider("environment", false, clock, seconds(0)));
  providers.emplace_back(new ScriptedProvider("imds", false, clock, seconds(0)));
  AwsCredentialChain chain(std::move(providers), clock);
  auto r = testing::runCoro(ioc, chain.get());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().detail,
            "no AWS credentials found; tried environment (not configured), imds (not configured)");
}

// As the AWS SDKs: a shared-credentials file that does not exist is skipped (the chain goes on
// to IMDS), while one that exists and lacks the named profile is this provider's failure.
TEST(CredentialChain, AMissingSharedCredentialsFileIsSkippedAsTheSdksDo) {
  ManualClock clock;
  asio::io_context ioc;
  testing::FakeUpstreamClient http(ioc.get_executor());
  testing::TempDir dir;
  std::map<std::string, std::string> vars = {
      {"AWS_SHARED_CREDENTIALS_FILE", dir.sub("no-such-file")}};
  ChainOptions o;
  o.env = [&vars](const std::string& k) {
    auto it = vars.find(k);
    return it == vars.end() ? std::string() : it->second;
  };
  o.home = dir.sub("home");
  AwsCredentialChain missing(defaultProviders(o, http, clock), clock);
  EXPECT_EQ(missing.configuredProviders(), (std::vector<std::string>{"imds"}));
  std::ofstream(dir.sub("credentials")) << "[other]\naws_access_key_id = AKIAEXAMPLE\n"
                                        << "aws_secret_access_key = s\n";
  vars["AWS_SHARED_CREDENTIALS_FILE"] = dir.sub("credentials");
  vars["AWS_PROFILE"] = "team";
  AwsCredentialChain present(defaultProviders(o, http, clock), clock);
  EXPECT_EQ(present.configuredProviders(),
            (std::vector<std::string>{"shared-credentials", "imds"}));
  auto r = testing::runCoro(ioc, present.get());
  ASSERT_FALSE(r) << "a named profile missing from an existing file is not papered over";
  EXPECT_NE(r.error().detail.find("profile 'team' is not in"), std::string::npos)
      << r.error().detail;
}

TEST(EcrRefresh, HalfTheRemainingLifetimeWithJitterAndBackoff) {
  using namespace std::chrono;
  const system_clock::time_point now(seconds(1'000'000));
  EXPECT_EQ(ecrRefreshDelay(now, now + hours(12), 0.0), hours(6));
  EXPECT_EQ(ecrRefreshDelay(now, now + hours(12), 1.0), hours(6) - minutes(72));
  auto mid = ecrRefreshDelay(now, now + hours(12), 0.5);
  EXPECT_LT(mid, hours(6));
  EXPECT_GT(mid, hours(6) - minutes(72));
  EXPECT_EQ(ecrRefreshDelay(now, now + seconds(1), 0.0), seconds(1));  // at least a second
  EXPECT_EQ(ecrRefreshDelay(now, now - seconds(5), 0.0), seconds(1));
  EXPECT_EQ(ecrRetryDelay(0), milliseconds(0));
  EXPECT_EQ(ecrRetryDelay(1), seconds(1));
  EXPECT_EQ(ecrRetryDelay(2), seconds(2));
  EXPECT_EQ(ecrRetryDelay(6), seconds(32));
  EXPECT_EQ(ecrRetryDelay(7), seconds(60));
  EXPECT_EQ(ecrRetryDelay(100), seconds(60));
}

}  // namespace
}  // namespace pullcache::auth
