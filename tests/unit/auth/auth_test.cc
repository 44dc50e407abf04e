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

TEST_F(RegistryAuthTest, AnonymousBearerTokenIsFetchedOnceAndCached) {
  http_.script("https://auth.example.com/token?service=reg&scope=repository%3Alib%2Fapp%3Apull",
               {.status = 200, .body = R"({"token":"tok1","expires_in":300})"});
  RegistryAuth auth({.mode = RegistryAuth::Mode::kAnonymous, .registry_host = "reg.example.com"},
                    http_, clock_);
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization("lib/app")).value(), "");
  auto header = testing::runCoro(
      ioc_,
      auth.onChallenge(
          "lib/app",
          R"(Bearer realm="https://auth.example.com/token",service="reg",scope="repository:lib/app:pull")",
          ""));
  ASSERT_TRUE(header) << header.error().message();
  EXPECT_EQ(header.value(), "Bearer tok1");
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization("lib/app")).value(), "Bearer tok1");
  EXPECT_EQ(
      http_.calls("https://auth.example.com/token?service=reg&scope=repository%3Alib%2Fapp%3Apull"),
      1);
  // Anonymous: no credentials were sent to the realm.
  EXPECT_FALSE(http_.requests().at(0).headers.has("authorization"));
  EXPECT_TRUE(http_.unexpected().empty());
}

TEST_F(RegistryAuthTest, BasicCredentialsGoToTheRealmAndPlainHttpRealmsAreRefused) {
  http_.script("https://auth.example.com/t?scope=repository%3Ax%3Apull",
               {.status = 200, .body = R"({"access_token":"t2"})"});
  RegistryAuth auth({.mode = RegistryAuth::Mode::kToken,
                     .registry_host = "r",
                     .credentials = Credentials{"u", Secret("pw")}},
                    http_, clock_);
  EXPECT_EQ(testing::runCoro(ioc_, auth.authorization("x")).value(),
            "");  // token mode: nothing preemptive
  auto header = testing::runCoro(
      ioc_, auth.onChallenge("x", R"(Bearer realm="https://auth.example.com/t")", ""));
  ASSERT_TRUE(header);
  EXPECT_EQ(header.value(), "Bearer t2");
  EXPECT_EQ(std::string(http_.requests().at(0).headers.get("authorization")),
            "Basic " + base64Encode("u:pw"));
  auto plain = testing::runCoro(
      ioc_, auth.onChallenge("y", R"(Bearer realm="http://auth.example.com/t")", ""));
  ASSERT_FALSE(plain);
  EXPECT_EQ(http_.requests().size(), 1u);  // never contacted
}

TEST_F(RegistryAuthTest, RejectedCredentialsAreNotRetriedForever) {
  RegistryAuth auth({.mode = RegistryAuth::Mode::kBasic,
                     .registry_host = "r",
                     .credentials = Credentials{"u", Secret("pw")}},
                    http_, clock_);
  std::string basic = testing::runCoro(ioc_, auth.authorization("x")).value();
  EXPECT_EQ(basic, "Basic " + base64Encode("u:pw"));
  auto again = testing::runCoro(ioc_, auth.onChallenge("x", R"(Basic realm="r")", basic));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kUnauthorized);
  RegistryAuth anonymous({.mode = RegistryAuth::Mode::kAnonymous}, http_, clock_);
  EXPECT_FALSE(testing::runCoro(ioc_, anonymous.onChallenge("x", R"(Basic realm="r")", "")));
}

}  // namespace
}  // namespace pullcache::auth
