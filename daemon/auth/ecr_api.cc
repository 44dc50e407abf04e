#include "daemon/auth/ecr_api.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace pullcache::auth {
namespace {

bool allDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool consume(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

// "us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "eu-central-2"
bool validAwsRegion(std::string_view r) {
  if (r.size() < 5 || r.size() > 32) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return r.front() != '-' && r.back() >= '0' && r.back() <= '9' &&
         r.find("--") == std::string_view::npos;
}

std::string EcrRegistry::apiHost() const {
  if (dual_stack) return std::string(fips ? "ecr-fips." : "ecr.") + region + ".api.aws";
  std::string suffix = china ? ".amazonaws.com.cn" : ".amazonaws.com";
  return (fips ? "ecr-fips." : "api.ecr.") + region + suffix;
}

std::optional<EcrRegistry> parseEcrHost(std::string_view host) {
  EcrRegistry r;
  auto dot = host.find('.');
  if (dot != 12 || !allDigits(host.substr(0, 12))) return std::nullopt;
  r.account = std::string(host.substr(0, 12));
  std::string_view rest = host.substr(13);
  if (consume(rest, "dkr.ecr.")) {
  } else if (consume(rest, "dkr.ecr-fips.")) {
    r.fips = true;
  } else if (consume(rest, "dkr-ecr.")) {
    r.dual_stack = true;
  } else if (consume(rest, "dkr-ecr-fips.")) {
    r.dual_stack = true;
    r.fips = true;
  } else {
    return std::nullopt;
  }
  auto region_end = rest.find('.');
  if (region_end == std::string_view::npos) return std::nullopt;
  r.region = std::string(rest.substr(0, region_end));
  rest = rest.substr(region_end + 1);
  if (!validAwsRegion(r.region)) return std::nullopt;
  if (r.dual_stack) {
    if (rest != "on.aws") return std::nullopt;
  } else if (rest == "amazonaws.com.cn") {
    r.china = true;
  } else if (rest != "amazonaws.com") {
    return std::nullopt;
  }
  return r;
}

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
