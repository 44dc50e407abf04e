#pragma once
// The pure parts of ECR authentication: the signed GetAuthorizationToken request and its answer
// (which hosts are ECR registries is common/ecr_host.h). No I/O here; the provider that fetches
// and refreshes tokens builds on these.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/ecr_host.h"
#include "common/error.h"
#include "common/secret.h"
#include "common/sigv4.h"

namespace pullcache::auth {

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
