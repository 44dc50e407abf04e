// SSRF scope: an upstream on a public address cannot send pullcache to loopback, link-local or
// private addresses through a redirect or a token realm (checked on the resolved address when
// connecting), unless its config entry says allow_private_redirects. The "public" upstream is a
// server on 198.51.100.7 (TEST-NET-2) added to the loopback interface for the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"
#include "tests/support/mini_http_server.h"

namespace pullcache::testing {
namespace {

constexpr const char* kPublicIp = "198.51.100.7";

class RedirectScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "adding an address to lo needs root";
    auto add = runCommand({"ip", "addr", "add", std::string(kPublicIp) + "/32", "dev", "lo"});
    if (add.code != 0 && add.output.find("File exists") == std::string::npos)
      GTEST_SKIP() << "cannot add an address to lo here: " << add.output;
    added_ = true;
    blob_ = std::string(200 * 1024, 'x') + "pullcache";
    digest_ = "sha256:" + sha256Hex(blob_);
    // The private target: what a hostile registry would like pullcache to reach.
    inner_ = std::make_unique<MiniHttpServer>([this](const MiniRequest& req) {
      ++inner_hits_;
      MiniResponse r;
      if (req.path == "/token") {
        r.body = R"({"token":"t","expires_in":300})";
      } else {
        r.body = blob_;
      }
      return r;
    });
    upstream_ = std::make_unique<MiniHttpServer>(
        [this](const MiniRequest& req) {
          MiniResponse r;
          if (req.path.find("/blobs/") != std::string::npos) {
            r.status = 307;
            r.headers = {{"Location", inner_->url() + "/layer"}};
          } else if (req.path.find("/manifests/") != std::string::npos &&
                     req.header("authorization").empty()) {
            r.status = 401;
            r.headers = {{"WWW-Authenticate", "Bearer realm=\"" + inner_->url() +
                                                  "/token\",service=\"evil\""}};
          } else {
            r.status = 404;
          }
          return r;
        },
        kPublicIp);
  }
  void TearDown() override {
    upstream_.reset();
    inner_.reset();
    if (added_) runCommand({"ip", "addr", "del", std::string(kPublicIp) + "/32", "dev", "lo"});
  }

  std::unique_ptr<PullcacheServer> start(const std::string& extra) {
    PullcacheOptions o;
    o.upstreams_yaml = "upstreams:\n  - match: evil.test\n    url: " + upstream_->url() + "\n" +
                       extra;
    auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc" + std::to_string(++n_)), "evil.test", o);
    pc->start();
    return pc;
  }

  TempDir dir_;
  bool added_ = false;
  int n_ = 0;
  std::string blob_;
  std::string digest_;
  std::atomic<int> inner_hits_{0};
  std::unique_ptr<MiniHttpServer> inner_;
  std::unique_ptr<MiniHttpServer> upstream_;
};

TEST_F(RedirectScopeTest, APublicUpstreamCannotRedirectOrChallengeIntoLoopback) {
  auto pc = start("");
  auto b = httpGet(pc->url("/v2/team/app/blobs/" + digest_ + "?ns=evil.test"));
  EXPECT_EQ(b.status, 502) << b.body;
  auto m = httpGet(pc->url("/v2/team/app/manifests/v1?ns=evil.test"),
                   {"Accept: application/vnd.oci.image.manifest.v1+json"});
  EXPECT_GE(m.status, 500) << m.body;
  EXPECT_EQ(inner_hits_.load(), 0) << "the loopback target was reached";
  EXPECT_NE(pc->log().find("refused to connect to the non-public address 127.0.0.1"),
            std::string::npos)
      << pc->log();
}

TEST_F(RedirectScopeTest, AllowPrivateRedirectsLetsItThrough) {
  auto pc = start("    allow_private_redirects: true\n");
  auto b = httpGet(pc->url("/v2/team/app/blobs/" + digest_ + "?ns=evil.test"));
  ASSERT_EQ(b.status, 200) << b.body << pc->log();
  EXPECT_EQ(b.body, blob_);
  EXPECT_GT(inner_hits_.load(), 0);
}

}  // namespace
}  // namespace pullcache::testing
