#include <gtest/gtest.h>

#include "common/base64.h"
#include "daemon/auth/challenge.h"
#include "daemon/auth/docker_config.h"
#include "daemon/auth/registry_auth.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::auth {
namespace {

TEST(Challenge, ParsesDockerHubBearer) {
  auto c = parseChallenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push")");
  ASSERT_TRUE(c);
  ASSERT_EQ(c.value().size(), 1u);
  EXPECT_EQ(c.value()[0].scheme, "bearer");
  EXPECT_EQ(c.value()[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c.value()[0].param("scope"), "repository:library/alpine:pull,push");
}

TEST(Challenge, SeveralSchemesAndEscapes) {
  auto c =
      parseChallenges(R"(Basic realm="a \"quoted\" realm", Bearer realm=https://x/t, service=s)");
  ASSERT_TRUE(c);
  ASSERT_EQ(c.value().size(), 2u);
  EXPECT_EQ(c.value()[0].param("realm"), "a \"quoted\" realm");
  EXPECT_EQ(c.value()[1].param("service"), "s");
  EXPECT_FALSE(parseChallenges(R"(Bearer realm="unterminated)"));
  EXPECT_FALSE(parseChallenges(""));
}

TEST(DockerConfig, FindsCredentialsByHostAndAlias) {
  testing::TempDir dir;
  std::string path = dir.sub("config.json");
  testing::writeTextFile(path, R"({"auths":{"https://index.docker.io/v1/":{"auth":")" +
                                   base64Encode("bob:s3cret") +
                                   R"("},"ghcr.io":{"username":"u","password":"p"}}})");
  auto hub = lookupDockerConfig(path, "docker.io");
  ASSERT_TRUE(hub && hub.value());
  EXPECT_EQ(hub.value()->username, "bob");
  EXPECT_EQ(hub.value()->password.reveal(), "s3cret");
  EXPECT_EQ(fmt::format("{}", hub.value()->password), "***");  // never printable
  EXPECT_EQ(lookupDockerConfig(path, "ghcr.io").value()->username, "u");
  EXPECT_FALSE(lookupDockerConfig(path, "quay.io").value());
  testing::writeTextFile(path, "not json");
  EXPECT_FALSE(lookupDockerConfig(path, "docker.io"));
}

class RegistryAuthTest : public ::testing::Test {
 protected:
  asio::io_context ioc_;
  SystemClock clock_;
  testing::FakeUpstreamClient http_{ioc_.get_executor()};
};

constexpr const char* kOwn = "reg.example.com";

TEST_F(RegistryAuthTest, AnonymousBearerTokenIsFetchedOnceAndCached) {
  const std::string realm =
      "https://auth.example.com/token?service=reg&scope=repository%3Alib%2Fapp%3Apull";
  http_.script(realm, {.status = 200, .body = R"({"token":"tok1","expires_in":300})"});
  RegistryAuth auth(
      {.mode = RegistryAuth::Mode::kAnonymous, .registry_host = kOwn, .own_host = kOwn}, http_,
      clock_);
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization(kOwn, "lib/app")).value(), "");
  auto header = testing::runCoro(
      ioc_,
      auth.onChallenge(
          kOwn, "lib/app",
          R"(Bearer realm="https://auth.example.com/token",service="reg",scope="repository:lib/app:pull")",
          ""));
  ASSERT_TRUE(header) << header.error().message();
  EXPECT_EQ(header.value(), "Bearer tok1");
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization(kOwn, "lib/app")).value(), "Bearer tok1");
  // Tokens belong to the host that asked for them.
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization("cdn.example.net", "lib/app")).value(), "");
  EXPECT_EQ(http_.calls(realm), 1);
  EXPECT_FALSE(http_.requests().at(0).headers.has("authorization"));  // anonymous
  EXPECT_TRUE(http_.unexpected().empty());
}

