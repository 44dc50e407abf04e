#include "daemon/auth/aws_credentials.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "common/strings.h"
#include "common/url.h"
#include "daemon/http/redirect.h"

namespace pullcache::auth {
namespace {

constexpr const char* kDefaultImdsEndpoint = "http://169.254.169.254";
constexpr const char* kEcsCredentialsHost = "http://169.254.170.2";
constexpr std::chrono::minutes kRefreshMargin{5};

std::string stripSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Reads a small file (token files, credentials files); nullopt if unreadable.
std::optional<std::string> readSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > (1u << 20)) return std::nullopt;  // no credential file is this big
  }
  return text;
}

std::string keyIdPrefix(const std::string& id) { return id.substr(0, 8) + "..."; }

Error providerError(std::string_view provider, const std::string& what) {
  return Error{Errc::kUpstreamUnavailable,
               "AWS credentials (" + std::string(provider) + "): " + what};
}

std::string describeStatus(const http::Response& r, bool xml) {
  AwsError e =
      xml ? parseAwsXmlError(r.body) : parseAwsJsonError(r.body, r.headers.get("x-amzn-errortype"));
  std::string s = "HTTP " + std::to_string(r.status);
  if (!e.code.empty()) s += " " + e.code;
  if (!e.message.empty()) s += ": " + e.message;
  return s;
}

// ---------------------------------------------------------------------------------------------

class EnvironmentProvider final : public CredentialProvider {
 public:
  explicit EnvironmentProvider(EnvLookup env) : env_(std::move(env)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "environment"; }
  [[nodiscard]] bool configured() const override {
    return !env_("AWS_ACCESS_KEY_ID").empty() || !env_("AWS_SECRET_ACCESS_KEY").empty();
  }
  Task<Result<TimedCredentials>> fetch() override {
    std::string id = env_("AWS_ACCESS_KEY_ID");
    std::string secret = env_("AWS_SECRET_ACCESS_KEY");
    if (id.empty() || secret.empty())
      co_return providerError(name(),
                              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
    TimedCredentials c;
    c.credentials = {id, Secret(secret), Secret(env_("AWS_SESSION_TOKEN"))};
    c.provider = name();
    c.identity = "access key " + keyIdPrefix(id);
    co_return c;
  }

 private:
  EnvLookup env_;
};

class WebIdentityProvider final : public CredentialProvider {
 public:
  WebIdentityProvider(EnvLookup env, AwsSettings settings, http::Client& http, const Clock& clock,
                      std::chrono::milliseconds timeout)
      : env_(std::move(env)),
        settings_(std::move(settings)),
        http_(http),
        clock_(clock),
        timeout_(timeout) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "web-identity"; }
  [[nodiscard]] bool configured() const override {
    return !env_("AWS_ROLE_ARN").empty() && !env_("AWS_WEB_IDENTITY_TOKEN_FILE").empty();
  }
  Task<Result<TimedCredentials>> fetch() override {
    const std::string role = env_("AWS_ROLE_ARN");
    const std::string token_file = env_("AWS_WEB_IDENTITY_TOKEN_FILE");
    // Re-read at every refresh: kubelet rotates the projected service-account token.
    auto token = readSmallFile(token_file);
    if (!token || trimWhitespace(*token).empty())
      co_return providerError(
          name(), "cannot read the token file " + token_file + " (AWS_WEB_IDENTITY_TOKEN_FILE)");
    std::string session = env_("AWS_ROLE_SESSION_NAME");
    if (session.empty()) session = "pullcache-" + std::to_string(clock_.unixMillis());
    std::string region = settings_.region.empty() ? env_("AWS_REGION") : settings_.region;
    if (region.empty()) region = env_("AWS_DEFAULT_REGION");
    std::string endpoint = resolveEndpoint(settings_.sts_endpoint, env_, "STS");
    if (endpoint.empty()) endpoint = defaultStsEndpoint(region);
    http::Request req;
    req.method = "POST";
    req.url = endpoint + "/";
    req.timeout = timeout_;
    req.follow_redirects = false;
    req.max_body = 64 * 1024;
    req.headers.add("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    req.headers.add("Accept", "text/xml");
    req.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + urlEncode(role) +
               "&RoleSessionName=" + urlEncode(session) +
               "&WebIdentityToken=" + urlEncode(trimWhitespace(*token));
    auto resp = co_await http_.send(std::move(req));
    if (!resp)
      co_return providerError(name(),
                              "STS at " + endpoint + " unreachable: " + resp.error().detail);
    if (resp.value().status != 200)
      co_return providerError(name(), "AssumeRoleWithWebIdentity for " + role + " at " + endpoint +
                                          ": " + describeStatus(resp.value(), true));
    auto creds = parseAssumeRoleWithWebIdentityResponse(resp.value().body);
    if (!creds) co_return providerError(name(), creds.error().detail);
    creds.value().provider = name();
    if (creds.value().identity.empty()) creds.value().identity = role;
    co_return creds;
  }

 private:
  EnvLookup env_;
  AwsSettings settings_;
  http::Client& http_;
  const Clock& clock_;
  std::chrono::milliseconds timeout_;
};

class SharedCredentialsProvider final : public CredentialProvider {
 public:
  SharedCredentialsProvider(EnvLookup env, std::string home)
      : env_(std::move(env)), home_(std::move(home)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "shared-credentials"; }
  [[nodiscard]] bool configured() const override {
    // A file that does not exist configures nothing, named or not: the SDKs go on to the next
    // provider. An existing file with an explicitly named file or profile is this provider's to
    // answer (or fail) for; the default file only when it has the default profile.
    std::error_code ec;
    if (!std::filesystem::exists(path(), ec)) return false;
    if (!env_("AWS_SHARED_CREDENTIALS_FILE").empty() || !env_("AWS_PROFILE").empty()) return true;
    auto text = readSmallFile(path());
    if (!text) return false;
    auto c = parseCredentialsFile(*text, "default");
    return c && c.value().has_value();
  }
  Task<Result<TimedCredentials>> fetch() override {
    const std::string file = path();
    std::string profile = env_("AWS_PROFILE");
    if (profile.empty()) profile = "default";
    auto text = readSmallFile(file);
    if (!text) co_return providerError(name(), "cannot read " + file);
    auto parsed = parseCredentialsFile(*text, profile);
    if (!parsed) co_return providerError(name(), file + ": " + parsed.error().detail);
    if (!parsed.value())
      co_return providerError(name(), "profile '" + profile + "' is not in " + file);
    TimedCredentials c;
    c.credentials = std::move(*parsed.value());
    c.provider = name();
    c.identity = "profile " + profile + ", access key " + keyIdPrefix(c.credentials.access_key_id);
    co_return c;
  }

