// The manifest path of RegistryApi against a strict scripted upstream: single flight, tag TTL,
// revalidation with HEAD, moved tags, digest verification.
#include <gtest/gtest.h>

#include "common/media_types.h"
#include "daemon/index/rocksdb_index.h"
#include "daemon/registry/registry_api.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/process.h"
#include "tests/support/registry_testbed.h"
#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::registry {
namespace {

using testing::ScriptedResponse;
constexpr const char* kHost = "reg.test";
const std::string kTagUrl = "http://upstream.test/v2/lib/app/manifests/v1";

ScriptedResponse manifestScript(const std::string& body) {
  ScriptedResponse s{.body = body};
  s.headers.add("Content-Type", std::string(media::kOciManifest));
  s.headers.add("Docker-Content-Digest", sha256Of(body).str());
  return s;
}

class ManifestTest : public ::testing::Test {
 protected:
  static Task<void> get(RegistryApi* api, std::string ref, Result<HttpResponse>* out,
                        RequestInfo* info, int* done) {
    HttpRequest req{.method = "GET", .target = ""};
    req.headers.add("Accept", std::string(media::kManifestAccept));
    // Named, not a braced temporary: GCC 12 destroys brace-initialized temporaries passed to a
    // coroutine twice (see common/blocking.h).
    Route route{.kind = RouteKind::kManifest,
                .name = "lib/app",
                .reference = Reference::parse(ref).value(),
                .ns = kHost};
    *out = co_await api->handle(std::move(route), std::move(req), *info);
    ++*done;
  }

  std::vector<Result<HttpResponse>> getConcurrently(const std::string& ref, int n) {
    std::vector<Result<HttpResponse>> out(n, Error{});
    infos_.assign(n, RequestInfo{});
    int done = 0;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(asio::make_strand(ioc_), get(api_.get(), ref, &out[i], &infos_[i], &done),
                     asio::detached);
    }
    ioc_.restart();
    // A deadline, so that a regression fails the test instead of hanging it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done < n && std::chrono::steady_clock::now() < deadline)
      ioc_.run_for(std::chrono::milliseconds(20));
    EXPECT_EQ(done, n) << "requests still unanswered after 60 s";
    return out;
  }

  // Where one GET's answer came from.
  CacheResult cacheOfOne(const std::string& ref) {
    EXPECT_TRUE(getConcurrently(ref, 1)[0]);
    return infos_[0].cache;
  }

  int methodCalls(const std::string& method) {
    int n = 0;
    for (const auto& r : http_.requests()) n += r.method == method && r.url == kTagUrl;
    return n;
  }

  testing::RegistryTestbed bed_;
  asio::io_context& ioc_ = bed_.ioc;
  testing::ManualClock& clock_ = bed_.clock;
  index::RocksDbIndex& index_ = bed_.index;
  testing::FakeUpstreamClient& http_ = bed_.http;
  std::unique_ptr<RegistryApi>& api_ = bed_.api;
  std::vector<RequestInfo> infos_;  // of the last getConcurrently
};

TEST_F(ManifestTest, ConcurrentMissesOfATagMakeOneUpstreamGet) {
  auto script = manifestScript(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})");
  script.chunk_delay = std::chrono::milliseconds(100);  // keep the first fetch in flight
  http_.script(kTagUrl, script);
  auto results = getConcurrently("v1", 8);
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().status, 200);
    EXPECT_EQ(r.value().body, script.body);
  }
  EXPECT_EQ(methodCalls("GET"), 1);
}

TEST_F(ManifestTest, TagIsTrustedForItsTtlThenRevalidatedWithAHead) {
  const std::string body =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":1})";
  http_.script(kTagUrl, manifestScript(body));
  ASSERT_EQ(cacheOfOne("v1"), CacheResult::kMiss);
  EXPECT_EQ(cacheOfOne("v1"), CacheResult::kHit);
  EXPECT_EQ(http_.requests().size(), 1u);

  clock_.advance(std::chrono::seconds(61));
  auto revalidated = getConcurrently("v1", 1)[0];
  ASSERT_TRUE(revalidated);
  EXPECT_EQ(revalidated.value().body, body);
  EXPECT_EQ(methodCalls("HEAD"), 1);
  EXPECT_EQ(methodCalls("GET"), 1);
  // The HEAD renewed the mapping (written in the background): trusted again for a full TTL.
  index::TagKey key{kHost, "lib/app", "v1"};
  ASSERT_TRUE(testing::waitFor(
      [&] { return index_.getTag(key).value()->fetched_unix_ms == clock_.unixMillis(); },
      std::chrono::seconds(5)));
  clock_.advance(std::chrono::seconds(30));
  getConcurrently("v1", 1);
  EXPECT_EQ(http_.requests().size(), 2u);
}

TEST_F(ManifestTest, AMovedTagIsFetchedAgain) {
  const std::string v1 =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","v":1})";
  const std::string v2 =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","v":2})";
  http_.script(kTagUrl, manifestScript(v1));
  getConcurrently("v1", 1);
  http_.script(kTagUrl, manifestScript(v2));
  clock_.advance(std::chrono::seconds(61));
  auto moved = getConcurrently("v1", 1)[0];
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.value().body, v2);
  EXPECT_EQ(std::string(moved.value().headers.get("docker-content-digest")), sha256Of(v2).str());
  EXPECT_EQ(methodCalls("HEAD"), 1);
  EXPECT_EQ(methodCalls("GET"), 2);
}

TEST_F(ManifestTest, AManifestThatDoesNotHashToItsDigestIsRefused) {
  const std::string body = R"({"schemaVersion":2})";
  const std::string wrong = sha256Of("something else").str();
  ScriptedResponse s{.body = body};
  s.headers.add("Content-Type", std::string(media::kOciManifest));
  http_.script("http://upstream.test/v2/lib/app/manifests/" + wrong, s);
  auto r = getConcurrently(wrong, 1)[0];
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kDigestMismatch);
  EXPECT_FALSE(index_.getManifest(Digest::parse(wrong).value()).value());
}

}  // namespace
}  // namespace pullcache::registry
