#include "daemon/config/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "common/ecr_host.h"
#include "common/host_glob.h"
#include "common/image_ref.h"
#include "common/reference.h"
#include "common/source_path.h"
#include "common/url.h"
#include "daemon/config/config_keys.h"
#include "daemon/config/yaml_keys.h"

namespace pullcache::config {
namespace {

using yaml::bytesKey;
using yaml::checkKeys;
using yaml::durationKey;
using yaml::integerKey;
using yaml::keyError;
using yaml::percentKey;
using yaml::scalar;

bool validGlob(std::string_view g) {
  if (g.empty()) return false;
  return std::all_of(g.begin(), g.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
           c == '*' || c == '[' || c == ']';
  });
}

Result<void> validateUrl(const std::string& url, const std::string& key) {
  std::string_view rest;
  if (url.starts_with("https://"))
    rest = std::string_view(url).substr(8);
  else if (url.starts_with("http://"))
    rest = std::string_view(url).substr(7);
  else
    return keyError(key, "must start with http:// or https://");
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (auto h = validateRegistryHost(rest); !h)
    return keyError(key, "'" + hideUserinfo(url) + "': " + h.error().detail +
                             " (scheme://host[:port], no path)");
  return ok();
}

// The keys that say where and how to reach a registry, on an upstream or on one of its sources.
constexpr const char* kSourceKeys[] = {"url",
                                       "auth",
                                       "username",
                                       "password",
                                       "password_file",
                                       "docker_config",
                                       "allow_private_redirects"};

// `host`: the registry host the fields are for; empty when it is known per request (a glob).
Result<void> parseSourceFields(const YAML::Node& node, const std::string& where,
                               const std::string& host, SourceConfig& u) {
  if (node["url"]) {
    auto url = scalar(node["url"], where + ".url");
    if (!url) return url.error();
    u.url = url.value();
    if (auto v = validateUrl(u.url, where + ".url"); !v) return v.error();
    if (u.url.back() == '/') u.url.pop_back();
  }
  std::string auth = "anonymous";
  if (node["auth"]) {
    auto a = scalar(node["auth"], where + ".auth");
    if (!a) return a.error();
    auth = a.value();
    u.auth_explicit = true;
  }
  if (auth == "anonymous" || auth == "none")
    u.auth = AuthMode::kAnonymous;
  else if (auth == "basic")
    u.auth = AuthMode::kBasic;
  else if (auth == "token")
    u.auth = AuthMode::kToken;
  else if (auth == "ecr")
    u.auth = AuthMode::kEcr;
  else
    return keyError(where + ".auth", "'" + auth + "' is not one of anonymous, basic, token, ecr");
  if (node["username"]) {
    auto v = scalar(node["username"], where + ".username");
    if (!v) return v.error();
    u.username = v.value();
  }
  if (node["password"] && node["password_file"])
    return keyError(where, "password and password_file are exclusive");
  if (node["password"]) {
    auto v = scalar(node["password"], where + ".password");
    if (!v) return v.error();
    u.password = Secret(v.value());
  }
  if (node["password_file"]) {
    auto v = scalar(node["password_file"], where + ".password_file");
    if (!v) return v.error();
    std::ifstream in(v.value());
    if (!in) return keyError(where + ".password_file", "cannot read '" + v.value() + "'");
    std::string pw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    u.password = Secret(std::move(pw));
  }
  if (node["docker_config"]) {
    auto v = scalar(node["docker_config"], where + ".docker_config");
    if (!v) return v.error();
    u.docker_config = v.value();
  }
  if (node["allow_private_redirects"]) {
    auto v = scalar(node["allow_private_redirects"], where + ".allow_private_redirects");
    if (!v) return v.error();
    if (v.value() != "true" && v.value() != "false")
      return keyError(where + ".allow_private_redirects", "must be true or false");
    u.allow_private_redirects = v.value() == "true";
  }
  bool has_static = !u.username.empty() || !u.password.empty();
  if (has_static && !u.docker_config.empty())
    return keyError(where, "username/password and docker_config are exclusive");
  if (u.auth == AuthMode::kBasic || u.auth == AuthMode::kToken) {
    if (u.docker_config.empty() && (u.username.empty() || u.password.empty())) {
      return keyError(
          where + ".auth",
          "'" + auth + "' needs username and password (or password_file), or docker_config");
    }
  } else if (has_static || !u.docker_config.empty()) {
    return keyError(where + ".auth",
                    "credentials are given but auth is '" + auth + "' (use basic or token)");
  }
  if (u.auth == AuthMode::kEcr && !host.empty() && !parseEcrHost(host)) {
    return keyError(where + ".auth",
                    "'ecr' needs an ECR registry host (<account>.dkr.ecr.<region>."
                    "amazonaws.com), not '" +
                        host + "'");
  }
  if (!u.auth_explicit && !host.empty() && parseEcrHost(host)) u.auth = AuthMode::kEcr;
  return ok();
}

constexpr std::size_t kMaxSources = 8;

Result<SourceConfig> parseSource(const YAML::Node& node, const std::string& where) {
  auto keys = checkKeys(node, where, "upstreams[].sources[]");
  if (!keys) return keys.error();
  SourceConfig s;
  if (!node["registry"]) return keyError(where + ".registry", "is required");
  auto registry = scalar(node["registry"], where + ".registry");
  if (!registry) return registry.error();
  auto path = SourcePath::parse(registry.value());
  if (!path) return keyError(where + ".registry", path.error().detail);
  s.registry = path.value().str();
  if (auto f = parseSourceFields(node, where, path.value().host, s); !f) return f.error();
  return s;
}

Result<UpstreamConfig> parseUpstream(const YAML::Node& node, const std::string& where) {
  auto keys = checkKeys(node, where, "upstreams[]");
  if (!keys) return keys.error();
  UpstreamConfig u;
  if (!node["match"]) return keyError(where + ".match", "is required");
  auto match = scalar(node["match"], where + ".match");
  if (!match) return match.error();
  u.match = match.value();
  std::transform(u.match.begin(), u.match.end(), u.match.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (!validGlob(u.match))
    return keyError(where + ".match", "'" + u.match + "' is not a registry host glob");
  const bool literal = u.match.find_first_of("*[") == std::string::npos;
  if (!node["sources"]) {
    if (auto f = parseSourceFields(node, where, literal ? u.match : "", u); !f) return f.error();
    return u;
  }
  const auto& list = node["sources"];
  if (!list.IsSequence() || list.size() == 0 || list.size() > kMaxSources) {
    return keyError(where + ".sources",
                    "must be a list of 1 to " + std::to_string(kMaxSources) + " sources");
  }
  for (const char* key : kSourceKeys) {
    if (node[key])
      return keyError(where + "." + key,
                      "belongs in each of sources[] when the upstream lists sources");
  }
  if (!literal) {
    return keyError(where + ".sources",
                    "needs a literal match, not the glob '" + u.match +
                        "' (every matched registry would get the same sources)");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + ".sources[" + std::to_string(i) + "]";
    auto s = parseSource(list[i], at);
    if (!s) return s.error();
    for (const auto& earlier : u.sources)
      if (earlier.registry == s.value().registry)
        return keyError(at + ".registry", "'" + earlier.registry + "' is listed twice");
    u.sources.push_back(std::move(s).value());
  }
  return u;
}

Result<void> parseSourceBreaker(const YAML::Node& node, SourceBreakerConfig& b) {
  if (auto k = checkKeys(node, "source_breaker", "source_breaker"); !k) return k.error();
  if (node["failures"]) {
    auto n = integerKey(node["failures"], "source_breaker.failures");
    if (!n) return n.error();
    b.failures = static_cast<int>(n.value());
  }
  for (auto [key, out] :
       {std::pair{"backoff", &b.backoff}, std::pair{"max_backoff", &b.max_backoff}}) {
    if (!node[key]) continue;
    auto d = durationKey(node[key], std::string("source_breaker.") + key);
    if (!d) return d.error();
    *out = d.value();
  }
  if (b.max_backoff < b.backoff)
    return keyError("source_breaker.max_backoff", "must not be below source_breaker.backoff");
  return ok();
}

Result<void> parseUpstreamTimeouts(const YAML::Node& node, UpstreamTimeouts& t) {
  if (auto k = checkKeys(node, "upstream_timeouts", "upstream_timeouts"); !k) return k.error();
  for (auto [key, field] : {std::pair{"connect", &t.connect}, std::pair{"stall", &t.stall},
                            std::pair{"request", &t.request}}) {
    if (!node[key]) continue;
    auto d = durationKey(node[key], std::string("upstream_timeouts.") + key);
    if (!d) return d.error();
    *field = d.value();
  }
  return ok();
}

Result<void> parseLimits(const YAML::Node& node, Limits& limits) {
  if (auto k = checkKeys(node, "limits", "limits"); !k) return k.error();
  if (node["max_connections"]) {
    auto n = integerKey(node["max_connections"], "limits.max_connections");
    if (!n) return n.error();
    limits.max_connections = n.value();
  }
  if (node["upstream_connections"]) {
    auto n = integerKey(node["upstream_connections"], "limits.upstream_connections");
    if (!n) return n.error();
    limits.upstream_connections = static_cast<long>(n.value());
  }
  if (node["max_header_bytes"]) {
    auto b = bytesKey(node["max_header_bytes"], "limits.max_header_bytes");
    if (!b) return b.error();
    limits.max_header_bytes = b.value();
  }
  if (node["max_manifest_bytes"]) {
    auto b = bytesKey(node["max_manifest_bytes"], "limits.max_manifest_bytes");
    if (!b) return b.error();
    limits.max_manifest_bytes = b.value();
  }
  for (auto [key, field] : {std::pair{"header_timeout", &limits.header_timeout},
                            std::pair{"idle_timeout", &limits.idle_timeout},
                            std::pair{"write_timeout", &limits.write_timeout}}) {
    if (!node[key]) continue;
    auto d = durationKey(node[key], std::string("limits.") + key);
    if (!d) return d.error();
    *field = d.value();
  }
  return ok();
}

Result<void> parseCache(const YAML::Node& node, CacheConfig& cache) {
  auto keys = checkKeys(node, "cache", "cache");
  if (!keys) return keys.error();
  if (node["dir"]) {
    auto v = scalar(node["dir"], "cache.dir");
    if (!v) return v.error();
    if (v.value().empty() || v.value().front() != '/')
      return keyError("cache.dir", "must be an absolute path");
    cache.dir = v.value();
  }
  for (auto [key, field] : {std::pair{"max_bytes", &cache.max_bytes},
                            std::pair{"min_free_bytes", &cache.min_free_bytes}}) {
    if (!node[key]) continue;
    const std::string where = std::string("cache.") + key;
    auto v = scalar(node[key], where);
    if (!v) return v.error();
    auto s = parseSizeSpec(v.value());
    if (!s) return keyError(where, s.error().detail);
    *field = s.value();
  }
  if (const auto* b = std::get_if<std::uint64_t>(&cache.max_bytes); b && *b == 0)
    return keyError("cache.max_bytes", "must be more than 0");
  for (auto [key, field] : {std::pair{"high_watermark", &cache.high_watermark},
                            std::pair{"low_watermark", &cache.low_watermark}}) {
    if (!node[key]) continue;
    auto p = percentKey(node[key], std::string("cache.") + key);
    if (!p) return p.error();
    *field = p.value();
  }
  if (cache.low_watermark >= cache.high_watermark)
    return keyError("cache.low_watermark", "must be below cache.high_watermark");
  if (node["max_age"]) {
    auto d = durationKey(node["max_age"], "cache.max_age");
    if (!d) return d.error();
    cache.max_age = std::chrono::duration_cast<std::chrono::seconds>(d.value());
  }
  if (node["eviction_interval"]) {
    auto d = durationKey(node["eviction_interval"], "cache.eviction_interval");
    if (!d) return d.error();
    cache.eviction_interval = d.value();
  }
  for (auto [key, list] : {std::pair{"pin", &cache.pin}, std::pair{"prefetch", &cache.prefetch}}) {
    if (!node[key]) continue;
    const std::string where = std::string("cache.") + key;
    if (!node[key].IsSequence()) return keyError(where, "must be a list of image references");
    for (std::size_t i = 0; i < node[key].size(); ++i) {
      const std::string item = where + "[" + std::to_string(i) + "]";
      auto v = scalar(node[key][i], item);
      if (!v) return v.error();
      auto ref = ImageRef::parse(v.value());
      if (!ref) return keyError(item, ref.error().detail);
      list->push_back(ref.value().str());
    }
  }
  if (node["disk_threads"]) {
    auto t = integerKey(node["disk_threads"], "cache.disk_threads");
    if (!t) return t.error();
    cache.disk_threads = static_cast<int>(t.value());
  }
  if (node["passthrough_max_bytes"]) {
    auto v = scalar(node["passthrough_max_bytes"], "cache.passthrough_max_bytes");
    if (!v) return v.error();
    auto b = parseBytes(v.value());
    if (!b) return keyError("cache.passthrough_max_bytes", b.error().detail);
    cache.passthrough_max_bytes = b.value();
  }
  if (node["prefetch_interval"]) {
    auto d = durationKey(node["prefetch_interval"], "cache.prefetch_interval");
    if (!d) return d.error();
    cache.prefetch_interval = d.value();
  }
  if (node["tag_ttl"]) {
    auto v = scalar(node["tag_ttl"], "cache.tag_ttl");
    if (!v) return v.error();
    auto d = parseDuration(v.value());
    if (!d) return keyError("cache.tag_ttl", d.error().detail);
    cache.tag_ttl = d.value();
  }
  return ok();
}

}  // namespace

std::string Endpoint::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> parseEndpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find("]:");
    if (close == std::string_view::npos)
      return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' is not [ipv6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' is not host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned char buf[16];
  std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1) {
    return fail(Errc::kConfigInvalid, "'" + h + "' is not an IP address");
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return fail(Errc::kConfigInvalid, "'" + std::string(port) + "' is not a port number");
  }
  unsigned long p = std::stoul(std::string(port));
  if (p > 65535)
    return fail(Errc::kConfigInvalid, "port " + std::to_string(p) + " is out of range");
  return Endpoint{h, static_cast<std::uint16_t>(p)};
}

