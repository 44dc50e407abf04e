#pragma once
// AWS Signature Version 4 (header signing), for ECR's GetAuthorizationToken and the STS calls of
// the credential chain. Pure: the caller supplies the time. Checked against AWS's published
// test vectors (tests/unit/common/sigv4_test.cc).
//
// Scope of what is canonicalised here: the path is used as given (callers send "/" or an
// already URI-encoded path); query parameters are sorted by name then value and must already be
// URI-encoded the AWS way; header names are lowercased, values trimmed and inner runs of spaces
// folded to one.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/secret.h"

namespace pullcache {

struct AwsCredentials {
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;  // temporary credentials (STS, IMDS, IRSA); empty for long-term keys
};

struct SigV4Request {
  std::string method = "GET";
  std::string host;  // sent as the Host header (signed)
  std::string path = "/";
  std::string query;  // "a=1&b=2" (no '?'), already URI-encoded
  std::vector<std::pair<std::string, std::string>> headers;  // more headers to sign
  std::string payload;
};

struct SigV4Signature {
  std::string amz_date;           // X-Amz-Date to send
  std::string canonical_request;  // for diagnostics and tests; contains no secret
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header value
  std::string payload_hash;   // hex sha256 of the payload (X-Amz-Content-Sha256 if wanted)
};

// Signs `request` for `region`/`service` at `now`. The headers to send are the request's own,
// plus Host, X-Amz-Date, X-Amz-Security-Token (temporary credentials) and Authorization.
SigV4Signature signV4(const SigV4Request& request, const AwsCredentials& credentials,
                      const std::string& region, const std::string& service,
                      std::chrono::system_clock::time_point now);

// Lowercase hex of HMAC-SHA256 / SHA-256 (exposed for the tests' intermediate checks).
std::string hmacSha256(const std::string& key, const std::string& data);
std::string hexLower(const std::string& bytes);

}  // namespace pullcache
