#pragma once
// Credentials from a docker config.json or a Kubernetes kubernetes.io/dockerconfigjson secret
// file: {"auths": {"<registry>": {"auth": base64(user:password)} | {"username","password"}}}.

#include <optional>
#include <string>

#include "common/error.h"
#include "common/secret.h"

namespace pullcache::auth {

struct Credentials {
  std::string username;
  Secret password;
};

// Looks up `registry_host` (also under "https://<host>", "https://<host>/v1/", and the
// index.docker.io aliases for docker.io). nullopt if the file has no entry for it.
Result<std::optional<Credentials>> lookupDockerConfig(const std::string& path,
                                                      const std::string& registry_host);

}  // namespace pullcache::auth
