#pragma once
// A parsed registry API request target (see daemon/server/router.h for the parser).

#include <string>

namespace pullcache::registry {

enum class RouteKind { kBase, kManifest, kBlob, kTags, kReferrers, kOther };

struct Route {
  RouteKind kind = RouteKind::kOther;
  std::string name;       // repository, validated
  std::string reference;  // tag or digest (manifests), digest (blobs, referrers), validated
  std::string ns;         // registry host from ?ns=, validated; empty if absent
  std::string query;      // pass-through query for tags/list (n, last) and referrers (artifactType)
};

std::string_view routeKindName(RouteKind kind) noexcept;

}  // namespace pullcache::registry
