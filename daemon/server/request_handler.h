#pragma once
// What a listener serves: a function from request to response (no socket in sight).

#include <string_view>

#include "common/asio.h"
#include "common/http_message.h"

namespace pullcache::server {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Never fails: every error is already a response. Must not throw.
  virtual Task<HttpResponse> handle(HttpRequest request) = 0;
};

}  // namespace pullcache::server
