#include "daemon/server/router.h"

#include <gtest/gtest.h>

#include "daemon/server/error_response.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache::server {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(Router, RegistryRoutes) {
  auto base = parseRoute("/v2/");
  ASSERT_TRUE(base);
  EXPECT_EQ(base.value().kind, RouteKind::kBase);

  auto m = parseRoute("/v2/library/alpine/manifests/3.19?ns=docker.io");
  ASSERT_TRUE(m);
  EXPECT_EQ(m.value().kind, RouteKind::kManifest);
  EXPECT_EQ(m.value().name, "library/alpine");
  EXPECT_EQ(m.value().reference.tag(), "3.19");
  EXPECT_EQ(m.value().ns, "docker.io");

  auto b = parseRoute("/v2/a/b/c/blobs/" + kDigest);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.value().kind, RouteKind::kBlob);
  EXPECT_EQ(b.value().name, "a/b/c");
  EXPECT_EQ(b.value().ns, "");

  // A repository may itself contain "manifests" or "blobs" as a component.
  auto tricky = parseRoute("/v2/blobs/manifests/manifests/latest");
  ASSERT_TRUE(tricky);
  EXPECT_EQ(tricky.value().name, "blobs/manifests");

  auto tags = parseRoute("/v2/x/tags/list?n=10&last=a&evil=1");
  ASSERT_TRUE(tags);
  EXPECT_EQ(tags.value().kind, RouteKind::kTags);
  EXPECT_EQ(tags.value().query, "n=10&last=a");

  auto refs = parseRoute("/v2/x/referrers/" + kDigest + "?artifactType=application%2Fvnd.example");
  ASSERT_TRUE(refs);
  EXPECT_EQ(refs.value().kind, RouteKind::kReferrers);
  EXPECT_EQ(refs.value().query, "artifactType=application%2Fvnd.example");

  EXPECT_EQ(parseRoute("/healthz").value().kind, RouteKind::kOther);
  EXPECT_EQ(parseRoute("/v2/x/unknown/y").value().kind, RouteKind::kOther);
}

TEST(Router, RejectsBadInputBeforeAnythingElse) {
  EXPECT_EQ(parseRoute("/v2/../etc/blobs/" + kDigest).error().code, Errc::kNameInvalid);
  EXPECT_EQ(parseRoute("/v2/a/%2e%2e/blobs/" + kDigest).error().code, Errc::kNameInvalid);
  EXPECT_EQ(parseRoute("/v2/a/blobs/sha256:123").error().code, Errc::kDigestInvalid);
  EXPECT_EQ(parseRoute("/v2/a/manifests/bad:tag").error().code, Errc::kDigestInvalid);
  // Neither tag nor digest: no such manifest (404 MANIFEST_UNKNOWN, as the OCI conformance suite
  // expects); a malformed digest stays DIGEST_INVALID.
  EXPECT_EQ(parseRoute("/v2/a/manifests/-x").error().code, Errc::kManifestUnknown);
  EXPECT_EQ(parseRoute("/v2/a/manifests/.INVALID_MANIFEST_NAME").error().code,
            Errc::kManifestUnknown);
  EXPECT_EQ(parseRoute("/v2/a/manifests/sha256:totallywrong").error().code, Errc::kDigestInvalid);
  EXPECT_EQ(parseRoute("/v2/a/manifests/v1?ns=EVIL/../x").error().code, Errc::kNameInvalid);
  EXPECT_EQ(parseRoute("/v2/a/blobs/uploads/").error().code, Errc::kUnsupported);
}

TEST(ErrorResponse, StatusBodyAndHead) {
  auto r = errorResponse(Error{Errc::kManifestUnknown, "gone"}, false);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.get("content-type"), "application/json");
  EXPECT_NE(r.body.find("MANIFEST_UNKNOWN"), std::string::npos);
  EXPECT_EQ(r.content_length, r.body.size());
  auto head = errorResponse(Error{Errc::kUnsupported, ""}, true);
  EXPECT_EQ(head.status, 405);
  EXPECT_TRUE(head.body.empty());
  EXPECT_GT(head.content_length, 0u);
  EXPECT_EQ(head.headers.get("allow"), "GET, HEAD");
  EXPECT_FALSE(head.headers.has("retry-after"));
}

TEST(ErrorResponse, AnUpstreamRetryAfterReachesTheClient) {
  Error limited{Errc::kTooManyRequests, "slow down"};
  limited.retry_after_s = 7;
  auto r = errorResponse(limited, false);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.get("retry-after"), "7");
  EXPECT_NE(r.body.find("TOOMANYREQUESTS"), std::string::npos);
}

}  // namespace
}  // namespace pullcache::server

namespace pullcache::upstream {
namespace {

TEST(UpstreamRouter, RoutesByNsGlobAndRefusesUnknownHosts) {
  config::Config cfg;
  cfg.upstreams.push_back({.match = "docker.io"});
  config::UpstreamConfig ecr_entry;
  ecr_entry.match = "*.dkr.ecr.*.amazonaws.com";
  ecr_entry.url = "https://vpce.example.com";
  cfg.upstreams.push_back(ecr_entry);
  cfg.default_upstream = "docker.io";
  SystemClock clock;
  asio::io_context ioc;
  struct NoClient final : http::Client {
    Task<Result<http::Response>> send(http::Request) override { co_return fail(Errc::kInternal); }
    Task<Result<http::Response>> stream(http::Request, std::shared_ptr<http::BodySink>) override {
      co_return fail(Errc::kInternal);
    }
  } http;
  UpstreamRouter router(cfg, http, clock);

  auto hub = router.resolve("docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub.value()->sources[0].base_url, "https://registry-1.docker.io");
  EXPECT_EQ(hub.value()->upstreamName("alpine"), "library/alpine");
  EXPECT_EQ(hub.value()->upstreamName("bitnami/redis"), "bitnami/redis");
  EXPECT_EQ(router.resolve("").value()->host, "docker.io");  // default_upstream

  auto ecr = router.resolve("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
  ASSERT_TRUE(ecr);
  EXPECT_EQ(ecr.value()->sources[0].base_url, "https://vpce.example.com");
  EXPECT_EQ(ecr.value()->upstreamName("app"), "app");

  auto other = router.resolve("evil.example.com");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kNameUnknown);
  EXPECT_EQ(router.resolve("Not_A_Host").error().code, Errc::kNameInvalid);
}

}  // namespace
}  // namespace pullcache::upstream
