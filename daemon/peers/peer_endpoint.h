#pragma once
// The peer port's handler: what one node serves the others. Only GET and HEAD of blobs and
// manifests by digest (never tags), only for registries this node's own config names (an ns it
// does not know is 404: no request forgery through peers), and only with a valid peer token
// (peer_token.h; anything else is 401 and counted). A blob this node does not hold is fetched
// the way its own clients' are (single-flight, verified before it is kept), so every hop of a
// distribution tree streams while it writes.
//
// At most `fanout` direct streams of one blob at once (requests from members that are not
// its tree children): the next ones are 429, and the requester goes to its tree parent.

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/secret.h"
#include "daemon/metrics/metrics.h"
#include "daemon/registry/registry_api.h"
#include "daemon/server/request_handler.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache::peers {

class PeerEndpoint final : public server::RequestHandler {
 public:
  PeerEndpoint(registry::RegistryApi& api, upstream::UpstreamRouter& router, Secret secret,
               const Clock& clock, std::size_t fanout, metrics::PeerMetrics* metrics = nullptr);
  Task<HttpResponse> handle(HttpRequest request, RequestInfo& info) override;

  // Direct streams of a digest in progress (for tests).
  [[nodiscard]] std::size_t directStreams(const std::string& digest) const;

 private:
  // Direct streams per digest; shared with the slots that outlive a handle() call.
  struct Streams {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::size_t> by_digest;  // guarded by mu
  };
  class DirectSlot;
  Task<HttpResponse> serve(HttpRequest request, RequestInfo& info);

  registry::RegistryApi& api_;
  upstream::UpstreamRouter& router_;
  Secret secret_;
  const Clock& clock_;
  std::size_t fanout_;
  metrics::PeerMetrics* metrics_;
  std::shared_ptr<Streams> streams_ = std::make_shared<Streams>();
};

}  // namespace pullcache::peers
