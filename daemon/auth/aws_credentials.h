#pragma once
// The AWS credential chain, in the order and with the environment variables of the AWS SDKs:
//
//   environment         AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   web-identity        AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (IRSA): STS
//                       AssumeRoleWithWebIdentity, the token file re-read at every refresh
//   shared-credentials  AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), AWS_PROFILE;
//                       a file that does not exist is skipped, as the SDKs do
//   container           AWS_CONTAINER_CREDENTIALS_FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN
//                       [_FILE]; EKS Pod Identity) or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS)
//   imds                IMDSv2 (PUT token, then iam/security-credentials/<role>);
//                       AWS_EC2_METADATA_DISABLED, AWS_EC2_METADATA_SERVICE_ENDPOINT
//
// The first provider whose variables are present is used; if it then fails, the chain reports
// that failure instead of quietly going on (a broken IRSA set-up must not silently fall back to
// the node role). Temporary credentials are cached and refreshed before their Expiration; one
// fetch at a time, whoever asks.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/sigv4.h"
#include "common/single_flight.h"
#include "daemon/auth/aws_answers.h"
#include "daemon/http/client.h"

namespace pullcache::auth {

// Reads an environment variable; empty when unset or empty. Injectable for tests.
using EnvLookup = std::function<std::string(const std::string&)>;
EnvLookup processEnv();

// Where the AWS APIs are: explicit endpoints (config key, then AWS_ENDPOINT_URL_<SERVICE>,
// then AWS_ENDPOINT_URL) or the regional defaults.
struct AwsSettings {
  std::string region;        // config aws.region; else AWS_REGION / AWS_DEFAULT_REGION / IMDS
  std::string ecr_endpoint;  // config aws.ecr_endpoint
  std::string sts_endpoint;  // config aws.sts_endpoint
};
std::string resolveEndpoint(const std::string& configured, const EnvLookup& env,
                            const std::string& service_env_suffix);  // "ECR", "STS"
std::string defaultStsEndpoint(const std::string& region);  // global STS when region is empty

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  // Whether this environment configures the provider (its variables are present).
  [[nodiscard]] virtual bool configured() const = 0;
  // One fetch; errors name the provider and the AWS error code, never a secret.
  virtual Task<Result<TimedCredentials>> fetch() = 0;
};

struct ChainOptions {
  EnvLookup env;         // processEnv() unless a test injects one
  AwsSettings settings;  // region and STS endpoint for web identity
  std::string home;      // for ~/.aws/credentials; $HOME when empty
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds imds_timeout{2'000};  // IMDS answers fast or not at all
};

// The SDK-ordered list of providers.
std::vector<std::unique_ptr<CredentialProvider>> defaultProviders(const ChainOptions& options,
                                                                  http::Client& http,
                                                                  const Clock& clock);

// Region from the environment (AWS_REGION, AWS_DEFAULT_REGION), else IMDS; empty if none.
Task<std::string> discoverRegion(EnvLookup env, http::Client& http,
                                 std::chrono::milliseconds timeout);

class AwsCredentialChain {
 public:
  AwsCredentialChain(std::vector<std::unique_ptr<CredentialProvider>> providers,
                     const Clock& clock);

  // Cached credentials while they are fresh; otherwise one fetch (concurrent callers share it).
  // Credentials are refreshed 5 minutes before expiry (at half their lifetime if that is
  // sooner); when a
  // refresh fails while the old ones are still valid, those are used and the error logged.
  Task<Result<TimedCredentials>> get();
  // Drops the cache (the credentials were refused).
  void invalidate();
  // Names of the providers this environment configures, in order (for doctor).
  [[nodiscard]] std::vector<std::string> configuredProviders() const;

 private:
  Task<Result<TimedCredentials>> fetchFromChain();
  [[nodiscard]] bool fresh(const TimedCredentials& c) const;

  std::vector<std::unique_ptr<CredentialProvider>> providers_;
  const Clock& clock_;
  std::mutex mu_;
  std::optional<TimedCredentials> cached_;             // guarded by mu_
  std::chrono::system_clock::time_point obtained_at_;  // of cached_; guarded by mu_
  SingleFlight<Result<TimedCredentials>> flight_;
};

}  // namespace pullcache::auth
