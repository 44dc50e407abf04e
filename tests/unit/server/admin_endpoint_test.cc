// The admin API as a pure handler: loopback peers only, methods, and JSON answers.
#include "daemon/server/admin_endpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/index/rocksdb_index.h"
#include "tests/support/manual_clock.h"
#include "tests/support/run_coro.h"
#include "tests/support/temp_dir.h"

namespace pullcache::server {
namespace {

class AdminEndpointTest : public ::testing::Test {
 protected:
  HttpResponse call(std::string method, std::string target, bool loopback) {
    HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.peer_loopback = loopback;
    RequestInfo info;
    return testing::runCoro(ioc_, admin_.handle(std::move(req), info));
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  index::RocksDbIndex index_{dir_.sub("index")};
  asio::io_context ioc_;
  // After ioc_: destroyed (joined) first, so no pool thread is still posting to ioc_ when it goes
  // (ThreadSanitizer saw the race).
  asio::thread_pool pool_{1};
  cache::BlobCache cache_{cacheOptions(), index_, clock_, pool_};
  AdminEndpoint admin_{pool_, cache_, clock_, nullptr};

  cache::BlobCacheOptions cacheOptions() {
    cache::BlobCacheOptions o;
    o.dir = dir_.path();
    o.disk = [] { return Result<store::DiskUsage>(store::DiskUsage{1000, 500}); };
    return o;
  }
};

TEST_F(AdminEndpointTest, OnlyLoopbackPeersAreAnswered) {
  auto r = call("GET", "/pullcache/v1/stats", /*loopback=*/false);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("loopback"), std::string::npos);
  EXPECT_EQ(call("POST", "/pullcache/v1/gc", false).status, 403);
}

TEST_F(AdminEndpointTest, StatsAndGcAnswerJson) {
  auto stats = call("GET", "/pullcache/v1/stats", true);
  ASSERT_EQ(stats.status, 200) << stats.body;
  auto j = nlohmann::json::parse(stats.body);
  EXPECT_EQ(j["blobs"], 0);
  EXPECT_EQ(j["filesystem_bytes"], 1000);
  EXPECT_EQ(j["max_bytes"], 200);  // the default budget: 20% of the filesystem
  EXPECT_EQ(j["mode"], "daemon");

  auto gc = call("POST", "/pullcache/v1/gc?dry_run=1", true);
  ASSERT_EQ(gc.status, 200) << gc.body;
  EXPECT_EQ(nlohmann::json::parse(gc.body)["dry_run"], true);
}

TEST_F(AdminEndpointTest, WrongMethodsAndParametersAreRefused) {
  EXPECT_EQ(call("GET", "/pullcache/v1/gc", true).status, 405);
  EXPECT_EQ(call("POST", "/pullcache/v1/stats", true).status, 405);
  EXPECT_EQ(call("POST", "/pullcache/v1/gc?everything=1", true).status, 400);
  EXPECT_EQ(call("GET", "/pullcache/v2/stats", true).status, 404);
}

}  // namespace
}  // namespace pullcache::server