Result<Config> parseConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return fail(Errc::kConfigInvalid, std::string("YAML syntax: ") + e.what());
  }
  Config c;
  if (root.IsNull()) return keyError("upstreams", "at least one upstream is required");
  try {
    auto keys = checkKeys(root, "", "");
    if (!keys) return keys.error();
    for (const char* key : {"listen", "metrics_listen"}) {
      if (!root[key]) continue;
      auto v = scalar(root[key], key);
      if (!v) return v.error();
      auto e = parseEndpoint(v.value());
      if (!e) return keyError(key, e.error().detail);
      (std::string_view(key) == "listen" ? c.listen : c.metrics_listen) = e.value();
    }
    if (root["threads"]) {
      auto t = integerKey(root["threads"], "threads");
      if (!t) return t.error();
      c.threads = static_cast<int>(t.value());
    }
    if (root["cache"]) {
      if (auto r = parseCache(root["cache"], c.cache); !r) return r.error();
    }
    if (!root["upstreams"] || !root["upstreams"].IsSequence() || root["upstreams"].size() == 0) {
      return keyError("upstreams", "must be a non-empty list");
    }
    for (std::size_t i = 0; i < root["upstreams"].size(); ++i) {
      auto u = parseUpstream(root["upstreams"][i], "upstreams[" + std::to_string(i) + "]");
      if (!u) return u.error();
      c.upstreams.push_back(std::move(u).value());
    }
    if (root["default_upstream"]) {
      auto v = scalar(root["default_upstream"], "default_upstream");
      if (!v) return v.error();
      if (auto h = validateRegistryHost(v.value()); !h)
        return keyError("default_upstream", h.error().detail);
      c.default_upstream = v.value();
      bool matched = std::any_of(
          c.upstreams.begin(), c.upstreams.end(),
          [&](const UpstreamConfig& u) { return hostGlobMatches(u.match, c.default_upstream); });
      if (!matched)
        return keyError("default_upstream",
                        "'" + c.default_upstream + "' matches no upstreams[].match");
    }
    if (root["upstream_timeouts"]) {
      if (auto r = parseUpstreamTimeouts(root["upstream_timeouts"], c.upstream_timeouts); !r)
        return r.error();
    }
    if (root["source_breaker"]) {
      if (auto r = parseSourceBreaker(root["source_breaker"], c.source_breaker); !r)
        return r.error();
    }
    if (root["limits"]) {
      if (auto r = parseLimits(root["limits"], c.limits); !r) return r.error();
    }
    if (root["aws"]) {
      const auto& a = root["aws"];
      if (auto k = checkKeys(a, "aws", "aws"); !k) return k.error();
      if (a["region"]) {
        auto v = scalar(a["region"], "aws.region");
        if (!v) return v.error();
        if (!validAwsRegion(v.value()))
          return keyError("aws.region", "'" + v.value() + "' is not an AWS region name");
        c.aws.region = v.value();
      }
      for (auto [key, out] : {std::pair{"ecr_endpoint", &c.aws.ecr_endpoint},
                              std::pair{"sts_endpoint", &c.aws.sts_endpoint}}) {
        if (!a[key]) continue;
        auto v = scalar(a[key], std::string("aws.") + key);
        if (!v) return v.error();
        if (auto u = validateUrl(v.value(), std::string("aws.") + key); !u) return u.error();
        *out = v.value();
        while (!out->empty() && out->back() == '/') out->pop_back();
      }
    }
    if (root["ranges"]) {
      const auto& r = root["ranges"];
      if (auto k = checkKeys(r, "ranges", "ranges"); !k) return k.error();
      for (auto [key, out] : {std::pair{"fill_below", &c.ranges.fill_below},
                              std::pair{"fill_after", &c.ranges.fill_after}}) {
        if (!r[key]) continue;
        auto b = bytesKey(r[key], std::string("ranges.") + key);
        if (!b) return b.error();
        *out = b.value();
      }
      if (r["max_ranges"]) {
        auto n = integerKey(r["max_ranges"], "ranges.max_ranges");
        if (!n) return n.error();
        c.ranges.max_ranges = static_cast<int>(n.value());
      }
    }
    if (root["peers"]) {
      auto p = yaml::parsePeers(root["peers"], [](const char* name) { return std::getenv(name); });
      if (!p) return p.error();
      c.peers = std::move(p).value();
      if (c.peers.listen == c.listen || c.peers.listen == c.metrics_listen)
        return keyError("peers.listen", "must differ from listen and metrics_listen");
    }
    if (root["log"]) {
      const auto& l = root["log"];
      if (auto k = checkKeys(l, "log", "log"); !k) return k.error();
      if (l["level"]) {
        auto v = scalar(l["level"], "log.level");
        if (!v) return v.error();
        static constexpr std::string_view kLevels[] = {"trace", "debug", "info",
                                                       "warn",  "error", "off"};
        if (std::find(std::begin(kLevels), std::end(kLevels), v.value()) == std::end(kLevels)) {
          return keyError("log.level",
                          "'" + v.value() + "' is not one of trace, debug, info, warn, error, off");
        }
        c.log.level = v.value();
      }
      if (l["format"]) {
        auto v = scalar(l["format"], "log.format");
        if (!v) return v.error();
        if (v.value() != "text" && v.value() != "json")
          return keyError("log.format", "must be text or json");
        c.log.format = v.value();
      }
    }
  } catch (const YAML::Exception& e) {
    return fail(Errc::kConfigInvalid, std::string("YAML: ") + e.what());
  }
  return c;
}

Result<Config> loadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(Errc::kConfigInvalid, "cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = parseConfig(ss.str());
  if (!c) return Error{c.error().code, path + ": " + c.error().detail};
  return c;
}

}  // namespace pullcache::config
