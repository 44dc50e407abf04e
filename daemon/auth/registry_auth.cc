#include "daemon/auth/registry_auth.h"

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/url.h"
#include "daemon/auth/challenge.h"
#include "daemon/http/redirect.h"

namespace pullcache::auth {
namespace {

constexpr std::size_t kMaxTokenEntries = 4096;

std::string basicHeader(const Credentials& c) {
  return "Basic " + base64Encode(c.username + ":" + c.password.reveal());
}

}  // namespace

RegistryAuth::RegistryAuth(Options options, http::Client& http, const Clock& clock)
    : options_(std::move(options)), http_(http), clock_(clock) {}

std::string_view RegistryAuth::modeName(Mode mode) noexcept {
  switch (mode) {
    case Mode::kAnonymous:
      return "anonymous";
    case Mode::kBasic:
      return "basic";
    case Mode::kToken:
      return "token";
  }
  return "anonymous";
}

Result<std::optional<Credentials>> RegistryAuth::credentials(const std::string& host) const {
  // A host the upstream redirected to (or its token realm) never sees our credentials.
  if (options_.mode == Mode::kAnonymous || host != options_.own_host) {
    return std::optional<Credentials>{};
  }
  if (options_.credentials) return options_.credentials;
  if (!options_.docker_config.empty())
    return lookupDockerConfig(options_.docker_config, options_.registry_host);
  return std::optional<Credentials>{};
}

Task<Result<std::string>> RegistryAuth::authorization(std::string host, std::string repository) {
  const std::string key = host + " " + repository;
  {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end()) {
      if (it->second.expires > clock_.now()) co_return it->second.header.reveal();
      tokens_.erase(it);
    }
  }
  if (options_.mode == Mode::kBasic) {
    auto creds = credentials(host);
    if (!creds) co_return creds.error();
    if (creds.value()) co_return basicHeader(*creds.value());
  }
  co_return std::string();
}

Task<Result<std::string>> RegistryAuth::onChallenge(std::string host, std::string repository,
                                                    std::string www_authenticate,
                                                    std::string rejected) {
  if (!rejected.empty()) {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(host + " " + repository);
    if (it != tokens_.end() && it->second.header.reveal() == rejected) tokens_.erase(it);
  }
  auto challenges = parseChallenges(www_authenticate);
  if (!challenges) co_return challenges.error();
  for (const auto& ch : challenges.value()) {
    if (ch.scheme == "bearer") {
      std::string realm = ch.param("realm");
      if (realm.empty())
        co_return fail(Errc::kUpstreamBadResponse, "Bearer challenge without realm");
      std::string scope = ch.param("scope");
      if (scope.empty()) scope = "repository:" + repository + ":pull";
      auto header = co_await fetchToken(host, repository, realm, ch.param("service"), scope);
      if (options_.metrics != nullptr) options_.metrics->token_refreshes[header ? 0 : 1].inc();
      // Even when it equals the rejected one: the caller sends it once more and takes the
      // registry's second refusal as its answer (one challenge per host per request).
      co_return header;
    }
  }
  for (const auto& ch : challenges.value()) {
    if (ch.scheme == "basic") {
      auto creds = credentials(host);
      if (!creds) co_return creds.error();
      if (!creds.value())
        co_return fail(Errc::kUnauthorized,
                       "the registry asks for credentials and none are configured");
      std::string header = basicHeader(*creds.value());
      if (header == rejected)
        co_return fail(Errc::kUnauthorized, "the registry rejected the configured credentials");
      co_return header;
    }
  }
  co_return fail(Errc::kUnauthorized,
                 "no supported authentication scheme in the registry's challenge");
}

Task<Result<std::string>> RegistryAuth::fetchToken(std::string host, std::string repository,
                                                   std::string realm, std::string service,
                                                   std::string scope) {
  if (!realm.starts_with("https://") &&
      !(options_.allow_http_realm && realm.starts_with("http://"))) {
    co_return fail(Errc::kUpstreamBadResponse, "token realm must be an https URL");
  }
  http::Request req;
  req.url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (!service.empty()) req.url += "service=" + urlEncode(service) + "&";
  req.url += "scope=" + urlEncode(scope);
  req.timeout = options_.request_timeout;
  req.max_body = 1u << 20;
  req.allow_non_public =
      options_.allow_non_public_realm || http::urlHost(realm) == options_.own_host;
  req.headers.add("Accept", "application/json");
  // Credentials go to the realm only when the challenge came from the upstream's own host.
  auto creds = credentials(host);
  if (!creds) co_return creds.error();
  if (creds.value()) req.headers.add("Authorization", basicHeader(*creds.value()));
  const auto t0 = std::chrono::steady_clock::now();
  auto resp = co_await http_.send(std::move(req));
  if (options_.metrics != nullptr) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (resp) {
      options_.metrics->request(metrics::UpstreamKind::kToken, resp.value().status, secs,
                                resp.value().body_bytes);
    } else {
      options_.metrics->transportError(metrics::UpstreamKind::kToken, secs);
    }
  }
  if (!resp) co_return resp.error();
  int status = resp.value().status;
  if (status == 401 || status == 403)
    co_return fail(Errc::kUnauthorized,
                   "token endpoint refused the request (HTTP " + std::to_string(status) + ")");
  if (status == 429) co_return fail(Errc::kTooManyRequests, "token endpoint is throttling");
  if (status != 200)
    co_return fail(Errc::kUpstreamUnavailable,
                   "token endpoint answered HTTP " + std::to_string(status));
  auto json = nlohmann::json::parse(resp.value().body, nullptr, false);
  if (!json.is_object())
    co_return fail(Errc::kUpstreamBadResponse, "token endpoint answered non-JSON");
  std::string token;
  for (const char* key : {"token", "access_token"}) {
    if (json.contains(key) && json[key].is_string() && !json[key].get<std::string>().empty()) {
      token = json[key].get<std::string>();
      break;
    }
  }
  if (token.empty())
    co_return fail(Errc::kUpstreamBadResponse, "token endpoint answered without a token");
  std::int64_t expires_in = 60;  // the spec's default and minimum
  if (json.contains("expires_in") && json["expires_in"].is_number_integer()) {
    expires_in = std::max<std::int64_t>(json["expires_in"].get<std::int64_t>(), 10);
  }
  std::string header = "Bearer " + token;
  if (options_.metrics != nullptr) {
    options_.metrics->token_expiry.set(static_cast<double>(clock_.unixSeconds() + expires_in));
  }
  // Renew 10% (at least 5 s) before expiry so a token never expires in the middle of a request.
  auto margin = std::max<std::int64_t>(5, expires_in / 10);
  {
    std::lock_guard lock(mu_);
    if (tokens_.size() >= kMaxTokenEntries) tokens_.clear();
    tokens_[host + " " + repository] =
        CachedToken{Secret(header), clock_.now() + std::chrono::seconds(expires_in - margin)};
  }
  co_return header;
}

}  // namespace pullcache::auth
