#pragma once
// What a listener serves: a function from request to response (no socket in sight).

#include <string_view>

#include "common/asio.h"
#include "common/http_message.h"
#include "common/request_info.h"

namespace pullcache::server {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Never fails: every error is already a response. Must not throw. What the access log and
  // the metrics need goes into `info`, which outlives the call (the session owns it).
  virtual Task<HttpResponse> handle(HttpRequest request, RequestInfo& info) = 0;
};

}  // namespace pullcache::server
