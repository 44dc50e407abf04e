#pragma once
// A parsed registry API request target (see daemon/server/router.h for the parser).

#include <string>

#include "common/reference.h"
#include "common/request_info.h"

namespace pullcache::registry {

struct Route {
  RouteKind kind = RouteKind::kOther;
  std::string name;  // repository, validated
  // Parsed once, by the router: a tag or a digest (manifests), a digest (blobs, referrers).
  Reference reference;
  std::string ns;     // registry host from ?ns=, validated; empty if absent
  std::string query;  // pass-through query for tags/list (n, last) and referrers (artifactType)
};

}  // namespace pullcache::registry
