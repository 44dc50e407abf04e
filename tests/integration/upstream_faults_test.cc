// Upstream faults, injected by a proxy (FaultyUpstream) in front of a real docker-registry.
// For each fault: every client gets a correct answer or a clean error (before any body byte
// where the fault comes before the body; a connection closed short where it comes after), nothing
// wrong is cached, all waiters of one fetch are released, and the metrics say what happened.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/faulty_upstream.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

constexpr const char* kHost = "faulty.test";
constexpr int kWaiters = 4;

class UpstreamFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    registry_ = new RegistryServer(dir_->sub("registry"));
    registry_->start();
    auto image = writeOciLayout(dir_->sub("layout"), "v1", {{3 << 20, 41}, {1 << 20, 42}});
    std::string log;
    ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/app", &log), 0) << log;
    remote_ = new RemoteImage(inspectRemote(registry_->host(), "test/app", "v1"));
  }
  static void TearDownTestSuite() {
    delete remote_;
    delete registry_;
    delete dir_;
  }

  void SetUp() override {
    if (remote_ == nullptr) GTEST_SKIP();
    faulty_ = std::make_unique<FaultyUpstream>(registry_->host());
  }
  void TearDown() override {
    if (HasFailure() && pc_) std::cerr << "pullcache log:\n" << pc_->log() << "\n";
    if (faulty_) faulty_->releaseStalls();
    pc_.reset();
    faulty_.reset();
  }

  PullcacheServer& start(const std::string& extra = {}) {
    PullcacheOptions o;
    o.upstreams_yaml = std::string("upstreams:\n  - match: ") + kHost + "\n    url: " +
                       faulty_->url() + "\n";
    o.upstream_timeouts = "{connect: 2s, stall: 2s, request: 5s}";
    o.extra_yaml = extra;
    pc_ = std::make_unique<PullcacheServer>(local_.sub("pc"), kHost, o);
    pc_->start();
    return *pc_;
  }

  static std::string blobPath(const std::string& digest) {
    return "/v2/test/app/blobs/" + digest + "?ns=" + std::string(kHost);
  }
  static std::string layer() { return remote_->layer_digests[0]; }
  static std::uint64_t layerSize() { return remote_->layer_sizes[0]; }

  // kWaiters concurrent GETs of one blob.
  std::vector<HttpResult> concurrentGets(const std::string& digest) {
    std::vector<HttpResult> results(kWaiters);
    std::vector<std::thread> clients;
    for (int i = 0; i < kWaiters; ++i) {
      clients.emplace_back([&, i] {
        results[i] = httpRequest("GET", pc_->url(blobPath(digest)), {}, 30'000);
      });
    }
    for (auto& t : clients) t.join();
    return results;
  }

  double metric(const std::string& series) {
    auto m = scrapeMetrics(*pc_);
    auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
  }

  // Nothing of `digest` in the cache: neither committed nor left in the staging dir (a failed
  // fetch's staging file is removed just after its waiters are released).
  void expectNothingCached(const std::string& digest) {
    EXPECT_TRUE(waitFor([&] { return std::filesystem::is_empty(pc_->cacheDir() + "/tmp"); },
                        std::chrono::seconds(10)));
    EXPECT_FALSE(std::filesystem::exists(pc_->blobFile(digest)));
  }
  // Requests for `path` that reached the registry's face (not the object store's).
  int registryRequests(const std::string& path) {
    return faulty_->requests(path) - faulty_->requests("/store" + path);
  }

  // With the fault gone, the blob is fetched again and served whole.
  void expectRecovers(const std::string& digest) {
    faulty_->clear();
    auto ok = httpGet(pc_->url(blobPath(digest)));
    ASSERT_EQ(ok.status, 200);
    EXPECT_EQ("sha256:" + sha256Hex(ok.body), digest);
  }

  static TempDir* dir_;
  static RegistryServer* registry_;
  static RemoteImage* remote_;
  TempDir local_;
  std::unique_ptr<FaultyUpstream> faulty_;
  std::unique_ptr<PullcacheServer> pc_;
};

TempDir* UpstreamFaultsTest::dir_ = nullptr;
RegistryServer* UpstreamFaultsTest::registry_ = nullptr;
RemoteImage* UpstreamFaultsTest::remote_ = nullptr;

std::string upstreamSeries(const std::string& kind, const std::string& code) {
  return "pullcache_upstream_requests_total{upstream=\"" + std::string(kHost) + "\",kind=\"" +
         kind + "\",code=\"" + code + "\"}";
}

