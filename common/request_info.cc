#include "common/request_info.h"

namespace pullcache {

std::string_view routeKindName(RouteKind kind) noexcept {
  switch (kind) {
    case RouteKind::kBase:
      return "base";
    case RouteKind::kManifest:
      return "manifest";
    case RouteKind::kBlob:
      return "blob";
    case RouteKind::kTags:
      return "tags";
    case RouteKind::kReferrers:
      return "referrers";
    case RouteKind::kOther:
      return "other";
    case RouteKind::kHealth:
      return "health";
    case RouteKind::kAdmin:
      return "admin";
    case RouteKind::kPeer:
      return "peer";
  }
  return "other";
}

std::string_view cacheResultName(CacheResult r) noexcept {
  switch (r) {
    case CacheResult::kNone:
      return "-";
    case CacheResult::kHit:
      return "hit";
    case CacheResult::kMiss:
      return "miss";
    case CacheResult::kCoalesced:
      return "coalesced";
    case CacheResult::kStale:
      return "stale";
    case CacheResult::kPassThrough:
      return "pass";
    case CacheResult::kError:
      return "error";
  }
  return "-";
}

}  // namespace pullcache
