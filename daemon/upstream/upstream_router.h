#pragma once
// Maps the registry host containerd names in ?ns= to an upstream: its base URL and its auth
// provider. Hosts that match no upstreams[] entry are refused (kNameUnknown): pullcache never
// connects to a host its config does not name.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "daemon/auth/auth_provider.h"
#include "daemon/config/config.h"
#include "daemon/metrics/metrics.h"
#include "daemon/upstream/upstream_client.h"

namespace pullcache::upstream {

struct Upstream {
  std::string host;         // registry host as clients name it, e.g. "docker.io"
  std::string base_url;     // scheme://host[:port] requests go to
  bool docker_hub = false;  // one-segment names get "library/"
  std::shared_ptr<auth::AuthProvider> auth;
  metrics::UpstreamMetrics* metrics =
      nullptr;  // never null when built by UpstreamRouter with metrics

  // The repository path to request upstream for a client's name.
  [[nodiscard]] std::string upstreamName(const std::string& name) const;
};

class UpstreamRouter {
 public:
  UpstreamRouter(const config::Config& config, UpstreamClient& http, const Clock& clock,
                 metrics::Metrics* metrics = nullptr);

  // ns empty: the default upstream (kNameUnknown if none is configured).
  Result<std::shared_ptr<const Upstream>> resolve(std::string_view ns);

 private:
  std::shared_ptr<const Upstream> build(const config::UpstreamConfig& entry,
                                        const std::string& host);

  std::vector<config::UpstreamConfig> entries_;
  std::string default_upstream_;
  std::chrono::milliseconds request_timeout_;
  UpstreamClient& http_;
  const Clock& clock_;
  metrics::Metrics* metrics_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Upstream>, std::less<>> resolved_;  // guarded by mu_
};

}  // namespace pullcache::upstream