TEST_F(UpstreamFaultsTest, ConnectionRefusedIsA503BeforeTheBody) {
  start();
  faulty_->setDown(true);
  for (const auto& r : concurrentGets(layer())) {
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(ociErrorCode(r.body), "UNAVAILABLE");
  }
  auto m = httpGet(pc_->url("/v2/test/app/manifests/v1?ns=" + std::string(kHost)));
  EXPECT_EQ(m.status, 503);
  expectNothingCached(layer());
  // Each failed fetch tried three times (two retries) before giving up.
  EXPECT_GE(metric(upstreamSeries("blob", "error")), 3);
  EXPECT_GE(metric("pullcache_upstream_retries_total{upstream=\"faulty.test\"}"), 2);
  faulty_->setDown(false);
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, AResetBeforeHeadersIsRetried) {
  start();
  faulty_->add({.kind = FaultKind::kResetBeforeHeaders, .path_contains = "/blobs/", .times = 1});
  auto r = httpGet(pc_->url(blobPath(layer())));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(r.body), layer());
  EXPECT_EQ(faulty_->requests("/blobs/" + layer()), 2);
  EXPECT_EQ(metric("pullcache_upstream_retries_total{upstream=\"faulty.test\"}"), 1);
}

TEST_F(UpstreamFaultsTest, AStallBeforeHeadersReleasesEveryWaiterWithAnError) {
  start();
  faulty_->add({.kind = FaultKind::kStallBeforeHeaders, .path_contains = "/blobs/"});
  for (const auto& r : concurrentGets(layer())) {
    EXPECT_EQ(r.status, 504) << r.body;
    EXPECT_EQ(ociErrorCode(r.body), "UNAVAILABLE");
  }
  EXPECT_EQ(faulty_->requests("/blobs/" + layer()), 1) << "one fetch for all waiters, no retry";
  expectNothingCached(layer());
  EXPECT_EQ(metric(upstreamSeries("blob", "error")), 1);
  faulty_->releaseStalls();
  expectRecovers(layer());
}

// Faults after the headers: the clients may already have a 200 and part of the body, so the
// only honest signal left is a connection closed before the announced length. No client may
// see a complete response (curl_code 0) with a wrong body.
void expectNoCompleteResponse(const std::vector<HttpResult>& results) {
  for (const auto& r : results) {
    const bool clean_error = r.status >= 500 && r.curl_code == 0;
    const bool closed_short = r.curl_code != 0;
    EXPECT_TRUE(clean_error || closed_short)
        << "status " << r.status << ", curl " << r.curl_code << ", " << r.body.size() << " bytes";
  }
}

// Every client got the whole blob, complete and verified.
void expectAllWhole(const std::vector<HttpResult>& results, const std::string& digest) {
  for (const auto& r : results) {
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.curl_code, 0);
    EXPECT_EQ("sha256:" + sha256Hex(r.body), digest);
  }
}

TEST_F(UpstreamFaultsTest, AStallMidBodyIsResumedWithARange) {
  start();
  faulty_->add({.kind = FaultKind::kStallMidBody, .path_contains = "/blobs/", .times = 1});
  expectAllWhole(concurrentGets(layer()), layer());
  EXPECT_EQ(registryRequests("/v2/test/app/blobs/" + layer()), 2) << "the stalled one, a resume";
  EXPECT_EQ(metric("pullcache_upstream_retries_total{upstream=\"faulty.test\"}"), 0)
      << "body bytes had arrived: a resume from there, not a new request from byte 0";
}

TEST_F(UpstreamFaultsTest, AnUpstreamThatKeepsStallingMidBodyClosesEveryWaiterShort) {
  start();
  faulty_->add({.kind = FaultKind::kStallMidBody, .path_contains = "/blobs/"});
  expectNoCompleteResponse(concurrentGets(layer()));
  expectNothingCached(layer());
  faulty_->releaseStalls();
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, AResetMidBodyIsResumedAndAlwaysResettingClosesShort) {
  start();
  faulty_->add({.kind = FaultKind::kResetMidBody, .path_contains = "/blobs/", .times = 1});
  expectAllWhole(concurrentGets(layer()), layer());
  EXPECT_EQ(registryRequests("/v2/test/app/blobs/" + layer()), 2);

  const std::string other = remote_->layer_digests[1];
  faulty_->add({.kind = FaultKind::kResetMidBody, .path_contains = "/blobs/"});
  expectNoCompleteResponse(concurrentGets(other));
  expectNothingCached(other);
  expectRecovers(other);
}

