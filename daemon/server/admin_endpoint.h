#pragma once
// The local admin API, under /pullcache/v1/ on the registry listener:
//   GET  /pullcache/v1/stats            cache size, budget, pins, top repositories, hit counts
//   POST /pullcache/v1/gc[?dry_run=1]   one eviction pass now; the plan (and what was deleted)
// Answered only to loopback peers (403 otherwise): the registry listener binds to loopback by
// default, and this keeps a non-default bind from exposing cache management to the network.

#include "common/clock.h"
#include "daemon/cache/blob_cache.h"
#include "daemon/metrics/metrics.h"
#include "daemon/server/request_handler.h"

namespace pullcache::server {

inline constexpr std::string_view kAdminPrefix = "/pullcache/";

class AdminEndpoint final : public RequestHandler {
 public:
  AdminEndpoint(asio::thread_pool& pool, cache::BlobCache& cache, const Clock& clock,
                const metrics::Metrics* metrics)
      : pool_(pool), cache_(cache), clock_(clock), metrics_(metrics) {}
  Task<HttpResponse> handle(HttpRequest request, RequestInfo& info) override;

 private:
  asio::thread_pool& pool_;
  cache::BlobCache& cache_;
  const Clock& clock_;
  const metrics::Metrics* metrics_;
};

}  // namespace pullcache::server
