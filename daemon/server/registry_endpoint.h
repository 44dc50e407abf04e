#pragma once
// The registry listener's handler: route, dispatch to the registry API, map errors.

#include "daemon/metrics/metrics.h"
#include "daemon/registry/registry_api.h"
#include "daemon/server/request_handler.h"

namespace pullcache::server {

class RegistryEndpoint final : public RequestHandler {
 public:
  explicit RegistryEndpoint(registry::RegistryApi& api) : api_(api) {}
  Task<HttpResponse> handle(HttpRequest request) override;

 private:
  registry::RegistryApi& api_;
};

// /healthz, /readyz and /metrics on metrics_listen.
class HealthEndpoint final : public RequestHandler {
 public:
  HealthEndpoint(std::function<bool()> ready, const metrics::Metrics* metrics)
      : ready_(std::move(ready)), metrics_(metrics) {}
  Task<HttpResponse> handle(HttpRequest request) override;

 private:
  std::function<bool()> ready_;
  const metrics::Metrics* metrics_;
};

}  // namespace pullcache::server
