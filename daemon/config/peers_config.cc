// The `peers` section: cluster mode (see daemon/peers/).
#include <algorithm>

#include "common/reference.h"
#include "daemon/config/yaml_keys.h"

namespace pullcache::config::yaml {
namespace {

// "${HOST_IP}:5001" -> "10.0.1.5:5001". Only whole `${NAME}` references; an unset or empty
// variable is an error (a node must never advertise a half-made address).
Result<std::string> expandEnv(const std::string& text, const std::string& key,
                              const std::function<const char*(const char*)>& getenv) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t open = text.find("${", i);
    if (open == std::string::npos) {
      out.append(text, i);
      break;
    }
    std::size_t close = text.find('}', open);
    if (close == std::string::npos) return keyError(key, "unterminated ${ in '" + text + "'");
    std::string name = text.substr(open + 2, close - open - 2);
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_';
        }))
      return keyError(key, "'${" + name + "}' is not an environment variable name");
    const char* value = getenv(name.c_str());
    if (value == nullptr || *value == '\0')
      return keyError(key, "environment variable " + name + " is not set");
    out.append(text, i, open - i).append(value);
    i = close + 1;
  }
  return out;
}

Result<Endpoint> endpointKey(const YAML::Node& node, const std::string& key,
                             const std::function<const char*(const char*)>& getenv) {
  auto v = scalar(node, key);
  if (!v) return v.error();
  auto expanded = expandEnv(v.value(), key, getenv);
  if (!expanded) return expanded.error();
  auto e = parseEndpoint(expanded.value());
  if (!e) return keyError(key, e.error().detail);
  return e.value();
}

bool isWildcard(const Endpoint& e) { return e.host == "0.0.0.0" || e.host == "::"; }

}  // namespace

Result<PeersConfig> parsePeers(const YAML::Node& node,
                               const std::function<const char*(const char*)>& getenv) {
  if (auto k = checkKeys(node, "peers", "peers"); !k) return k.error();
  PeersConfig p;
  p.enabled = true;
  if (node["listen"]) {
    auto e = endpointKey(node["listen"], "peers.listen", getenv);
    if (!e) return e.error();
    p.listen = e.value();
  }
  if (node["advertise"]) {
    auto v = scalar(node["advertise"], "peers.advertise");
    if (!v) return v.error();
    if (!v.value().empty()) {
      auto e = endpointKey(node["advertise"], "peers.advertise", getenv);
      if (!e) return e.error();
      if (isWildcard(e.value()))
        return keyError("peers.advertise", "must be an address the other nodes can reach");
      p.advertise = e.value();
    }
  }
  if (node["dns"]) {
    auto v = scalar(node["dns"], "peers.dns");
    if (!v) return v.error();
    if (!v.value().empty()) {
      const std::string& text = v.value();
      const std::size_t colon = text.rfind(':');
      if (colon == std::string::npos)
        return keyError("peers.dns", "'" + text + "' is not name:port");
      const std::string name = text.substr(0, colon);
      if (auto h = validateRegistryHost(name); !h || name.find(':') != std::string::npos)
        return keyError("peers.dns", "'" + name + "' is not a DNS name");
      auto port = parseEndpoint("127.0.0.1" + text.substr(colon));
      if (!port || port.value().port == 0)
        return keyError("peers.dns", "'" + text.substr(colon + 1) + "' is not a port number");
      p.dns_name = name;
      p.dns_port = port.value().port;
    }
  }
  if (node["static"]) {
    const auto& list = node["static"];
    if (!list.IsSequence()) return keyError("peers.static", "must be a list of \"IP:port\"");
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto e = endpointKey(list[i], "peers.static[" + std::to_string(i) + "]", getenv);
      if (!e) return e.error();
      if (isWildcard(e.value()))
        return keyError("peers.static[" + std::to_string(i) + "]", "is a wildcard address");
      if (std::find(p.static_members.begin(), p.static_members.end(), e.value()) ==
          p.static_members.end())
        p.static_members.push_back(e.value());
    }
  }
  if (node["refresh"]) {
    auto d = durationKey(node["refresh"], "peers.refresh");
    if (!d) return d.error();
    p.refresh = d.value();
  }
  if (node["fanout"]) {
    auto n = integerKey(node["fanout"], "peers.fanout");
    if (!n) return n.error();
    p.fanout = static_cast<int>(n.value());
  }
  if (node["secret_file"]) {
    auto v = scalar(node["secret_file"], "peers.secret_file");
    if (!v) return v.error();
    if (v.value().empty() || v.value().front() != '/')
      return keyError("peers.secret_file", "must be an absolute path");
    p.secret_file = v.value();
  }
  if (node["connect_timeout"]) {
    auto d = durationKey(node["connect_timeout"], "peers.connect_timeout");
    if (!d) return d.error();
    p.connect_timeout = d.value();
  }
  // Checks across keys, once every key has been read.
  if (isWildcard(p.self()))
    return keyError("peers.advertise", "is required when peers.listen is a wildcard address (" +
                                           p.listen.str() +
                                           "): the other nodes need this node's own address");
  if (p.dns_name.empty() == p.static_members.empty())
    return keyError("peers", "set exactly one of peers.dns (a headless Service) and peers.static");
  return p;
}

}  // namespace pullcache::config::yaml
