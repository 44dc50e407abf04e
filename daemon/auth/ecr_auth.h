#pragma once
// ECR authentication: a token from GetAuthorizationToken (SigV4-signed with the credential
// chain's credentials) sent to the registry as "Basic <token>".
//
// EcrTokenSource holds one token per (region, API endpoint), shared by every upstream of that
// region. It is refreshed in the background at half its remaining lifetime (with jitter, so a
// fleet of nodes does not refresh in step), the current token stays in use meanwhile, failures
// are retried with backoff, and concurrent callers never cause concurrent fetches.
//
// EcrAuth is the AuthProvider of one ECR upstream: the token goes to the upstream's own host
// only, never to a host it redirects to (S3 rejects a pre-signed URL that also carries an
// Authorization header); a 401/403 from the registry ("token has expired") refreshes once.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/single_flight.h"
#include "daemon/auth/auth_provider.h"
#include "daemon/auth/aws_credentials.h"
#include "daemon/auth/ecr_api.h"
#include "daemon/http/client.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::auth {

// When to refresh a token next: half the remaining lifetime, minus up to 10% of it
// (`jitter` in [0, 1]), at least one second from now.
std::chrono::system_clock::duration ecrRefreshDelay(std::chrono::system_clock::time_point now,
                                                    std::chrono::system_clock::time_point expires,
                                                    double jitter);
// Retry delay after `failures` consecutive failed fetches: 1 s doubling to 60 s.
std::chrono::milliseconds ecrRetryDelay(int failures);

class EcrTokenSource : public std::enable_shared_from_this<EcrTokenSource> {
 public:
  struct Options {
    std::string region;
    std::string api_endpoint;  // scheme://host[:port], no trailing slash
    std::chrono::milliseconds request_timeout{10'000};
  };
  EcrTokenSource(Options options, AwsCredentialChain& chain, http::Client& http,
                 const Clock& clock);

  // The current token if it is valid for 30 s more (a quarter of its lifetime if shorter), else a
  // fetch (shared by concurrent callers). The first call starts the background refresher on the
  // caller's executor.
  Task<Result<Secret>> token();
  // The registry refused `rejected`: fetch a new token unless another caller already has.
  Task<Result<Secret>> refreshAfterRejection(Secret rejected);
  void addMetrics(metrics::UpstreamMetrics* m);
  // Stops the background refresher (daemon shutdown).
  void stop();

  struct Status {
    bool have_token = false;
    std::chrono::system_clock::time_point expires_at;
    std::string credentials;  // provider and identity that signed the last fetch
  };
  [[nodiscard]] Status status() const;
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Task<Result<Secret>> fetchShared();
  Task<Result<Secret>> fetch();
  Task<void> refreshLoop(std::shared_ptr<EcrTokenSource> self);
  void logFailure(const std::string& what);

  Options options_;
  AwsCredentialChain& chain_;
  http::Client& http_;
  const Clock& clock_;
  SingleFlight<Result<Secret>> flight_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  mutable std::mutex mu_;
  std::optional<EcrToken> current_;                                              // guarded by mu_
  std::string credentials_;                                                      // guarded by mu_
  int failures_ = 0;                                                             // guarded by mu_
  std::optional<std::chrono::system_clock::time_point> last_rejection_refresh_;  // guarded by mu_
  std::vector<metrics::UpstreamMetrics*> metrics_;                               // guarded by mu_
  std::shared_ptr<asio::steady_timer> timer_;                                    // guarded by mu_
  std::string last_error_;                                                       // guarded by mu_
  std::chrono::steady_clock::time_point last_error_logged_{};                    // guarded by mu_
};

class EcrAuth final : public AuthProvider {
 public:
  EcrAuth(std::string own_host, std::shared_ptr<EcrTokenSource> source)
      : own_host_(std::move(own_host)), source_(std::move(source)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "ecr"; }
  Task<Result<std::string>> authorization(std::string host, std::string repository) override;
  Task<Result<std::string>> onChallenge(std::string host, std::string repository,
                                        std::string www_authenticate,
                                        std::string rejected) override;
  [[nodiscard]] bool refreshOnForbidden() const noexcept override { return true; }
  [[nodiscard]] const std::shared_ptr<EcrTokenSource>& source() const { return source_; }

 private:
  std::string own_host_;
  std::shared_ptr<EcrTokenSource> source_;
};

}  // namespace pullcache::auth
