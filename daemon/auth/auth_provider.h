#pragma once
// How pullcache authenticates to one upstream registry. One provider per upstream host; shared
// by every request to it (implementations are thread-safe). ECR plugs in here.

#include <string>
#include <string_view>

#include "common/asio.h"
#include "common/error.h"

namespace pullcache::auth {

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;

  // `host` is where a request goes: the upstream's own host, or a host it redirected to (a CDN,
  // S3, a regional registry). Configured credentials are only ever used for the own host.

  // The Authorization header value for a pull of `repository` from `host`, if one is known
  // without asking anyone (a cached token, static credentials). Empty: send none.
  virtual Task<Result<std::string>> authorization(std::string host, std::string repository) = 0;

  // `host` answered 401 with `www_authenticate` although we sent `rejected` (maybe empty).
  // Obtain fresh credentials (e.g. fetch a token) and return the header value to retry the
  // request with once. kUnauthorized if there is nothing better to try.
  virtual Task<Result<std::string>> onChallenge(std::string host, std::string repository,
                                                std::string www_authenticate,
                                                std::string rejected) = 0;

  // Whether a 403 from the upstream's own host may mean "credentials expired" (ECR answers an
  // expired token with 403): then onChallenge is asked once, with an empty challenge.
  [[nodiscard]] virtual bool refreshOnForbidden() const noexcept { return false; }
};

}  // namespace pullcache::auth
