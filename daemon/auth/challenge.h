#pragma once
// WWW-Authenticate challenges (RFC 9110 §11.6.1), as registries send them:
//   Bearer
//   realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace pullcache::auth {

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercase keys
  [[nodiscard]] std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
};

// All challenges in a header value (several may be listed, comma-separated).
Result<std::vector<Challenge>> parseChallenges(std::string_view header);

}  // namespace pullcache::auth
