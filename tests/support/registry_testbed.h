#pragma once
// The registry layer wired as in the daemon, over a temp cache dir, a real RocksDB index and a
// strict scripted upstream ("reg.test" -> http://upstream.test), with a manual clock.

#include <memory>

#include "daemon/cache/blob_cache.h"
#include "daemon/index/rocksdb_index.h"
#include "daemon/registry/fetch_coordinator.h"
#include "daemon/registry/registry_api.h"
#include "daemon/upstream/registry_client.h"
#include "daemon/upstream/upstream_router.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {

struct RegistryTestbed {
  static constexpr const char* kHost = "reg.test";
  static constexpr const char* kUpstreamUrl = "http://upstream.test";

  // `store_dir`: where blob files go (default: a "cache" dir in the testbed's temp dir).
  explicit RegistryTestbed(registry::FetchOptions fetch_options = {},
                           std::chrono::milliseconds tag_ttl = std::chrono::seconds(60),
                           std::string store_dir = "")
      : store_dir_(store_dir.empty() ? dir.sub("cache") : std::move(store_dir)) {
    config::Config cfg;
    config::UpstreamConfig upstream;
    upstream.match = kHost;
    upstream.url = kUpstreamUrl;
    cfg.upstreams.push_back(upstream);
    router = std::make_unique<upstream::UpstreamRouter>(cfg, http, clock, &metrics);
    fetches = std::make_unique<registry::FetchCoordinator>(ioc.get_executor(), pool, cache, client,
                                                           fetch_options, &metrics);
    api = std::make_unique<registry::RegistryApi>(
        registry::RegistryDeps{pool, index, *router, client, *fetches, clock, tag_ttl, &metrics});
  }
  // As in App: the pool stops first, then the io_context goes (and with it every coroutine
  // frame still pending, whose guards call into the coordinator and the cache) while
  // everything those frames refer to is alive.
  ~RegistryTestbed() {
    pool.join();
    http.join();
    ioc_owner.reset();
  }
  cache::BlobCacheOptions cacheOptions() {
    cache::BlobCacheOptions o;
    o.dir = store_dir_;
    o.disk = [this]() -> Result<store::DiskUsage> { return disk; };
    return o;
  }

  TempDir dir;
  std::string store_dir_;
  std::unique_ptr<asio::io_context> ioc_owner = std::make_unique<asio::io_context>();
  asio::io_context& ioc = *ioc_owner;
  asio::thread_pool pool{2};
  ManualClock clock;
  metrics::Metrics metrics{"test", "test"};
  index::RocksDbIndex index{dir.sub("index")};
  // What the cache's disk probe reports: plenty of room, unless a test changes it.
  store::DiskUsage disk{1ull << 40, 1ull << 39};
  cache::BlobCache cache{cacheOptions(), index, clock, pool, &metrics};
  FakeUpstreamClient http{ioc.get_executor()};
  upstream::RegistryClient client{http, std::chrono::seconds(5)};
  std::unique_ptr<upstream::UpstreamRouter> router;
  std::unique_ptr<registry::FetchCoordinator> fetches;
  std::unique_ptr<registry::RegistryApi> api;
};

}  // namespace pullcache::testing