TEST_F(UpstreamFaultsTest, AWrongContentLengthIsNeverCached) {
  start();
  faulty_->add({.kind = FaultKind::kLongContentLength, .path_contains = "/blobs/"});
  // The upstream announces 1000 bytes it never sends: the fetch cannot complete.
  expectNoCompleteResponse(concurrentGets(layer()));
  expectNothingCached(layer());
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, AWrongDigestIsNeverCachedAndIsCounted) {
  start();
  faulty_->add({.kind = FaultKind::kCorruptBody, .path_contains = "/blobs/"});
  auto results = concurrentGets(layer());
  expectNoCompleteResponse(results);
  for (const auto& r : results) {
    EXPECT_LT(r.body.size(), layerSize()) << "closed before its last bytes";
  }
  expectNothingCached(layer());
  EXPECT_EQ(metric("pullcache_blob_verify_failures_total{upstream=\"faulty.test\"}"), 1);
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, TooManyRequestsIsPassedOnWithRetryAfter) {
  start();
  faulty_->add({.kind = FaultKind::kStatus, .path_contains = "/blobs/", .status = 429,
                .retry_after = "7"});
  auto r = httpGet(pc_->url(blobPath(layer())));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(ociErrorCode(r.body), "TOOMANYREQUESTS");
  EXPECT_EQ(r.header("retry-after"), "7");
  EXPECT_EQ(faulty_->requests("/blobs/" + layer()), 1) << "a 429 is not retried";
  EXPECT_EQ(metric(upstreamSeries("blob", "429")), 1);
  expectNothingCached(layer());
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, AShortBurstOf5xxIsRetriedAwayALongOneIsA503) {
  start();
  faulty_->add({.kind = FaultKind::kStatus, .path_contains = "/blobs/", .times = 2,
                .status = 503});
  auto r = httpGet(pc_->url(blobPath(layer())));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(r.body), layer());
  EXPECT_EQ(metric(upstreamSeries("blob", "503")), 2);

  const std::string other = remote_->layer_digests[1];
  faulty_->add({.kind = FaultKind::kStatus, .path_contains = "/blobs/", .status = 500});
  for (const auto& e : concurrentGets(other)) {
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(ociErrorCode(e.body), "UNAVAILABLE");
  }
  EXPECT_EQ(faulty_->requests("/blobs/" + other), 3) << "one fetch, three sends";
  EXPECT_EQ(metric(upstreamSeries("blob", "500")), 3);
  expectNothingCached(other);
  expectRecovers(other);
}

TEST_F(UpstreamFaultsTest, ARedirectLoopEndsInA502) {
  start();
  faulty_->add({.kind = FaultKind::kRedirectLoop, .path_contains = "/blobs/"});
  auto r = httpGet(pc_->url(blobPath(layer())));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(faulty_->requests("/blobs/" + layer()), 6) << "the first request and 5 hops";
  expectNothingCached(layer());
  expectRecovers(layer());
}

TEST_F(UpstreamFaultsTest, AnExpiredPresignedUrlIsReplacedOnceThenGivenUp) {
  start();
  // Once expired, then a good redirect: the blob is served.
  faulty_->add({.kind = FaultKind::kRedirectExpired, .path_contains = "/blobs/", .times = 1});
  faulty_->add({.kind = FaultKind::kRedirectToStore, .path_contains = "/blobs/"});
  auto r = httpGet(pc_->url(blobPath(layer())));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ("sha256:" + sha256Hex(r.body), layer());
  EXPECT_EQ(registryRequests("/v2/test/app/blobs/" + layer()), 2) << "asked the registry twice";
  // Always expired: one fresh URL is asked for, then a clean 503.
  faulty_->clear();
  const std::string other = remote_->layer_digests[1];
  faulty_->add({.kind = FaultKind::kRedirectExpired, .path_contains = "/blobs/"});
  auto e = httpGet(pc_->url(blobPath(other)));
  EXPECT_EQ(e.status, 503);
  EXPECT_EQ(registryRequests("/v2/test/app/blobs/" + other), 2);
  expectNothingCached(other);
}

TEST_F(UpstreamFaultsTest, AManifestOverTheLimitIsRefused) {
  start("limits: {max_manifest_bytes: 4KiB}\n");
  // Pushed here: a manifest of 40 layers is over 4 KiB.
  std::vector<LayerSpec> layers;
  for (int i = 0; i < 40; ++i) layers.push_back({1024, static_cast<std::uint64_t>(500 + i)});
  auto image = writeOciLayout(local_.sub("wide"), "v1", layers);
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/wide", &log), 0) << log;
  auto r = httpGet(pc_->url("/v2/test/wide/manifests/v1?ns=" + std::string(kHost)));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(ociErrorCode(r.body), "SIZE_INVALID");
  // The small one is fine.
  auto ok = httpGet(pc_->url("/v2/test/app/manifests/v1?ns=" + std::string(kHost)));
  EXPECT_EQ(ok.status, 200);
}

TEST_F(UpstreamFaultsTest, UpstreamConnectionsStayWithinTheLimit) {
  start("limits: {upstream_connections: 2}\n");
  // Eight different misses at once: without the limit, libcurl opens a connection for each.
  std::vector<LayerSpec> layers;
  for (int i = 0; i < 8; ++i) layers.push_back({256 * 1024, static_cast<std::uint64_t>(600 + i)});
  auto image = writeOciLayout(local_.sub("eight"), "v1", layers);
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/eight", &log), 0) << log;
  auto eight = inspectRemote(registry_->host(), "test/eight", "v1");
  std::vector<HttpResult> results(eight.layer_digests.size());
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] {
      results[i] = httpGet(pc_->url("/v2/test/eight/blobs/" + eight.layer_digests[i] +
                                    "?ns=" + std::string(kHost)));
    });
  }
  for (auto& t : clients) t.join();
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_EQ(results[i].status, 200);
    EXPECT_EQ("sha256:" + sha256Hex(results[i].body), eight.layer_digests[i]);
  }
  EXPECT_LE(faulty_->maxConcurrentConnections(), 2);
  EXPECT_GE(faulty_->maxConcurrentConnections(), 1);
}

}  // namespace
}  // namespace pullcache::testing
