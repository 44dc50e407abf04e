#include "daemon/server/registry_endpoint.h"

#include "common/strings.h"
#include "daemon/server/admin_endpoint.h"
#include "daemon/server/error_response.h"
#include "daemon/server/router.h"

namespace pullcache::server {

Task<HttpResponse> RegistryEndpoint::handle(HttpRequest request, RequestInfo& info) {
  if (admin_ != nullptr && request.target.starts_with(kAdminPrefix)) {
    auto resp = co_await admin_->handle(std::move(request), info);
    co_return resp;
  }
  const bool head = request.method == "HEAD";
  HttpResponse resp;
  if (request.method != "GET" && request.method != "HEAD") {
    // The target is checked before the method (as distribution does, and the OCI conformance
    // suite expects: a PUT to manifests/sha256:totallywrong is 400 DIGEST_INVALID, not 405).
    auto route = parseRoute(request.target);
    resp = errorResponse(
        route ? Error{Errc::kUnsupported, "pullcache is a read-only mirror; " +
                                              quoteUntrusted(request.method) + " is not supported"}
              : route.error(),
        false);
    resp.close = true;  // we never read request bodies
    info.cache = CacheResult::kError;
  } else if (auto route = parseRoute(request.target); !route) {
    resp = errorResponse(route.error(), head);
    info.cache = CacheResult::kError;
  } else {
    if (metrics_ != nullptr && clock_ != nullptr && !route.value().ns.empty())
      metrics_->containerd_last_request.set(static_cast<double>(clock_->unixMillis()) / 1000.0);
    // Cluster-mode headers are the peer port's (a local client cannot pose as a peer).
    request.headers.remove(registry::kTrailHeader);
    request.headers.remove(registry::kHopHeader);
    auto result = co_await api_.handle(std::move(route).value(), std::move(request), info);
    if (result) {
      resp = std::move(result).value();
    } else {
      resp = errorResponse(result.error(), head);
      info.cache = CacheResult::kError;
    }
  }
  resp.headers.set("Docker-Distribution-API-Version", "registry/2.0");
  co_return resp;
}

Task<HttpResponse> HealthEndpoint::handle(HttpRequest request, RequestInfo& info) {
  info.route = RouteKind::kHealth;
  HttpResponse r;
  r.headers.add("Content-Type", "text/plain; charset=utf-8");
  std::string_view path = request.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (request.method != "GET" && request.method != "HEAD") {
    r.status = 405;
    r.body = "method not allowed\n";
    r.close = true;
  } else if (path == "/healthz") {
    r.body = "ok\n";
  } else if (path == "/metrics" && metrics_ != nullptr) {
    r.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = metrics_->scrape();
  } else if (path == "/readyz") {
    bool ready = ready_();
    r.status = ready ? 200 : 503;
    r.body = ready ? "ready\n" : "not ready\n";
  } else {
    r.status = 404;
    r.body = "not found\n";
  }
  r.content_length = r.body.size();
  r.head = request.method == "HEAD";
  if (r.head) r.body.clear();
  co_return r;
}

}  // namespace pullcache::server
