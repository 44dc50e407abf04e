#include "daemon/server/router.h"

#include "common/digest.h"
#include "common/reference.h"
#include "common/strings.h"
#include "common/url.h"

namespace pullcache::server {

using registry::Route;

Result<Route> parseRoute(std::string_view target) {
  Route route;
  std::string_view path = target;
  std::string_view query;
  if (std::size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (auto ns = queryParam(query, "ns")) {
    if (auto v = validateRegistryHost(*ns); !v)
      return Error{Errc::kNameInvalid, "ns: " + v.error().detail};
    route.ns = std::move(*ns);
  }
  if (path == "/v2" || path == "/v2/") {
    route.kind = RouteKind::kBase;
    return route;
  }
  if (!path.starts_with("/v2/")) return route;  // kOther
  std::string_view rest = path.substr(4);
  // Names never contain '%' (the grammar has no escapes), so an encoded '/' or '.' can never
  // smuggle a path segment past validation.
  if (rest.find('%') != std::string_view::npos)
    return fail(Errc::kNameInvalid, "percent-encoding is not allowed in registry paths");

  auto splitAt =
      [&](std::string_view marker) -> std::optional<std::pair<std::string_view, std::string_view>> {
    std::size_t pos = rest.rfind(marker);
    if (pos == std::string_view::npos || pos == 0) return std::nullopt;
    return std::make_pair(rest.substr(0, pos), rest.substr(pos + marker.size()));
  };

  std::string_view name;
  if (rest.ends_with("/tags/list")) {
    route.kind = RouteKind::kTags;
    name = rest.substr(0, rest.size() - 10);
    std::string q;
    for (const char* key : {"n", "last"}) {
      if (auto v = queryParam(query, key))
        q += (q.empty() ? "" : "&") + std::string(key) + "=" + urlEncode(*v);
    }
    route.query = std::move(q);
  } else if (auto m = splitAt("/manifests/")) {
    route.kind = RouteKind::kManifest;
    name = m->first;
    if (auto v = validateName(name); !v) return v.error();  // a bad name is 400 whatever follows
    auto ref = Reference::parse(m->second);
    // Neither a tag nor a digest: no such manifest can exist (404 MANIFEST_UNKNOWN, what the
    // OCI conformance suite expects); a malformed digest stays 400 DIGEST_INVALID.
    if (!ref && ref.error().code == Errc::kTagInvalid)
      return Error{Errc::kManifestUnknown,
                   "manifest unknown: '" + quoteUntrusted(m->second) + "' is not a valid tag"};
    if (!ref) return ref.error();
    route.reference = std::move(ref).value();
  } else if (auto b = splitAt("/blobs/")) {
    if (b->second.starts_with("uploads")) {
      route.kind = RouteKind::kOther;
      return fail(Errc::kUnsupported, "blob uploads are not supported by a pull-through mirror");
    }
    route.kind = RouteKind::kBlob;
    name = b->first;
    auto d = Digest::parse(b->second);
    if (!d) return d.error();
    route.reference = Reference{std::move(d).value()};
  } else if (auto r = splitAt("/referrers/")) {
    route.kind = RouteKind::kReferrers;
    name = r->first;
    auto d = Digest::parse(r->second);
    if (!d) return d.error();
    route.reference = Reference{std::move(d).value()};
    if (auto v = queryParam(query, "artifactType")) route.query = "artifactType=" + urlEncode(*v);
  } else {
    return route;  // kOther
  }
  if (auto v = validateName(name); !v) return v.error();
  route.name = std::string(name);
  return route;
}

}  // namespace pullcache::server
