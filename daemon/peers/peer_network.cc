#include "daemon/peers/peer_network.h"

#include <algorithm>

#include "common/log.h"
#include "daemon/peers/peer_token.h"
#include "daemon/peers/ranking.h"

namespace pullcache::peers {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("peers");
  return log;
}

std::string_view reasonName(metrics::PeerError r) {
  switch (r) {
    case metrics::PeerError::kConnect:
      return "no connection";
    case metrics::PeerError::kStatus:
      return "refused or bad answer";
    case metrics::PeerError::kStall:
      return "stalled or cut mid-blob";
    case metrics::PeerError::kDigest:
      return "sent bytes that do not match the digest";
    case metrics::PeerError::kCount:
      break;
  }
  return "error";
}

// The root directly, then the tree parent as a child (one hop when the parent is the root).
std::vector<registry::PeerHop> hopsOf(const Placement& p) {
  if (p.parent == p.root) return {registry::PeerHop{p.root, true}};
  return {registry::PeerHop{p.root, false}, registry::PeerHop{*p.parent, true}};
}

}  // namespace

PeerNetwork::PeerNetwork(const config::PeersConfig& config, Secret secret, Membership& membership,
                         http::Client& http, const Clock& clock, metrics::PeerMetrics* metrics)
    : self_(config.self().str()),
      fanout_(static_cast<std::size_t>(std::max(config.fanout, 1))),
      connect_timeout_(config.connect_timeout),
      secret_(std::move(secret)),
      membership_(membership),
      http_(http),
      clock_(clock),
      metrics_(metrics) {}

std::vector<registry::PeerHop> PeerNetwork::plan(const Digest& digest,
                                                 const std::vector<std::string>& exclude) {
  {
    std::lock_guard lock(mu_);
    if (auto it = poisoned_until_.find(digest.str()); it != poisoned_until_.end()) {
      if (it->second > std::chrono::steady_clock::now()) return {};
      poisoned_until_.erase(it);
    }
  }
  auto view = membership_.view();
  std::vector<std::string> live;
  live.reserve(view->members.size());
  {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    for (const auto& m : view->members) {
      if (m != self_) {
        if (std::find(exclude.begin(), exclude.end(), m) != exclude.end()) continue;
        if (auto it = down_until_.find(m); it != down_until_.end()) {
          if (it->second > now) continue;
          down_until_.erase(it);
        }
      }
      live.push_back(m);
    }
  }
  if (live.size() <= 1) return {};
  if (!view->listed) {
    // Not yet in the others' views: they would not send this node's share of the blobs here,
    // so it never takes the root's part. Where it would, it asks the real root instead.
    live.erase(std::remove(live.begin(), live.end(), self_), live.end());
    const Placement p = place(digest, live, self_, fanout_);
    if (p.selfIsRoot()) return {registry::PeerHop{live[rankMembers(digest, live)[0]], true}};
    return hopsOf(p);
  }
  const Placement p = place(digest, live, self_, fanout_);
  if (p.selfIsRoot()) return {};
  return hopsOf(p);
}

http::Request PeerNetwork::peerRequest(const registry::PeerHop& hop, const std::string& target,
                                       const std::vector<std::string>& trail) const {
  http::Request r;
  r.method = "GET";
  r.url = "http://" + hop.member + target;
  const std::string_view role = hop.as_child ? "child" : "direct";
  r.headers.add("Authorization",
                peerAuthorization(secret_, clock_.unixSeconds(), "GET", target, role));
  r.headers.add(std::string(registry::kHopHeader), std::string(role));
  std::string via;
  for (const auto& t : trail) via += (via.empty() ? "" : ",") + t;
  if (!via.empty()) r.headers.add(std::string(registry::kTrailHeader), std::move(via));
  r.follow_redirects = false;  // a peer answers itself; anything else is a broken peer
  r.allow_non_public = true;   // peers are on the node network...
  r.no_proxy = true;           // ...and never reached through an egress proxy
  r.connect_timeout = connect_timeout_;
  return r;
}

Task<Result<http::Response>> PeerNetwork::streamBlob(registry::PeerHop hop, std::string ns,
                                                     std::string repository, Digest digest,
                                                     std::uint64_t offset,
                                                     std::vector<std::string> trail,
                                                     std::shared_ptr<http::BodySink> sink) {
  const std::string target = "/v2/" + repository + "/blobs/" + digest.str() + "?ns=" + ns;
  http::Request r = peerRequest(hop, target, trail);
  if (offset > 0) r.headers.add("Range", "bytes=" + std::to_string(offset) + "-");
  auto resp = co_await http_.stream(std::move(r), std::move(sink));
  co_return resp;
}

Task<Result<http::Response>> PeerNetwork::getManifest(registry::PeerHop hop, std::string ns,
                                                      std::string repository, Digest digest,
                                                      std::string accept,
                                                      std::vector<std::string> trail,
                                                      std::uint64_t max_body) {
  const std::string target = "/v2/" + repository + "/manifests/" + digest.str() + "?ns=" + ns;
  http::Request r = peerRequest(hop, target, trail);
  if (!accept.empty()) r.headers.add("Accept", std::move(accept));
  r.max_body = max_body;
  auto resp = co_await http_.send(std::move(r));
  co_return resp;
}

void PeerNetwork::poisoned(const Digest& digest) {
  std::lock_guard lock(mu_);
  constexpr std::size_t kMaxPoisoned = 10'000;  // a bound, should a peer send garbage for all
  if (poisoned_until_.size() >= kMaxPoisoned) poisoned_until_.clear();
  poisoned_until_[digest.str()] = std::chrono::steady_clock::now() + kDownFor;
}

void PeerNetwork::failed(const std::string& member, metrics::PeerError reason) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    auto until = std::chrono::steady_clock::now() + kDownFor;
    auto [it, inserted] = down_until_.try_emplace(member, until);
    first = inserted;
    it->second = until;
  }
  if (metrics_ != nullptr) metrics_->fetchError(member, reason);
  if (first)
    logger()->warn("peer {} {}: skipping it for {} s", member, reasonName(reason),
                   kDownFor.count());
}

}  // namespace pullcache::peers
