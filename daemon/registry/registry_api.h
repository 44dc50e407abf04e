#pragma once
// The OCI distribution pull API, as functions from (route, request) to response. No sockets:
// the server feeds it parsed requests and writes what it returns.

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "common/asio.h"
#include "common/clock.h"
#include "common/http_message.h"
#include "common/single_flight.h"
#include "daemon/index/index.h"
#include "daemon/registry/fetch_coordinator.h"
#include "daemon/registry/route.h"
#include "daemon/upstream/registry_client.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache::registry {

struct RegistryDeps {
  asio::thread_pool& pool;
  index::Index& index;
  upstream::UpstreamRouter& router;
  upstream::RegistryClient& client;
  FetchCoordinator& fetches;
  const Clock& clock;
  std::chrono::milliseconds tag_ttl;
  metrics::Metrics* metrics = nullptr;
  // Manifests (and tag lists) larger than this are refused: 502 SIZE_INVALID.
  std::uint64_t max_manifest_bytes = 4u << 20;  // as containerd
  // Cluster mode: manifests by digest come through the digest's root, like blobs.
  PeerSource* peers = nullptr;
};

class RegistryApi {
 public:
  explicit RegistryApi(RegistryDeps deps) : d_(deps) {}

  // Errors come back as Error (mapped to status + OCI body by the server); a response that
  // is already an answer (including 416) comes back as a value.
  Task<Result<HttpResponse>> handle(Route route, HttpRequest request);

 private:
  Task<Result<HttpResponse>> blob(Route route, HttpRequest request,
                                  std::shared_ptr<const upstream::Upstream> up);
  Task<Result<HttpResponse>> manifest(Route route, HttpRequest request,
                                      std::shared_ptr<const upstream::Upstream> up);
  Task<Result<HttpResponse>> passThrough(Route route, HttpRequest request,
                                         std::shared_ptr<const upstream::Upstream> up);

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
