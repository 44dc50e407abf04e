#pragma once
// Cluster mode as the fetch path sees it: other nodes to get a blob from before the upstream.
// Implemented by peers::PeerNetwork (daemon/peers/peer_network.h); the registry layer does not
// depend on how members are found or ranked.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "common/digest.h"
#include "daemon/http/client.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::registry {

// One member to ask for a blob, and in which role.
struct PeerHop {
  std::string member;  // "IP:port"
  // The member is this node's parent in the blob's distribution tree: it never refuses a child
  // as busy. Otherwise this is a direct request to the blob's root, which it may refuse (429)
  // past `peers.fanout` concurrent direct streams.
  bool as_child = false;
};

class PeerSource {
 public:
  virtual ~PeerSource() = default;
  [[nodiscard]] virtual const std::string& self() const = 0;
  // Members to try for `digest`, in order, before the upstream; empty: the upstream (this node
  // is the blob's root, or it is alone). `exclude`: members not to ask (already failed in this
  // fetch, or on the request's trail, waiting for this node).
  virtual std::vector<PeerHop> plan(const Digest& digest,
                                    const std::vector<std::string>& exclude) = 0;
  // GET of the blob from `hop`, from byte `offset` (Range when > 0); a 2xx body goes to `sink`.
  // `trail`: the members this request has passed through, this node last.
  virtual Task<Result<http::Response>> streamBlob(PeerHop hop, std::string ns,
                                                  std::string repository, Digest digest,
                                                  std::uint64_t offset,
                                                  std::vector<std::string> trail,
                                                  std::shared_ptr<http::BodySink> sink) = 0;
  // GET of a manifest by digest from `hop` (buffered, up to `max_body`).
  virtual Task<Result<http::Response>> getManifest(PeerHop hop, std::string ns,
                                                   std::string repository, Digest digest,
                                                   std::string accept,
                                                   std::vector<std::string> trail,
                                                   std::uint64_t max_body) = 0;
  // `member` failed: it is skipped for a while (a peer that is down costs one connect timeout,
  // not one per blob).
  virtual void failed(const std::string& member, metrics::PeerError reason) = 0;
  // Bytes of `digest` that came through peers did not hash to it: the copy that went bad may be
  // anywhere up the tree, and a resumed fetch keeps the bytes it has, so the next fetches of this
  // digest go to the upstream for a while.
  virtual void poisoned(const Digest& digest) = 0;
};

// The trail header: "a,b,c" (the peers a request has passed through).
inline constexpr std::string_view kTrailHeader = "Pullcache-Trail";

// The trail header's members; the last 64 (a trail is as long as a tree is deep, and the
// nearest members are the ones a loop would come back through).
inline std::vector<std::string> parseTrail(std::string_view header) {
  std::vector<std::string> trail;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    if (auto m = header.substr(0, comma); !m.empty()) trail.emplace_back(m);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
  }
  if (trail.size() > 64) trail.erase(trail.begin(), trail.end() - 64);
  return trail;
}
inline constexpr std::string_view kHopHeader = "Pullcache-Hop";  // "child" | "direct"
// On a 429 of the peer port's own: the member is busy (an upstream's 429 passed on lacks it).
inline constexpr std::string_view kBusyHeader = "Pullcache-Busy";

}  // namespace pullcache::registry
