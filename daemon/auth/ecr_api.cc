#include "daemon/auth/ecr_api.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace pullcache::auth {
SigV4Request getAuthorizationTokenRequest(const std::string& api_host) {
  SigV4Request r;
  r.method = "POST";
  r.host = api_host;
  r.path = "/";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", std::string(kGetAuthorizationTokenTarget)}};
  r.payload = "{}";
  return r;
}

Result<EcrToken> parseGetAuthorizationTokenResponse(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("authorizationData") || !j["authorizationData"].is_array() ||
      j["authorizationData"].empty() || !j["authorizationData"][0].is_object()) {
    return fail(Errc::kUpstreamBadResponse, "GetAuthorizationToken: no authorizationData");
  }
  const auto& d = j["authorizationData"][0];
  if (!d.contains("authorizationToken") || !d["authorizationToken"].is_string() ||
      !d.contains("expiresAt") || !d["expiresAt"].is_number()) {
    return fail(Errc::kUpstreamBadResponse,
                "GetAuthorizationToken: authorizationToken or expiresAt missing");
  }
  std::string token = d["authorizationToken"].get<std::string>();
  auto decoded = base64Decode(token);
  if (!decoded || !decoded->starts_with("AWS:") || decoded->size() <= 4) {
    return fail(Errc::kUpstreamBadResponse,
                "GetAuthorizationToken: the token is not base64 of AWS:<password>");
  }
  const double expires = d["expiresAt"].get<double>();  // epoch seconds, may have a fraction
  if (!std::isfinite(expires) || expires <= 0)
    return fail(Errc::kUpstreamBadResponse, "GetAuthorizationToken: bad expiresAt");
  return EcrToken{Secret(std::move(token)),
                  std::chrono::system_clock::time_point(
                      std::chrono::milliseconds(static_cast<std::int64_t>(expires * 1000)))};
}

}  // namespace pullcache::auth