TEST_F(RegistryAuthTest, TokenFetchesAreCounted) {
  http_.script("https://auth.example.com/t?scope=repository%3Ax%3Apull",
               {.status = 200, .body = R"({"token":"t","expires_in":600})"});
  metrics::UpstreamMetrics m(kOwn, "anonymous");
  RegistryAuth auth({.mode = RegistryAuth::Mode::kAnonymous,
                     .registry_host = kOwn,
                     .own_host = kOwn,
                     .metrics = &m},
                    http_, clock_);
  ASSERT_TRUE(testing::runCoro(
      ioc_, auth.onChallenge(kOwn, "x", R"(Bearer realm="https://auth.example.com/t")", "")));
  EXPECT_EQ(m.token_refreshes[0].value(), 1u);
  EXPECT_EQ(
      m.requests[static_cast<std::size_t>(metrics::UpstreamKind::kToken)][metrics::codeSlot(200)]
          .value(),
      1u);
  EXPECT_NEAR(m.token_expiry.value(), static_cast<double>(clock_.unixSeconds() + 600), 2);
  // A realm that refuses: a failed refresh.
  http_.script("https://auth.example.com/t?scope=repository%3Ay%3Apull", {.status = 403});
  EXPECT_FALSE(testing::runCoro(
      ioc_, auth.onChallenge(kOwn, "y", R"(Bearer realm="https://auth.example.com/t")", "")));
  EXPECT_EQ(m.token_refreshes[1].value(), 1u);
}

TEST_F(RegistryAuthTest, CredentialsGoOnlyToTheOwnHostsRealm) {
  http_.script("https://auth.example.com/t?scope=repository%3Ax%3Apull",
               {.status = 200, .body = R"({"access_token":"t2"})"});
  http_.script("https://other.example.net/t?scope=repository%3Ax%3Apull",
               {.status = 200, .body = R"({"token":"t3"})"});
  RegistryAuth auth({.mode = RegistryAuth::Mode::kToken,
                     .registry_host = kOwn,
                     .own_host = kOwn,
                     .credentials = Credentials{"u", Secret("pw")}},
                    http_, clock_);
  // token mode: nothing preemptive.
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization(kOwn, "x")).value(), "");
  auto own = testing::runCoro(
      ioc_, auth.onChallenge(kOwn, "x", R"(Bearer realm="https://auth.example.com/t")", ""));
  ASSERT_TRUE(own);
  EXPECT_EQ(own.value(), "Bearer t2");
  EXPECT_EQ(std::string(http_.requests().at(0).headers.get("authorization")),
            "Basic " + base64Encode("u:pw"));
  // A host we were redirected to challenges too: its token is fetched without our credentials.
  auto other =
      testing::runCoro(ioc_, auth.onChallenge("regional.example.net", "x",
                                              R"(Bearer realm="https://other.example.net/t")", ""));
  ASSERT_TRUE(other);
  EXPECT_EQ(other.value(), "Bearer t3");
  EXPECT_FALSE(http_.requests().at(1).headers.has("authorization"));
  // Plain-http realms are refused (never contacted).
  auto plain = testing::runCoro(
      ioc_, auth.onChallenge(kOwn, "y", R"(Bearer realm="http://auth.example.com/t")", ""));
  ASSERT_FALSE(plain);
  EXPECT_EQ(http_.requests().size(), 2u);
}

TEST_F(RegistryAuthTest, RejectedCredentialsAreNotRetriedForever) {
  RegistryAuth auth({.mode = RegistryAuth::Mode::kBasic,
                     .registry_host = kOwn,
                     .own_host = kOwn,
                     .credentials = Credentials{"u", Secret("pw")}},
                    http_, clock_);
  std::string basic = testing::runCoro(ioc_, auth.authorization(kOwn, "x")).value();
  EXPECT_EQ(basic, "Basic " + base64Encode("u:pw"));
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization("s3.amazonaws.com", "x")).value(), "");
  auto again = testing::runCoro(ioc_, auth.onChallenge(kOwn, "x", R"(Basic realm="r")", basic));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kUnauthorized);
  // A Basic challenge from another host never gets our credentials.
  EXPECT_FALSE(
      testing::runCoro(ioc_, auth.onChallenge("evil.example.net", "x", R"(Basic realm="r")", "")));
  RegistryAuth anonymous({.mode = RegistryAuth::Mode::kAnonymous}, http_, clock_);
  EXPECT_FALSE(testing::runCoro(ioc_, anonymous.onChallenge(kOwn, "x", R"(Basic realm="r")", "")));
}

}  // namespace
}  // namespace pullcache::auth
