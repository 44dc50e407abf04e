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
#include "common/source_path.h"
#include "daemon/auth/auth_provider.h"
#include "daemon/auth/aws_credentials.h"
#include "daemon/auth/ecr_auth.h"
#include "daemon/config/config.h"
#include "daemon/http/client.h"
#include "daemon/metrics/metrics.h"
#include "daemon/upstream/source_breaker.h"

namespace pullcache::upstream {

// One registry an upstream's requests can go to, and how (auth, where to connect).
struct Source {
  SourcePath path;       // the registry this source is, and its repository prefix
  std::string base_url;  // scheme://host[:port] requests go to
  // Redirect targets and token realms may be non-public addresses: the source itself is on
  // one (a registry inside the VPC) or the config says so.
  bool private_redirects_ok = false;
  std::shared_ptr<auth::AuthProvider> auth;
  metrics::UpstreamMetrics* metrics =
      nullptr;  // never null when built by UpstreamRouter with metrics
  // Only when the upstream lists more than one source.
  std::shared_ptr<SourceBreaker> breaker;
  metrics::SourceMetrics* source_metrics = nullptr;
};

struct Upstream {
  std::string host;         // registry host as clients name it, e.g. "docker.io"
  bool docker_hub = false;  // one-segment names get "library/"
  // In order: a request goes to the first that answers (see RegistryClient). One, unless the
  // config lists upstreams[].sources.
  std::vector<Source> sources;
  // The upstream's own series (image pulls, verify failures): its only source's when it has one.
  metrics::UpstreamMetrics* metrics = nullptr;

  // The client's repository name, normalised (Docker Hub's "nginx" is "library/nginx"): what
  // tags are keyed by, and what each source's prefix is put before.
  [[nodiscard]] std::string upstreamName(const std::string& name) const;
};

class UpstreamRouter {
 public:
  // `env`: where the AWS credential chain reads its variables (the process environment unless
  // a test injects one).
  UpstreamRouter(const config::Config& config, http::Client& http, const Clock& clock,
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
  Result<Source> buildSource(const config::SourceConfig& config, SourcePath path);
  std::shared_ptr<auth::EcrTokenSource> ecrSource(const EcrRegistry& registry);

  std::vector<config::UpstreamConfig> entries_;
  std::string default_upstream_;
  std::chrono::milliseconds request_timeout_;
  http::Client& http_;
  const Clock& clock_;
  metrics::Metrics* metrics_;
  config::AwsConfig aws_;
  config::SourceBreakerConfig breaker_;
  auth::EnvLookup env_;
  std::once_flag chain_once_;
  std::unique_ptr<auth::AwsCredentialChain> chain_;
  std::mutex mu_;
  // One ECR token per (region, API endpoint), shared by the upstreams of that region.
  std::map<std::string, std::shared_ptr<auth::EcrTokenSource>> ecr_sources_;      // guarded by mu_
  std::map<std::string, std::shared_ptr<const Upstream>, std::less<>> resolved_;  // guarded by mu_
};

}  // namespace pullcache::upstream
