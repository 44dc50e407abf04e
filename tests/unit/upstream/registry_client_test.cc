#include "daemon/upstream/registry_client.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "daemon/http/redirect.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/run_coro.h"

namespace pullcache::upstream {
namespace {

using testing::ScriptedResponse;

TEST(Redirect, ResolvesAndRestrictsSchemes) {
  EXPECT_EQ(http::resolveRedirect("https://a.example/v2/x/blobs/d", "/v2/y").value(),
            "https://a.example/v2/y");
  EXPECT_EQ(http::resolveRedirect("https://a.example/v2/x", "https://s3.example/b?sig=1").value(),
            "https://s3.example/b?sig=1");
  EXPECT_FALSE(http::resolveRedirect("https://a.example/v2/x", "file:///etc/passwd"));
  EXPECT_FALSE(http::resolveRedirect("https://a.example/v2/x", "gopher://a.example/"));
  EXPECT_EQ(http::urlHost("https://User@A.Example:8443/v2/?x"), "a.example:8443");
  EXPECT_EQ(http::urlHost("ftp://a"), "");
}

class RegistryClientTest : public ::testing::Test {
 protected:
  RegistryClientTest() {
    config::Config cfg;
    config::UpstreamConfig u;
    u.match = "reg.test";
    u.url = "https://reg.test";
    u.auth = config::AuthMode::kBasic;
    u.username = "u";
    u.password = Secret("pw");
    cfg.upstreams.push_back(u);
    router_ = std::make_unique<UpstreamRouter>(cfg, http_, clock_);
  }

  Result<http::Response> get(const std::string& path) {
    return testing::runCoro(ioc_, client_.request(router_->resolve("reg.test").value(), "GET",
                                                  "lib/app", path, Headers(), 1 << 20));
  }

  asio::io_context ioc_;
  SystemClock clock_;
  testing::FakeUpstreamClient http_{ioc_.get_executor()};
  RegistryClient client_{http_, std::chrono::seconds(5)};
  std::unique_ptr<UpstreamRouter> router_;
  const std::string basic_ = "Basic " + base64Encode("u:pw");
};

TEST_F(RegistryClientTest, RedirectToAnotherHostNeverCarriesOurAuthorization) {
  ScriptedResponse redirect{.status = 307};
  redirect.headers.add("Location", "https://bucket.s3.example.com/blob?X-Amz-Signature=abc");
  http_.script("https://reg.test/v2/lib/app/blobs/sha256:1", redirect);
  http_.script("https://bucket.s3.example.com/blob?X-Amz-Signature=abc", {.body = "layer bytes"});
  auto r = get("blobs/sha256:1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().status, 200);
  EXPECT_EQ(r.value().body, "layer bytes");
  auto reqs = http_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(std::string(reqs[0].headers.get("authorization")), basic_);
  EXPECT_FALSE(reqs[1].headers.has("authorization"));
  EXPECT_FALSE(reqs[0].follow_redirects);  // we follow them, per host
}

TEST_F(RegistryClientTest, ARegionalRegistryGetsATokenFromItsOwnChallenge) {
  // registry.k8s.io style: the mirror redirects to a regional registry that wants a Bearer token.
  const std::string regional = "https://eu.pkg.test/v2/proj/lib/app/manifests/v1";
  ScriptedResponse redirect{.status = 307};
  redirect.headers.add("Location", regional);
  http_.script("https://reg.test/v2/lib/app/manifests/v1", redirect);
  http_.script(
      regional,
      {.body = "{manifest}",
       .require_authorization = "Bearer regional-token",
       .challenge = R"(Bearer realm="https://eu.pkg.test/v2/token",service="eu.pkg.test")"});
  http_.script(
      "https://eu.pkg.test/v2/token?service=eu.pkg.test&scope=repository%3Alib%2Fapp%3Apull",
      {.body = R"({"token":"regional-token","expires_in":3600})"});
  auto r = get("manifests/v1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().status, 200);
  EXPECT_EQ(r.value().body, "{manifest}");
  auto reqs = http_.requests();
  ASSERT_EQ(reqs.size(), 4u);  // reg (307), regional (401), token, regional (200)
  EXPECT_FALSE(reqs[1].headers.has("authorization"));
  EXPECT_FALSE(reqs[2].headers.has("authorization"));  // our Basic credentials stay home
  EXPECT_EQ(std::string(reqs[3].headers.get("authorization")), "Bearer regional-token");
  // The next request reuses the regional token: no challenge, no token fetch.
  auto again = get("manifests/v1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().status, 200);
  EXPECT_EQ(http_.requests().size(), 6u);
  EXPECT_TRUE(http_.unexpected().empty());
}

TEST_F(RegistryClientTest, RedirectLoopsEnd) {
  ScriptedResponse loop{.status = 302};
  loop.headers.add("Location", "/v2/lib/app/blobs/sha256:2");
  http_.script("https://reg.test/v2/lib/app/blobs/sha256:2", loop);
  auto r = get("blobs/sha256:2");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamBadResponse);
  EXPECT_EQ(http_.calls("https://reg.test/v2/lib/app/blobs/sha256:2"), http::kMaxRedirects + 1);
}

TEST_F(RegistryClientTest, RejectedCredentialsAreTriedOnce) {
  http_.script(
      "https://reg.test/v2/lib/app/manifests/v1",
      {.body = "x", .require_authorization = "Basic nope", .challenge = R"(Basic realm="reg")"});
  auto r = get("manifests/v1");
  // Basic credentials were sent preemptively and refused: no second round with the same ones.
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(http_.calls("https://reg.test/v2/lib/app/manifests/v1"), 1);
}

}  // namespace
}  // namespace pullcache::upstream
