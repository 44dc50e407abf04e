#pragma once
// GET/HEAD /v2/<name>/manifests/<tag|digest>.
//
// By digest: immutable, served from the index once fetched and verified.
// By tag: the tag -> digest mapping is trusted for tag_ttl, then revalidated (tag_freshness.h
// decides what each answer means, including stale-if-error).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http_message.h"
#include "common/request_info.h"
#include "common/single_flight.h"
#include "daemon/registry/registry_deps.h"
#include "daemon/registry/route.h"

namespace pullcache::registry {

class ManifestHandler {
 public:
  explicit ManifestHandler(const RegistryDeps& deps) : d_(deps) {}

  Task<Result<HttpResponse>> serve(Route route, HttpRequest request,
                                   std::shared_ptr<const upstream::Upstream> up, RequestInfo& info);

 private:
  struct Fetched {
    Digest digest;
    index::ManifestRecord record;
  };
  // One upstream GET per (upstream, repository, reference, accept) at a time, however many
  // clients ask concurrently (manifest GETs count against registries' pull limits).
  // `trail`: see FetchCoordinator::open.
  Task<Result<Fetched>> fetchManifest(std::shared_ptr<const upstream::Upstream> up,
                                      std::string name, std::string reference, std::string accept,
                                      std::vector<std::string> trail = {});
  Task<Result<Fetched>> fetchManifestOnce(std::shared_ptr<const upstream::Upstream> up,
                                          std::string name, std::string reference,
                                          std::string accept, std::vector<std::string> trail);
  // Cluster mode: the manifest from its root, verified; nullopt: ask the upstream.
  Task<std::optional<http::Response>> manifestFromPeer(std::shared_ptr<const upstream::Upstream> up,
                                                       std::string name, Digest digest,
                                                       std::string accept,
                                                       std::vector<std::string> trail);
  // By tag: with peers, the digest from a HEAD (not counted against Docker Hub's pull limit),
  // then the body by digest through its root; without, a GET by tag.
  Task<Result<Fetched>> fetchByTag(std::shared_ptr<const upstream::Upstream> up, std::string name,
                                   std::string tag, std::string accept,
                                   std::vector<std::string> trail);

  RegistryDeps d_;
  SingleFlight<Result<Fetched>> manifest_flights_;
};

}  // namespace pullcache::registry
