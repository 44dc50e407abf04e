#include "daemon/registry/registry_api.h"

namespace pullcache::registry {

Task<Result<HttpResponse>> RegistryApi::handle(Route route, HttpRequest request,
                                               RequestInfo& info) {
  info.route = route.kind;
  info.ns = route.ns;
  info.repository = route.name;
  info.reference = route.reference.str();
  if (request.method != "GET" && request.method != "HEAD") {
    co_return fail(Errc::kUnsupported,
                   "pullcache is a read-only mirror; " + request.method + " is not supported");
  }
  if (route.kind == RouteKind::kBase) {
    HttpResponse r;
    r.body = "{}";
    r.headers.add("Content-Type", "application/json");
    r.content_length = r.body.size();
    r.head = request.method == "HEAD";
    co_return r;
  }
  if (route.kind == RouteKind::kOther)
    co_return fail(Errc::kNotFound, "no such registry API endpoint");
  auto up = d_.router.resolve(route.ns);
  if (!up) co_return up.error();
  info.ns = up.value()->host;
  const std::string request_method = request.method;
  Result<HttpResponse> out = Error{};
  switch (route.kind) {
    case RouteKind::kBlob:
      out = co_await blobs_.serve(route, std::move(request), up.value(), info);
      break;
    case RouteKind::kManifest:
      out = co_await manifests_.serve(route, std::move(request), up.value(), info);
      break;
    default:
      out = co_await passThrough(route, std::move(request), up.value(), info);
      break;
  }
  if (d_.metrics != nullptr &&
      (route.kind == RouteKind::kManifest || route.kind == RouteKind::kBlob)) {
    auto kind =
        route.kind == RouteKind::kManifest ? metrics::Kind::kManifest : metrics::Kind::kBlob;
    auto outcome = metrics::Outcome::kError;
    if (out) {
      // A blob HEAD answered from the upstream is a miss for the cache.
      outcome = info.cache == CacheResult::kPassThrough ? metrics::Outcome::kMiss
                                                        : metrics::outcomeFrom(info.cache);
    }
    d_.metrics->cacheRequest(kind, outcome);
    if (out && route.kind == RouteKind::kManifest && request_method == "GET" &&
        up.value()->metrics != nullptr) {
      d_.metrics->imagePull(*up.value()->metrics, route.name);
    }
  }
  if (out) out.value().headers.set("OCI-Namespace", up.value()->host);
  co_return out;
}

Task<Result<HttpResponse>> RegistryApi::passThrough(Route route, HttpRequest request,
                                                    std::shared_ptr<const upstream::Upstream> up,
                                                    RequestInfo& info) {
  if (request.method != "GET") co_return fail(Errc::kUnsupported, "only GET is supported here");
  std::string path =
      route.kind == RouteKind::kTags ? "tags/list" : "referrers/" + route.reference.str();
  if (!route.query.empty()) path += "?" + route.query;
  Headers h;
  if (auto accept = request.headers.get("accept"); !accept.empty())
    h.add("Accept", std::string(accept));
  auto t0 = std::chrono::steady_clock::now();
  auto resp =
      co_await d_.client.request(up, "GET", route.name, path, std::move(h), d_.max_manifest_bytes);
  if (!resp) co_return resp.error();
  auto& u = resp.value();
  if (u.status != 200) {
    co_return upstream::upstreamStatusError(
        u, route.kind == RouteKind::kTags ? Errc::kNameUnknown : Errc::kManifestUnknown,
        std::string(routeKindName(route.kind)) + " of " + route.name);
  }
  HttpResponse r;
  r.headers.add("Content-Type", u.headers.has("content-type")
                                    ? std::string(u.headers.get("content-type"))
                                    : "application/json");
  if (auto link = u.headers.get("link"); !link.empty()) r.headers.add("Link", std::string(link));
  r.body = std::move(u.body);
  r.content_length = r.body.size();
  info.cache = CacheResult::kPassThrough;
  info.upstream_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  co_return r;
}

}  // namespace pullcache::registry
