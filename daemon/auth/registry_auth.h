#pragma once
// The Docker/OCI registry auth flows, as one provider with three modes:
//   anonymous: no credentials; a Bearer challenge is answered with an anonymous token
//              (Docker Hub, GHCR, quay.io, public ECR and registry.k8s.io need this).
//   basic:     static credentials, sent preemptively as Basic; on a Bearer challenge they are
//              presented to the token realm instead.
//   token:     static credentials presented only to the token realm, never to the registry.
// Tokens are cached per repository until shortly before `expires_in`.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "common/clock.h"
#include "daemon/auth/auth_provider.h"
#include "daemon/auth/docker_config.h"
#include "daemon/http/client.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::auth {

class RegistryAuth final : public AuthProvider {
 public:
  enum class Mode { kAnonymous, kBasic, kToken };

  struct Options {
    Mode mode = Mode::kAnonymous;
    std::string registry_host;  // for docker_config lookups ("docker.io")
    std::string own_host;       // host[:port] requests go to; the only one credentials are used for
    std::optional<Credentials> credentials;
    std::string docker_config;  // path; read at each token fetch so rotated secrets are picked up
    bool allow_http_realm =
        false;  // only when the registry itself is plain http (tests, local mirrors)
    bool allow_non_public_realm = false;  // a realm on another host may be a private address
    std::chrono::milliseconds request_timeout{30'000};
    metrics::UpstreamMetrics* metrics = nullptr;
  };

  RegistryAuth(Options options, http::Client& http, const Clock& clock);

  [[nodiscard]] std::string_view name() const noexcept override { return modeName(options_.mode); }
  static std::string_view modeName(Mode mode) noexcept;
  Task<Result<std::string>> authorization(std::string host, std::string repository) override;
  Task<Result<std::string>> onChallenge(std::string host, std::string repository,
                                        std::string www_authenticate,
                                        std::string rejected) override;

 private:
  struct CachedToken {
    Secret header;  // "Bearer <token>"
    std::chrono::system_clock::time_point expires;
  };
  // Credentials for `host`: none unless it is the upstream's own host.
  Result<std::optional<Credentials>> credentials(const std::string& host) const;
  Task<Result<std::string>> fetchToken(std::string host, std::string repository, std::string realm,
                                       std::string service, std::string scope);

  Options options_;
  http::Client& http_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, CachedToken> tokens_;  // by "host repository"; guarded by mu_
};

}  // namespace pullcache::auth
