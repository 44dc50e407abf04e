#pragma once
// What the AWS credential sources answer, parsed: STS (XML), the container credentials endpoint
// and IMDS (JSON), the shared credentials file (ini), and AWS error bodies. Pure functions; the
// providers that fetch these are in aws_credentials.h.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/sigv4.h"

namespace pullcache::auth {

struct TimedCredentials {
  AwsCredentials credentials;
  std::optional<std::chrono::system_clock::time_point> expiration;  // nullopt: long-term keys
  std::string provider;  // which provider answered: "environment", "web-identity", ...
  std::string identity;  // role ARN, profile or IMDS role name: for logs and doctor, not secret
};

// What an AWS API answered when it refused: "AccessDenied: User ... is not authorized ...".
struct AwsError {
  std::string code;
  std::string message;
};
// JSON protocol errors ({"__type": "...#Code", "message": ...}, or the x-amzn-ErrorType header).
AwsError parseAwsJsonError(std::string_view body, std::string_view error_type_header);
// Query protocol errors (<ErrorResponse><Error><Code>..</Code><Message>..</Message>).
AwsError parseAwsXmlError(std::string_view body);

// Pure parsers, exposed for the unit tests.
// "2026-11-22T07:00:00Z", optional fraction, "Z" or "+00:00".
std::optional<std::chrono::system_clock::time_point> parseIso8601Utc(std::string_view text);
// A profile's static keys from an ini-format credentials file; nullopt if the profile is absent.
Result<std::optional<AwsCredentials>> parseCredentialsFile(std::string_view text,
                                                           std::string_view profile);
// The AssumeRoleWithWebIdentity XML answer.
Result<TimedCredentials> parseAssumeRoleWithWebIdentityResponse(std::string_view xml);
// The JSON of the container credentials endpoint and of IMDS security-credentials/<role>.
Result<TimedCredentials> parseCredentialsJson(std::string_view body);

}  // namespace pullcache::auth
