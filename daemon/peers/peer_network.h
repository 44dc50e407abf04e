#pragma once
// Cluster mode's client side: ranks the live members for a blob (rendezvous hashing, see
// ranking.h), says whom to ask, and asks them over the peer port with a signed token.
//
// The plan for a blob, from this node: if it is the blob's root, the upstream. Otherwise the
// root directly (fewest hops when few nodes want the blob), and if the root refuses as busy
// (it serves at most `fanout` direct streams per blob), this node's parent in the blob's
// distribution tree, which never refuses a child: so a herd of N nodes forms the tree, at most
// 2 x fanout streams per node per blob, and a lone puller costs no intermediate copies.
// A member that fails is skipped for kDownFor; the plan is then made again without it (the next
// member becomes the root), and the upstream comes last.

#include <chrono>
#include <map>
#include <mutex>

#include "common/clock.h"
#include "common/secret.h"
#include "daemon/config/config.h"
#include "daemon/peers/membership.h"
#include "daemon/registry/peer_source.h"

namespace pullcache::peers {

class PeerNetwork final : public registry::PeerSource {
 public:
  static constexpr std::chrono::seconds kDownFor{15};

  PeerNetwork(const config::PeersConfig& config, Secret secret, Membership& membership,
              http::Client& http, const Clock& clock, metrics::PeerMetrics* metrics = nullptr);

  [[nodiscard]] const std::string& self() const override { return self_; }
  std::vector<registry::PeerHop> plan(const Digest& digest,
                                      const std::vector<std::string>& exclude) override;
  Task<Result<http::Response>> streamBlob(registry::PeerHop hop, std::string ns,
                                          std::string repository, Digest digest,
                                          std::uint64_t offset, std::vector<std::string> trail,
                                          std::shared_ptr<http::BodySink> sink) override;
  Task<Result<http::Response>> getManifest(registry::PeerHop hop, std::string ns,
                                           std::string repository, Digest digest,
                                           std::string accept, std::vector<std::string> trail,
                                           std::uint64_t max_body) override;
  void failed(const std::string& member, metrics::PeerError reason) override;
  void poisoned(const Digest& digest) override;

 private:
  http::Request peerRequest(const registry::PeerHop& hop, const std::string& target,
                            const std::vector<std::string>& trail) const;

  const std::string self_;
  const std::size_t fanout_;
  const std::chrono::milliseconds connect_timeout_;
  Secret secret_;
  Membership& membership_;
  http::Client& http_;
  const Clock& clock_;
  metrics::PeerMetrics* metrics_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> down_until_;  // guarded by mu_
  // Digests fetched from the upstream only, until then (their bytes from peers were wrong).
  std::map<std::string, std::chrono::steady_clock::time_point> poisoned_until_;  // mu_
};

}  // namespace pullcache::peers
