#include "daemon/upstream/upstream_router.h"

#include "common/host_glob.h"
#include "common/ip_class.h"
#include "common/reference.h"
#include "daemon/auth/registry_auth.h"
#include "daemon/http/redirect.h"

namespace pullcache::upstream {
namespace {

// Distinct hosts a glob entry may expand to; bounds memory against a client inventing hosts.
constexpr std::size_t kMaxResolvedHosts = 1024;

}  // namespace

std::string Upstream::upstreamName(const std::string& name) const {
  if (docker_hub && name.find('/') == std::string::npos) return "library/" + name;
  return name;
}

UpstreamRouter::UpstreamRouter(const config::Config& config, http::Client& http, const Clock& clock,
                               metrics::Metrics* metrics, auth::EnvLookup env)
    : entries_(config.upstreams),
      default_upstream_(config.default_upstream),
      request_timeout_(config.upstream_timeouts.request),
      http_(http),
      clock_(clock),
      metrics_(metrics),
      aws_(config.aws),
      breaker_(config.source_breaker),
      env_(env ? std::move(env) : auth::processEnv()) {}

UpstreamRouter::~UpstreamRouter() { stop(); }

void UpstreamRouter::stop() {
  std::lock_guard lock(mu_);
  for (auto& [key, source] : ecr_sources_) source->stop();
}

std::vector<std::string> UpstreamRouter::literalHosts() const {
  std::vector<std::string> hosts;
  for (const auto& e : entries_)
    if (e.match.find_first_of("*[") == std::string::npos) hosts.push_back(e.match);
  return hosts;
}

auth::AwsCredentialChain& UpstreamRouter::awsChain() {
  std::call_once(chain_once_, [this] {
    auth::ChainOptions o;
    o.env = env_;
    o.settings = {aws_.region, aws_.ecr_endpoint, aws_.sts_endpoint};
    o.request_timeout = request_timeout_;
    chain_ = std::make_unique<auth::AwsCredentialChain>(auth::defaultProviders(o, http_, clock_),
                                                        clock_);
  });
  return *chain_;
}

// Called with mu_ held.
std::shared_ptr<auth::EcrTokenSource> UpstreamRouter::ecrSource(const EcrRegistry& registry) {
  std::string endpoint = auth::resolveEndpoint(aws_.ecr_endpoint, env_, "ECR");
  if (endpoint.empty()) endpoint = "https://" + registry.apiHost();
  std::string key = registry.region + " " + endpoint;
  auto& slot = ecr_sources_[key];
  if (!slot) {
    auth::EcrTokenSource::Options o;
    o.region = registry.region;
    o.api_endpoint = endpoint;
    o.request_timeout = request_timeout_;
    slot = std::make_shared<auth::EcrTokenSource>(std::move(o), awsChain(), http_, clock_);
  }
  return slot;
}

// Called with mu_ held.
Result<Source> UpstreamRouter::buildSource(const config::SourceConfig& entry, SourcePath path) {
  Source src;
  const std::string host = path.host;
  const bool docker_hub = host == "docker.io";
  if (!entry.url.empty())
    src.base_url = entry.url;
  else if (docker_hub)
    src.base_url = "https://registry-1.docker.io";
  else
    src.base_url = "https://" + host;
  {
    std::string own = http::urlHost(src.base_url);
    if (own.starts_with("[")) {
      own = own.substr(0, own.find(']') + 1);
    } else {
      own = own.substr(0, own.find(':'));
    }
    src.private_redirects_ok = entry.allow_private_redirects || isNonPublicLiteral(own);
  }
  config::AuthMode mode = entry.auth;
  auto ecr = parseEcrHost(host);
  if (!entry.auth_explicit && ecr) mode = config::AuthMode::kEcr;
  const std::string label = path.str();
  src.path = std::move(path);
  if (mode == config::AuthMode::kEcr) {
    if (!ecr) {
      return fail(
          Errc::kNameUnknown,
          "registry " + host + " is not an ECR registry host (the upstream says auth: ecr)");
    }
    auto source = ecrSource(*ecr);
    if (metrics_ != nullptr) {
      src.metrics = &metrics_->upstream(label, "ecr");
      source->addMetrics(src.metrics);
    }
    src.auth = std::make_shared<auth::EcrAuth>(http::urlHost(src.base_url), std::move(source));
    return src;
  }
  auth::RegistryAuth::Options o;
  switch (mode) {
    case config::AuthMode::kBasic:
      o.mode = auth::RegistryAuth::Mode::kBasic;
      break;
    case config::AuthMode::kToken:
      o.mode = auth::RegistryAuth::Mode::kToken;
      break;
    default:
      o.mode = auth::RegistryAuth::Mode::kAnonymous;
      break;
  }
  o.registry_host = host;
  o.own_host = http::urlHost(src.base_url);
  if (!entry.username.empty()) o.credentials = auth::Credentials{entry.username, entry.password};
  o.docker_config = entry.docker_config;
  o.allow_http_realm = src.base_url.starts_with("http://");
  o.allow_non_public_realm = src.private_redirects_ok;
  o.request_timeout = request_timeout_;
  if (metrics_ != nullptr) {
    src.metrics = &metrics_->upstream(label, auth::RegistryAuth::modeName(o.mode));
    o.metrics = src.metrics;
  }
  src.auth = std::make_shared<auth::RegistryAuth>(std::move(o), http_, clock_);
  return src;
}

// Called with mu_ held.
Result<std::shared_ptr<const Upstream>> UpstreamRouter::build(const config::UpstreamConfig& entry,
                                                              const std::string& host) {
  auto up = std::make_shared<Upstream>();
  up->host = host;
  up->docker_hub = host == "docker.io";
  if (entry.sources.empty()) {
    // The entry's own fields, for the host it matched (a glob's host is known only now).
    SourcePath path;
    path.host = host;
    auto src = buildSource(entry, std::move(path));
    if (!src) return src.error();
    up->metrics = src.value().metrics;
    up->sources.push_back(std::move(src).value());
    return std::shared_ptr<const Upstream>(std::move(up));
  }
  for (const auto& sc : entry.sources) {
    auto path = SourcePath::parse(sc.registry);  // validated by the config parser
    if (!path) return Error{Errc::kConfigInvalid, sc.registry + ": " + path.error().detail};
    auto src = buildSource(sc, std::move(path).value());
    if (!src) return src.error();
    src.value().breaker = std::make_shared<SourceBreaker>(breaker_);
    if (metrics_ != nullptr)
      src.value().source_metrics = &metrics_->source(host, src.value().path.str());
    up->sources.push_back(std::move(src).value());
  }
  if (metrics_ != nullptr) up->metrics = &metrics_->upstream(host, "sources");
  return std::shared_ptr<const Upstream>(std::move(up));
}

Result<std::shared_ptr<const Upstream>> UpstreamRouter::resolve(std::string_view ns) {
  std::string host(ns.empty() ? std::string_view(default_upstream_) : ns);
  if (host.empty())
    return fail(Errc::kNameUnknown, "no ?ns= given and no default_upstream configured");
  if (auto v = validateRegistryHost(host); !v) return v.error();
  std::lock_guard lock(mu_);
  if (auto it = resolved_.find(host); it != resolved_.end()) return it->second;
  for (const auto& entry : entries_) {
    if (!hostGlobMatches(entry.match, host)) continue;
    if (resolved_.size() >= kMaxResolvedHosts) {
      return fail(Errc::kTooManyRequests, "too many distinct registry hosts");
    }
    auto up = build(entry, host);
    if (!up) return up.error();
    resolved_.emplace(host, up.value());
    return up;
  }
  return fail(Errc::kNameUnknown, "registry " + host + " is not mirrored by this pullcache");
}

}  // namespace pullcache::upstream
