#pragma once
// The registry listener's handler: route, dispatch to the registry API, map errors.

#include "common/clock.h"
#include "daemon/metrics/metrics.h"
#include "daemon/registry/registry_api.h"
#include "daemon/server/request_handler.h"

namespace pullcache::server {

class RegistryEndpoint final : public RequestHandler {
 public:
  // `admin` (may be null) answers /pullcache/... (see admin_endpoint.h). With `metrics` and
  // `clock` (both or neither; they must outlive the endpoint), a request carrying ?ns= sets
  // metrics->containerd_last_request to clock->now().
  explicit RegistryEndpoint(registry::RegistryApi& api, RequestHandler* admin = nullptr,
                            metrics::Metrics* metrics = nullptr, const Clock* clock = nullptr)
      : api_(api), admin_(admin), metrics_(metrics), clock_(clock) {}
  Task<HttpResponse> handle(HttpRequest request, RequestInfo& info) override;

 private:
  registry::RegistryApi& api_;
  RequestHandler* admin_;
  metrics::Metrics* metrics_;
  const Clock* clock_;
};

// /healthz, /readyz and /metrics on metrics_listen.
class HealthEndpoint final : public RequestHandler {
 public:
  HealthEndpoint(std::function<bool()> ready, const metrics::Metrics* metrics)
      : ready_(std::move(ready)), metrics_(metrics) {}
  Task<HttpResponse> handle(HttpRequest request, RequestInfo& info) override;

 private:
  std::function<bool()> ready_;
  const metrics::Metrics* metrics_;
};

}  // namespace pullcache::server
