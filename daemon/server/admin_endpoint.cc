#include "daemon/server/admin_endpoint.h"

#include <nlohmann/json.hpp>

#include "common/blocking.h"
#include "daemon/store/cache_stats.h"

namespace pullcache::server {
namespace {

constexpr std::size_t kTopRepositories = 10;

HttpResponse jsonResponse(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  r.content_length = r.body.size();
  return r;
}

HttpResponse errorJson(int status, const std::string& message) {
  return jsonResponse(status, {{"error", message}});
}

nlohmann::json cacheCounters(const metrics::Metrics& m) {
  using metrics::Kind;
  using metrics::Outcome;
  nlohmann::json out;
  std::uint64_t served_without_fetch = 0;
  std::uint64_t all = 0;
  for (auto [kind, name] :
       {std::pair{Kind::kBlob, "blob"}, std::pair{Kind::kManifest, "manifest"}}) {
    nlohmann::json k;
    for (auto [outcome, oname] :
         {std::pair{Outcome::kHit, "hit"}, std::pair{Outcome::kMiss, "miss"},
          std::pair{Outcome::kCoalesced, "coalesced"}, std::pair{Outcome::kStale, "stale"},
          std::pair{Outcome::kError, "error"}}) {
      std::uint64_t v = m.cacheRequests(kind, outcome);
      k[oname] = v;
      all += v;
      if (outcome == Outcome::kHit || outcome == Outcome::kCoalesced || outcome == Outcome::kStale)
        served_without_fetch += v;
    }
    out[name] = k;
  }
  out["hit_ratio"] = all == 0 ? 0.0 : static_cast<double>(served_without_fetch) / all;
  return out;
}

}  // namespace

Task<HttpResponse> AdminEndpoint::handle(HttpRequest request, RequestInfo& info) {
  info.route = RouteKind::kAdmin;
  if (!request.peer_loopback) co_return errorJson(403, "the admin API answers loopback only");
  std::string_view path = request.target;
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (path == "/pullcache/v1/stats") {
    if (request.method != "GET") co_return errorJson(405, "use GET");
    std::function<Result<store::CacheStats>()> work = [this] {
      return cache_.stats(kTopRepositories);
    };
    auto stats = co_await runBlocking(pool_, std::move(work));
    if (!stats) co_return errorJson(500, stats.error().message());
    auto body = store::statsToJson(stats.value());
    body["mode"] = "daemon";
    if (metrics_ != nullptr) body["requests_since_start"] = cacheCounters(*metrics_);
    co_return jsonResponse(200, body);
  }
  if (path == "/pullcache/v1/gc") {
    if (request.method != "POST") co_return errorJson(405, "use POST");
    bool dry_run = query == "dry_run=1" || query == "dry_run=true";
    if (!query.empty() && !dry_run) co_return errorJson(400, "the only parameter is dry_run=1");
    std::function<Result<store::EvictionReport>()> work = [this, dry_run] {
      return cache_.evict(dry_run);
    };
    auto report = co_await runBlocking(pool_, std::move(work));
    if (!report) co_return errorJson(500, report.error().message());
    co_return jsonResponse(200,
                           store::evictionToJson(report.value(), clock_.unixSeconds(), dry_run));
  }
  co_return errorJson(404, "no such admin resource");
}

}  // namespace pullcache::server
