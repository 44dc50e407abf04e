#include "daemon/auth/docker_config.h"

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/fs.h"

namespace pullcache::auth {

Result<std::optional<Credentials>> lookupDockerConfig(const std::string& path,
                                                      const std::string& registry_host) {
  auto text = readFile(path, 1u << 20);
  if (!text) return Error{Errc::kConfigInvalid, "docker config: " + text.error().detail};
  auto json = nlohmann::json::parse(text.value(), nullptr, false);
  if (!json.is_object() || !json.contains("auths") || !json["auths"].is_object()) {
    return fail(Errc::kConfigInvalid, "docker config " + path + " has no \"auths\" object");
  }
  std::vector<std::string> keys = {registry_host, "https://" + registry_host,
                                   "http://" + registry_host, "https://" + registry_host + "/v1/",
                                   "https://" + registry_host + "/v2/"};
  if (registry_host == "docker.io") {
    keys.insert(keys.end(),
                {"https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"});
  }
  const auto& auths = json["auths"];
  for (const auto& key : keys) {
    auto it = auths.find(key);
    if (it == auths.end() || !it->is_object()) continue;
    Credentials c;
    if (it->contains("auth") && (*it)["auth"].is_string()) {
      auto decoded = base64Decode((*it)["auth"].get<std::string>());
      if (!decoded)
        return fail(Errc::kConfigInvalid, "docker config: auth for " + key + " is not base64");
      std::size_t colon = decoded->find(':');
      if (colon == std::string::npos)
        return fail(Errc::kConfigInvalid,
                    "docker config: auth for " + key + " is not user:password");
      c.username = decoded->substr(0, colon);
      c.password = Secret(decoded->substr(colon + 1));
    } else if (it->contains("username") && it->contains("password") &&
               (*it)["username"].is_string() && (*it)["password"].is_string()) {
      c.username = (*it)["username"].get<std::string>();
      c.password = Secret((*it)["password"].get<std::string>());
    } else {
      continue;
    }
    return std::optional<Credentials>(std::move(c));
  }
  return std::optional<Credentials>{};
}

}  // namespace pullcache::auth
