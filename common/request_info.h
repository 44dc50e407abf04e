#pragma once
// What one request was, for the access log and the metrics (Envoy's StreamInfo, small): the
// session makes one per request and hands it to the handler, which fills in what it learns (the
// route, the repository, where the bytes came from), and reads it once the response is written.
// The response carries only what goes on the wire.

#include <cstdint>
#include <string>
#include <string_view>

namespace pullcache {

// Which API a request was for. The first six are the registry API's (and the metrics' route
// label, which counts the other listeners' requests as "other").
enum class RouteKind { kBase, kManifest, kBlob, kTags, kReferrers, kOther, kHealth, kAdmin, kPeer };
std::string_view routeKindName(RouteKind kind) noexcept;

// Which path served a request.
enum class CacheResult { kNone, kHit, kMiss, kCoalesced, kStale, kPassThrough, kError };
std::string_view cacheResultName(CacheResult r) noexcept;

struct RequestInfo {
  RouteKind route = RouteKind::kOther;
  CacheResult cache = CacheResult::kNone;
  std::string ns;                 // the registry host the request is for (validated)
  std::string repository;         // validated
  std::string reference;          // tag or digest
  std::int64_t upstream_ms = -1;  // waited for the upstream (or a peer); -1: not asked
};

}  // namespace pullcache
