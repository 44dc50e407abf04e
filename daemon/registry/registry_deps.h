#pragma once
// What the registry API's handlers work with; owned by App, outliving every request.

#include <chrono>
#include <cstdint>

#include "common/asio.h"
#include "common/clock.h"
#include "daemon/index/index.h"
#include "daemon/metrics/metrics.h"
#include "daemon/registry/fetch_coordinator.h"
#include "daemon/registry/peer_source.h"
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

}  // namespace pullcache::registry
