#pragma once
// The pure parts of ECR authentication: which hosts are ECR registries (and their account and
// region), the signed GetAuthorizationToken request, and its answer. No I/O here; the provider
// that fetches and refreshes tokens builds on these.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/secret.h"
#include "common/sigv4.h"

namespace pullcache::auth {

struct EcrRegistry {
  std::string account;  // 12 digits
  std::string region;   // "eu-west-1", "cn-north-1", "us-gov-west-1"
  bool fips = false;
  bool dual_stack = false;
  bool china = false;
  // Where GetAuthorizationToken goes unless an endpoint is configured.
  [[nodiscard]] std::string apiHost() const;
};

// "us-east-1", "cn-north-1", "us-gov-west-1": the shape of an AWS region name.
bool validAwsRegion(std::string_view region);

// <account>.dkr.ecr.<region>.amazonaws.com, .amazonaws.com.cn, <account>.dkr.ecr-fips.<region>...,
// and dual-stack <account>.dkr-ecr[-fips].<region>.on.aws. nullopt for any other host.
std::optional<EcrRegistry> parseEcrHost(std::string_view host);

inline constexpr std::string_view kGetAuthorizationTokenTarget =
    "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

// The signed POST / for `api_host` (Content-Type, X-Amz-Target, body "{}").
SigV4Request getAuthorizationTokenRequest(const std::string& api_host);

struct EcrToken {
  Secret basic;  // authorizationToken: base64("AWS:<password>"), sent as "Basic <token>"
  std::chrono::system_clock::time_point expires_at;
  std::chrono::system_clock::time_point obtained_at;  // set by the caller that fetched it
};

// Parses the JSON answer; checks the token decodes to "AWS:<password>".
Result<EcrToken> parseGetAuthorizationTokenResponse(std::string_view body);

}  // namespace pullcache::auth
