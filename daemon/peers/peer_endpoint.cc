#include "daemon/peers/peer_endpoint.h"

#include "common/log.h"
#include "common/scope_exit.h"
#include "daemon/peers/peer_token.h"
#include "daemon/server/error_response.h"
#include "daemon/server/router.h"

namespace pullcache::peers {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("peers");
  return log;
}

}  // namespace

// One direct stream of a digest, counted while it lives.
class PeerEndpoint::DirectSlot {
 public:
  DirectSlot(std::shared_ptr<Streams> streams, std::string digest)
      : streams_(std::move(streams)), digest_(std::move(digest)) {}
  ~DirectSlot() {
    std::lock_guard lock(streams_->mu);
    if (auto it = streams_->by_digest.find(digest_);
        it != streams_->by_digest.end() && --it->second == 0)
      streams_->by_digest.erase(it);
  }
  DirectSlot(const DirectSlot&) = delete;
  DirectSlot& operator=(const DirectSlot&) = delete;

 private:
  std::shared_ptr<Streams> streams_;
  std::string digest_;
};

namespace {

// A blob body that also holds a direct-stream slot until the session is done with it.
class SlottedBlob final : public BlobSource {
 public:
  SlottedBlob(std::shared_ptr<BlobSource> inner, std::shared_ptr<void> slot)
      : inner_(std::move(inner)), slot_(std::move(slot)) {}
  [[nodiscard]] int fd() const noexcept override { return inner_->fd(); }
  Task<Result<std::uint64_t>> readable(std::uint64_t offset) override {
    auto r = co_await inner_->readable(offset);
    co_return r;
  }

 private:
  std::shared_ptr<BlobSource> inner_;
  std::shared_ptr<void> slot_;
};

metrics::PeerOutcome outcomeOf(Errc code) {
  switch (code) {
    case Errc::kBlobUnknown:
    case Errc::kManifestUnknown:
    case Errc::kNameUnknown:
    case Errc::kNotFound:
      return metrics::PeerOutcome::kNotFound;
    case Errc::kNameInvalid:
    case Errc::kTagInvalid:
    case Errc::kDigestInvalid:
    case Errc::kRangeInvalid:
    case Errc::kBadRequest:
    case Errc::kUnsupported:
      return metrics::PeerOutcome::kBadRequest;
    default:
      return metrics::PeerOutcome::kError;
  }
}

}  // namespace

PeerEndpoint::PeerEndpoint(registry::RegistryApi& api, upstream::UpstreamRouter& router,
                           Secret secret, const Clock& clock, std::size_t fanout,
                           metrics::PeerMetrics* metrics)
    : api_(api),
      router_(router),
      secret_(std::move(secret)),
      clock_(clock),
      fanout_(fanout),
      metrics_(metrics) {}

std::size_t PeerEndpoint::directStreams(const std::string& digest) const {
  std::lock_guard lock(streams_->mu);
  auto it = streams_->by_digest.find(digest);
  return it == streams_->by_digest.end() ? 0 : it->second;
}

Task<HttpResponse> PeerEndpoint::handle(HttpRequest request, RequestInfo& info) {
  // Whatever the API made of it, and also when something below throws.
  ScopeExit peer_route([&info] { info.route = RouteKind::kPeer; });
  auto resp = co_await serve(std::move(request), info);
  resp.headers.set("Docker-Distribution-API-Version", "registry/2.0");
  co_return resp;
}

Task<HttpResponse> PeerEndpoint::serve(HttpRequest request, RequestInfo& info) {
  const bool head = request.method == "HEAD";
  auto refuse = [&](metrics::PeerOutcome outcome, const Error& e) {
    if (metrics_ != nullptr) metrics_->request(outcome);
    info.cache = CacheResult::kError;
    return server::errorResponse(e, head);
  };
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = refuse(metrics::PeerOutcome::kBadRequest,
                    Error{Errc::kUnsupported, "the peer port serves GET and HEAD only"});
    r.close = true;
    co_return r;
  }
  const bool child = request.headers.get(registry::kHopHeader) == "child";
  if (auto auth = checkPeerAuthorization(
          secret_, request.headers.get("authorization"), clock_.unixSeconds(), request.method,
          request.target, child ? std::string_view("child") : std::string_view("direct"));
      !auth) {
    logger()->debug("refused a peer request: {}", auth.error().detail);
    auto r = refuse(metrics::PeerOutcome::kUnauthorized, auth.error());
    r.headers.set("WWW-Authenticate", "Bearer realm=\"pullcache-peers\"");
    co_return r;
  }
  auto route = server::parseRoute(request.target);
  if (!route) co_return refuse(metrics::PeerOutcome::kBadRequest, route.error());
  const auto kind = route.value().kind;
  if ((kind != RouteKind::kBlob && kind != RouteKind::kManifest) ||
      !route.value().reference.isDigest()) {
    co_return refuse(metrics::PeerOutcome::kNotFound,
                     Error{Errc::kNotFound, "the peer port serves blobs and manifests by digest"});
  }
  if (route.value().ns.empty())
    co_return refuse(metrics::PeerOutcome::kBadRequest,
                     Error{Errc::kBadRequest, "a peer request names its registry with ?ns="});
  if (auto up = router_.resolve(route.value().ns); !up)
    co_return refuse(metrics::PeerOutcome::kNotFound, up.error());

  // Direct streams of one blob are bounded; a tree child is never refused.
  std::shared_ptr<DirectSlot> slot;
  if (kind == RouteKind::kBlob && !head && !child) {
    const std::string digest = route.value().reference.str();
    std::lock_guard lock(streams_->mu);
    std::size_t& n = streams_->by_digest[digest];
    if (n >= fanout_) {
      auto r = refuse(metrics::PeerOutcome::kBusy,
                      Error{Errc::kTooManyRequests,
                            "this member serves " + std::to_string(fanout_) +
                                " direct streams of the blob already; ask your tree parent"});
      // Marked, so that it is not taken for an upstream's 429 passed on; and closed, so that a
      // herd of N members does not leave N idle connections on the root.
      r.headers.set(registry::kBusyHeader, "1");
      r.close = true;
      co_return r;
    }
    ++n;
    slot = std::make_shared<DirectSlot>(streams_, digest);
  }
  auto result = co_await api_.handle(std::move(route).value(), std::move(request), info);
  if (!result) co_return refuse(outcomeOf(result.error().code), result.error());
  HttpResponse resp = std::move(result).value();
  if (metrics_ != nullptr)
    metrics_->request(resp.status < 400 ? metrics::PeerOutcome::kServed
                                        : metrics::PeerOutcome::kBadRequest);
  // The slot lives as long as the body is being sent (the session holds the blob until then).
  if (slot && resp.blob) resp.blob = std::make_shared<SlottedBlob>(std::move(resp.blob), slot);
  co_return resp;
}

}  // namespace pullcache::peers
