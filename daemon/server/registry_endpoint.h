#pragma once
// The registry listener's handler: route, dispatch to the registry API, map errors.

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

// Health and readiness (and, later, metrics) on metrics_listen.
class HealthEndpoint final : public RequestHandler {
 public:
  explicit HealthEndpoint(std::function<bool()> ready) : ready_(std::move(ready)) {}
  Task<HttpResponse> handle(HttpRequest request) override;

 private:
  std::function<bool()> ready_;
};

}  // namespace pullcache::server