 private:
  [[nodiscard]] std::string path() const {
    std::string p = env_("AWS_SHARED_CREDENTIALS_FILE");
    if (!p.empty()) return p;
    std::string home = home_.empty() ? env_("HOME") : home_;
    return home + "/.aws/credentials";
  }
  EnvLookup env_;
  std::string home_;
};

// http is allowed only to the addresses the SDKs allow: loopback, the ECS and EKS Pod Identity
// agents. https to anywhere.
bool containerUriAllowed(const std::string& url) {
  if (url.starts_with("https://")) return true;
  if (!url.starts_with("http://")) return false;
  std::string host = http::urlHost(url);
  if (host.starts_with("[")) {
    auto end = host.find(']');
    std::string ip = host.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    return ip == "::1" || ip == "fd00:ec2::23";
  }
  host = host.substr(0, host.find(':'));
  return host.starts_with("127.") || host == "localhost" || host == "169.254.170.2" ||
         host == "169.254.170.23";
}

class ContainerProvider final : public CredentialProvider {
 public:
  ContainerProvider(EnvLookup env, http::Client& http, std::chrono::milliseconds timeout)
      : env_(std::move(env)), http_(http), timeout_(timeout) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "container"; }
  [[nodiscard]] bool configured() const override {
    return !env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() ||
           !env_("AWS_CONTAINER_CREDENTIALS_FULL_URI").empty();
  }
  Task<Result<TimedCredentials>> fetch() override {
    std::string url;
    std::string relative = env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if (!relative.empty()) {
      url = std::string(kEcsCredentialsHost) + (relative.starts_with("/") ? "" : "/") + relative;
    } else {
      url = env_("AWS_CONTAINER_CREDENTIALS_FULL_URI");
      if (!containerUriAllowed(url))
        co_return providerError(name(),
                                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
                                "loopback or the ECS/EKS credential agent address");
    }
    http::Request req;
    req.url = url;
    req.timeout = timeout_;
    req.follow_redirects = false;
    req.max_body = 64 * 1024;
    req.headers.add("Accept", "application/json");
    std::string token_file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    std::string token;
    if (!token_file.empty()) {
      auto t = readSmallFile(token_file);  // re-read each time: the agent rotates it
      if (!t)
        co_return providerError(name(),
                                "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token_file);
      token = trimWhitespace(*t);
    } else {
      token = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (token.find_first_of("\r\n") != std::string::npos)
      co_return providerError(name(), "the authorization token contains a line break");
    if (!token.empty()) req.headers.add("Authorization", token);
    auto resp = co_await http_.send(std::move(req));
    if (!resp)
      co_return providerError(name(), "credentials endpoint " + http::urlHost(url) +
                                          " unreachable: " + resp.error().detail);
    if (resp.value().status != 200)
      co_return providerError(name(), "credentials endpoint " + http::urlHost(url) + " answered " +
                                          describeStatus(resp.value(), false));
    auto creds = parseCredentialsJson(resp.value().body);
    if (!creds) co_return providerError(name(), creds.error().detail);
    creds.value().provider = name();
    if (creds.value().identity.empty())
      creds.value().identity = "access key " + keyIdPrefix(creds.value().credentials.access_key_id);
    co_return creds;
  }

 private:
  EnvLookup env_;
  http::Client& http_;
  std::chrono::milliseconds timeout_;
};

bool imdsDisabled(const EnvLookup& env) {
  return asciiLower(env("AWS_EC2_METADATA_DISABLED")) == "true";
}

std::string imdsEndpoint(const EnvLookup& env) {
  std::string e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  return e.empty() ? std::string(kDefaultImdsEndpoint) : stripSlash(e);
}

// IMDSv2: a session token first, then the GET with it.
Task<Result<std::string>> imdsGet(http::Client& http, std::string endpoint, std::string path,
                                  std::chrono::milliseconds timeout) {
  http::Request put;
  put.method = "PUT";
  put.url = endpoint + "/latest/api/token";
  put.timeout = timeout;
  put.follow_redirects = false;
  put.max_body = 4096;
  put.headers.add("X-aws-ec2-metadata-token-ttl-seconds", "21600");
  auto token = co_await http.send(std::move(put));
  if (!token)
    co_return fail(Errc::kUpstreamUnavailable,
                   "IMDS at " + endpoint + " did not answer (" + token.error().detail +
                       "): not on EC2, or IMDS is off or its hop limit too small");
  if (token.value().status != 200)
    co_return fail(Errc::kUpstreamUnavailable,
                   "IMDS token request answered HTTP " + std::to_string(token.value().status));
  http::Request get;
  get.url = endpoint + path;
  get.timeout = timeout;
  get.follow_redirects = false;
  get.max_body = 64 * 1024;
  get.headers.add("X-aws-ec2-metadata-token", trimWhitespace(token.value().body));
  auto resp = co_await http.send(std::move(get));
  if (!resp)
    co_return fail(Errc::kUpstreamUnavailable, "IMDS " + path + ": " + resp.error().detail);
  if (resp.value().status != 200)
    co_return fail(Errc::kUpstreamUnavailable,
                   "IMDS " + path + " answered HTTP " + std::to_string(resp.value().status) +
                       (resp.value().status == 404 ? " (no instance profile attached?)" : ""));
  co_return std::move(resp.value().body);
}

class ImdsProvider final : public CredentialProvider {
 public:
  ImdsProvider(EnvLookup env, http::Client& http, std::chrono::milliseconds timeout)
      : env_(std::move(env)), http_(http), timeout_(timeout) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "imds"; }
  [[nodiscard]] bool configured() const override { return !imdsDisabled(env_); }
  Task<Result<TimedCredentials>> fetch() override {
    const std::string endpoint = imdsEndpoint(env_);
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    auto roles = co_await imdsGet(http_, endpoint, base, timeout_);
    if (!roles) co_return providerError(name(), roles.error().detail);
    std::string role = trimWhitespace(roles.value().substr(0, roles.value().find('\n')));
    if (role.empty() || role.find_first_of("/?#%") != std::string::npos)
      co_return providerError(name(), "no IAM role in the instance profile");
    auto body = co_await imdsGet(http_, endpoint, base + role, timeout_);
    if (!body) co_return providerError(name(), body.error().detail);
    auto creds = parseCredentialsJson(body.value());
    if (!creds) co_return providerError(name(), creds.error().detail);
    creds.value().provider = name();
    creds.value().identity = "instance role " + role;
    co_return creds;
  }

 private:
  EnvLookup env_;
  http::Client& http_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

EnvLookup processEnv() {
  return [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v == nullptr ? std::string() : std::string(v);
  };
}

std::string resolveEndpoint(const std::string& configured, const EnvLookup& env,
                            const std::string& service_env_suffix) {
  if (!configured.empty()) return stripSlash(configured);
  std::string v = env("AWS_ENDPOINT_URL_" + service_env_suffix);
  if (v.empty()) v = env("AWS_ENDPOINT_URL");
  return stripSlash(v);
}

std::string defaultStsEndpoint(const std::string& region) {
  if (region.empty()) return "https://sts.amazonaws.com";
  return "https://sts." + region +
         (region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com");
}

std::vector<std::unique_ptr<CredentialProvider>> defaultProviders(const ChainOptions& options,
                                                                  http::Client& http,
                                                                  const Clock& clock) {
  EnvLookup env = options.env ? options.env : processEnv();
  std::vector<std::unique_ptr<CredentialProvider>> p;
  p.push_back(std::make_unique<EnvironmentProvider>(env));
  p.push_back(std::make_unique<WebIdentityProvider>(env, options.settings, http, clock,
                                                    options.request_timeout));
  p.push_back(std::make_unique<SharedCredentialsProvider>(env, options.home));
  p.push_back(std::make_unique<ContainerProvider>(env, http, options.request_timeout));
  p.push_back(std::make_unique<ImdsProvider>(env, http, options.imds_timeout));
  return p;
}

Task<std::string> discoverRegion(EnvLookup env, http::Client& http,
                                 std::chrono::milliseconds timeout) {
  std::string r = env("AWS_REGION");
  if (r.empty()) r = env("AWS_DEFAULT_REGION");
  if (!r.empty() || imdsDisabled(env)) co_return r;
  auto region =
      co_await imdsGet(http, imdsEndpoint(env), "/latest/meta-data/placement/region", timeout);
  co_return region ? trimWhitespace(region.value()) : std::string();
}

AwsCredentialChain::AwsCredentialChain(std::vector<std::unique_ptr<CredentialProvider>> providers,
                                       const Clock& clock)
    : providers_(std::move(providers)), clock_(clock) {}

bool AwsCredentialChain::fresh(const TimedCredentials& c) const {
  if (!c.expiration) return true;
  // Refresh 5 minutes before expiry, or at half the lifetime when that is shorter.
  auto margin = std::min<std::chrono::system_clock::duration>(kRefreshMargin,
                                                              (*c.expiration - obtained_at_) / 2);
  return clock_.now() < *c.expiration - margin;
}

std::vector<std::string> AwsCredentialChain::configuredProviders() const {
  std::vector<std::string> names;
  for (const auto& p : providers_)
    if (p->configured()) names.emplace_back(p->name());
  return names;
}

void AwsCredentialChain::invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
}

Task<Result<TimedCredentials>> AwsCredentialChain::get() {
  {
    std::lock_guard lock(mu_);
    if (cached_ && fresh(*cached_)) co_return *cached_;
  }
  auto result = co_await flight_.run("credentials", [this] { return fetchFromChain(); });
  if (!result) {
    std::lock_guard lock(mu_);
    if (cached_ && cached_->expiration && clock_.now() < *cached_->expiration) {
      componentLogger("aws")->warn(
          "refreshing AWS credentials failed, still using the current "
          "ones until they expire: {}",
          result.error().detail);
      co_return *cached_;
    }
  }
  co_return result;
}

Task<Result<TimedCredentials>> AwsCredentialChain::fetchFromChain() {
  std::string tried;
  for (auto& provider : providers_) {
    if (!provider->configured()) {
      tried += (tried.empty() ? "" : ", ") + std::string(provider->name()) + " (not configured)";
      continue;
    }
    auto r = co_await provider->fetch();
    if (!r) co_return r.error();
    TimedCredentials c = std::move(r).value();
    if (c.expiration && *c.expiration <= clock_.now())
      co_return providerError(provider->name(), "the credentials it returned have expired");
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      changed = !cached_ || cached_->provider != c.provider || cached_->identity != c.identity;
      cached_ = c;
      obtained_at_ = clock_.now();
    }
    if (changed) {
      componentLogger("aws")->info("AWS credentials from {} ({}){}", c.provider, c.identity,
                                   c.expiration ? ", temporary" : "");
    }
    co_return c;
  }
  co_return fail(Errc::kUpstreamUnavailable, "no AWS credentials found; tried " + tried);
}

}  // namespace pullcache::auth
