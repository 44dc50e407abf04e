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
#include "daemon/auth/aws_credentials.h"
#include "daemon/auth/ecr_auth.h"
#include "daemon/config/config.h"
#include "daemon/metrics/metrics.h"
#include "daemon/upstream/upstream_client.h"

namespace pullcache::upstream {

struct Upstream {
  std::string host;         // registry host as clients name it, e.g. "docker.io"
  std::string base_url;     // scheme://host[:port] requests go to
  bool docker_hub = false;  // one-segment names get "library/"
  // Redirect targets and token realms may be non-public addresses: the upstream itself is on
  // one (a registry inside the VPC) or the config says so.
  bool private_redirects_ok = false;
  std::shared_ptr<auth::AuthProvider> auth;
  metrics::UpstreamMetrics* metrics =
      nullptr;  // never null when built by UpstreamRouter with metrics

  // The repository path to request upstream for a client's name.
  [[nodiscard]] std::string upstreamName(const std::string& name) const;
};

class UpstreamRouter {
 public:
  // `env`: where the AWS credential chain reads its variables (the process environment unless
  // a test injects one).
  UpstreamRouter(const config::Config& config, UpstreamClient& http, const Clock& clock,
                 metrics::Metrics* metrics = nullptr, auth::EnvLookup env = {});
  ~UpstreamRouter();

  // ns empty: the default upstream (kNameUnknown if none is configured).
  Result<std::shared_ptr<const Upstream>> resolve(std::string_view ns);
  // Registry hosts of upstream entries that name one host (no glob), in config order.
  [[nodiscard]] std::vector<std::string> literalHosts() const;
  // The AWS credential chain shared by every ECR upstream (created on first use).
  auth::AwsCredentialChain& awsChain();
  // Stops the ECR token refreshers.
  void stop();

 private:
  Result<std::shared_ptr<const Upstream>> build(const config::UpstreamConfig& entry,
                                                const std::string& host);
  std::shared_ptr<auth::EcrTokenSource> ecrSource(const auth::EcrRegistry& registry);

  std::vector<config::UpstreamConfig> entries_;
  std::string default_upstream_;
  std::chrono::milliseconds request_timeout_;
  UpstreamClient& http_;
  const Clock& clock_;
  metrics::Metrics* metrics_;
  config::AwsConfig aws_;
  auth::EnvLookup env_;
  std::once_flag chain_once_;
  std::unique_ptr<auth::AwsCredentialChain> chain_;
  std::mutex mu_;
  // One ECR token per (region, API endpoint), shared by the upstreams of that region.
  std::map<std::string, std::shared_ptr<auth::EcrTokenSource>> ecr_sources_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<const Upstream>, std::less<>> resolved_;  // guarded by mu_
};

}  // namespace pullcache::upstream
