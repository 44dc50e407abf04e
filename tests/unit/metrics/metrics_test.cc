// The counters move as they should on the hit, miss, coalesced and stale paths, and a scrape is
// well-formed exposition text.
#include "daemon/metrics/metrics.h"

#include <gtest/gtest.h>

#include "common/media_types.h"
#include "tests/support/registry_testbed.h"
#include "tests/support/run_coro.h"

namespace pullcache::metrics {
namespace {

using testing::ScriptedResponse;

TEST(Histogram, CumulativeBuckets) {
  Histogram h;
  h.observe(0.0002);
  h.observe(0.003);
  h.observe(120);  // past the last bound: only in +Inf
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.cumulative[0], 1u);                              // <= 0.5 ms
  EXPECT_EQ(s.cumulative[3], 2u);                              // <= 5 ms
  EXPECT_EQ(s.cumulative[Histogram::kBounds.size() - 1], 2u);  // <= 60 s
  EXPECT_NEAR(s.sum, 120.0032, 1e-6);
}

TEST(Metrics, ScrapeIsExpositionText) {
  Metrics m("1.2.3", "abc");
  m.httpRequest(Route::kBlob, Method::kGet, 206, 0.002);
  m.httpRequest(Route::kBlob, Method::kGet, 299, 0.002);  // not a known code: "other"
  m.upstream("docker.io").request(UpstreamKind::kBlob, 200, 0.5, 1000);
  m.imagePull(m.upstream("docker.io"), "library/alpine");
  std::string text = m.scrape();
  EXPECT_NE(text.find("pullcache_build_info{version=\"1.2.3\",commit=\"abc\"} 1"),
            std::string::npos);
  EXPECT_NE(
      text.find("pullcache_http_requests_total{route=\"blob\",method=\"GET\",code=\"206\"} 1"),
      std::string::npos);
  EXPECT_NE(
      text.find("pullcache_http_requests_total{route=\"blob\",method=\"GET\",code=\"other\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("pullcache_upstream_bytes_total{upstream=\"docker.io\"} 1000"),
            std::string::npos);
  EXPECT_NE(
      text.find(
          "pullcache_image_pulls_total{upstream=\"docker.io\",repository=\"library/alpine\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE pullcache_http_request_duration_seconds histogram"),
            std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(text.find("process_open_fds "), std::string::npos);
}

TEST(Metrics, RepositoryLabelsAreCapped) {
  Metrics m("t", "t");
  auto& up = m.upstream("docker.io");
  for (std::size_t i = 0; i < kMaxRepositories + 50; ++i)
    m.imagePull(up, "repo" + std::to_string(i));
  std::string text = m.scrape();
  EXPECT_NE(text.find("repository=\"other\"} 50"), std::string::npos);
  EXPECT_EQ(text.find("repository=\"repo" + std::to_string(kMaxRepositories + 1) + "\""),
            std::string::npos);
}

class CacheMetricsTest : public ::testing::Test {
 protected:
  static Task<void> get(registry::RegistryApi* api, RouteKind kind, std::string ref, int* done) {
    HttpRequest req{.method = "GET", .target = ""};
    req.headers.add("Accept", std::string(media::kManifestAccept));
    registry::Route route{.kind = kind,
                          .name = "lib/app",
                          .reference = Reference::parse(ref).value(),
                          .ns = testing::RegistryTestbed::kHost};
    RequestInfo info;
    auto r = co_await api->handle(std::move(route), std::move(req), info);
    (void)r;
    ++*done;
  }
  void run(RouteKind kind, const std::string& ref, int n) {
    int done = 0;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(asio::make_strand(bed_.ioc), get(bed_.api.get(), kind, ref, &done),
                     asio::detached);
    }
    bed_.ioc.restart();
    // A deadline, so that a regression fails the test instead of hanging it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done < n && std::chrono::steady_clock::now() < deadline)
      bed_.ioc.run_for(std::chrono::milliseconds(20));
    EXPECT_EQ(done, n) << "requests still unanswered after 60 s";
    for (int i = 0; i < 100 && bed_.fetches->inflightCount() > 0; ++i)
      bed_.ioc.run_for(std::chrono::milliseconds(10));
  }
  testing::RegistryTestbed bed_;
};

TEST_F(CacheMetricsTest, BlobMissCoalescedThenHit) {
  std::string body(2 << 20, 'b');
  Digest d = sha256Of(body);
  bed_.http.script(
      std::string(testing::RegistryTestbed::kUpstreamUrl) + "/v2/lib/app/blobs/" + d.str(),
      {.body = body, .chunk = 64 << 10, .chunk_delay = std::chrono::milliseconds(3)});
  run(RouteKind::kBlob, d.str(), 4);
  EXPECT_EQ(bed_.metrics.cacheRequests(Kind::kBlob, Outcome::kMiss), 1u);
  EXPECT_EQ(bed_.metrics.cacheRequests(Kind::kBlob, Outcome::kCoalesced), 3u);
  run(RouteKind::kBlob, d.str(), 1);
  EXPECT_EQ(bed_.metrics.cacheRequests(Kind::kBlob, Outcome::kHit), 1u);
  auto& up = bed_.metrics.upstream(testing::RegistryTestbed::kHost);
  EXPECT_EQ(up.bytes.value(), body.size());
  EXPECT_EQ(up.requests[static_cast<std::size_t>(UpstreamKind::kBlob)][codeSlot(200)].value(), 1u);
  EXPECT_EQ(bed_.metrics.cache_blobs.value(), 1);
  EXPECT_EQ(bed_.metrics.cache_size_bytes.value(), static_cast<double>(body.size()));
  EXPECT_EQ(bed_.metrics.inflight_fetches.value(), 0);
}

TEST_F(CacheMetricsTest, StaleManifestAndVerifyFailure) {
  const std::string url =
      std::string(testing::RegistryTestbed::kUpstreamUrl) + "/v2/lib/app/manifests/v1";
  const std::string body =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  ScriptedResponse ok{.body = body};
  ok.headers.add("Content-Type", std::string(media::kOciManifest));
  bed_.http.script(url, ok);
  run(RouteKind::kManifest, "v1", 1);
  EXPECT_EQ(bed_.metrics.cacheRequests(Kind::kManifest, Outcome::kMiss), 1u);
  // Past the TTL with the upstream failing: served stale.
  bed_.http.script(url, {.status = 503});
  bed_.clock.advance(std::chrono::minutes(2));
  run(RouteKind::kManifest, "v1", 1);
  EXPECT_EQ(bed_.metrics.cacheRequests(Kind::kManifest, Outcome::kStale), 1u);

  // A blob whose bytes do not match its digest.
  Digest claimed = sha256Of("claimed");
  bed_.http.script(
      std::string(testing::RegistryTestbed::kUpstreamUrl) + "/v2/lib/app/blobs/" + claimed.str(),
      {.body = "other bytes"});
  run(RouteKind::kBlob, claimed.str(), 1);
  EXPECT_EQ(bed_.metrics.upstream(testing::RegistryTestbed::kHost).verify_failures.value(), 1u);
}

}  // namespace
}  // namespace pullcache::metrics
