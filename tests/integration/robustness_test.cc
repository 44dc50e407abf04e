// Requests that once escaped the handler as exceptions, against the real daemon: each is
// answered, costs no connection slot, and leaves the daemon serving and stopping cleanly. Also
// the two answers the OCI distribution-spec conformance suite (pull workflow) expects for bad
// references.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/raw_http.h"

namespace pullcache::testing {
namespace {

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
    PullcacheOptions o;
    o.extra_yaml = "limits:\n  max_connections: 64\n";
    pc_ = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host(), o);
    pc_->start();
  }
  double metric(const std::string& series) {
    auto m = scrapeMetrics(*pc_);
    auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PullcacheServer> pc_;
};

// The status line and the JSON body of a raw answer.
std::pair<std::string, nlohmann::json> parseAnswer(const std::string& data) {
  auto eol = data.find("\r\n");
  auto body_at = data.find("\r\n\r\n");
  if (eol == std::string::npos || body_at == std::string::npos) return {data, nullptr};
  return {data.substr(0, eol), nlohmann::json::parse(data.substr(body_at + 4), nullptr, false)};
}

TEST_F(RobustnessTest, RepositoryNamesThatAreNotUtf8AreAnsweredAndFreeTheirConnection) {
  // More requests than max_connections: a leaked slot per request would lock everyone out.
  for (int i = 0; i < 100; ++i) {
    const std::string method = i % 2 == 0 ? "GET" : "HEAD";
    auto r =
        exchange(pc_->port(), method + " /v2/a\xff" + "b/manifests/latest?ns=" + registry_->host() +
                                  " HTTP/1.1\r\nHost: x\r\n" + "Connection: close\r\n\r\n");
    ASSERT_TRUE(r.data.starts_with("HTTP/1.1 400 ")) << "request " << i << ": " << r.data;
    if (method == "GET") {
      auto [status, body] = parseAnswer(r.data);
      ASSERT_FALSE(body.is_discarded()) << "the error body is valid JSON: " << r.data;
      EXPECT_EQ(body["errors"][0]["code"], "NAME_INVALID");
    }
  }
  // A name with bytes that are not UTF-8 under a valid-looking digest route, and in the tag.
  auto blob = exchange(pc_->port(), "GET /v2/\xc3\x28/blobs/sha256:" + std::string(64, 'a') +
                                        " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(blob.data.starts_with("HTTP/1.1 400 ")) << blob.data;
  auto tag = exchange(pc_->port(),
                      "GET /v2/a/manifests/v\xff"
                      "1 HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n");
  EXPECT_TRUE(tag.data.starts_with("HTTP/1.1 404 ")) << tag.data;
  EXPECT_TRUE(
      waitFor([&] { return metric("pullcache_http_connections") == 0; }, std::chrono::seconds(10)))
      << "connections still counted open: " << metric("pullcache_http_connections");
  EXPECT_EQ(metric("pullcache_internal_errors_total"), 0)
      << "answered as bad input, not caught as exceptions\n" << pc_->log();
  EXPECT_EQ(httpGet(pc_->url("/v2/")).status, 200);
  EXPECT_EQ(pc_->stop(), 0) << "SIGTERM ends the daemon cleanly\n" << pc_->log();
}

TEST_F(RobustnessTest, BadReferencesGetTheAnswersTheConformanceSuiteExpects) {
  const std::string ns = "?ns=" + registry_->host();
  for (const char* method : {"GET", "HEAD"}) {
    auto r = httpRequest(method, pc_->url("/v2/test/app/manifests/.INVALID_MANIFEST_NAME" + ns));
    EXPECT_EQ(r.status, 404) << method;
    if (std::string(method) == "GET") {
      EXPECT_EQ(ociErrorCode(r.body), "MANIFEST_UNKNOWN");
    }
  }
  auto bad_digest = httpRequest("GET", pc_->url("/v2/test/app/manifests/sha256:totallywrong" + ns));
  EXPECT_EQ(bad_digest.status, 400);
  EXPECT_EQ(ociErrorCode(bad_digest.body), "DIGEST_INVALID");
  // The reference is checked before the method.
  for (const char* method : {"PUT", "DELETE"}) {
    auto r = httpRequest(method, pc_->url("/v2/test/app/manifests/sha256:totallywrong" + ns));
    EXPECT_EQ(r.status, 400) << method;
    EXPECT_EQ(ociErrorCode(r.body), "DIGEST_INVALID") << method;
  }
  // A write to a well-formed reference is still refused as a method this mirror does not serve.
  auto put = httpRequest("PUT", pc_->url("/v2/test/app/manifests/v1" + ns));
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(ociErrorCode(put.body), "UNSUPPORTED");
  EXPECT_EQ(put.header("allow"), "GET, HEAD");
}

}  // namespace
}  // namespace pullcache::testing
