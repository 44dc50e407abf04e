#include "daemon/server/error_response.h"

#include "common/oci_error.h"

namespace pullcache::server {

HttpResponse errorResponse(const Error& error, bool head) {
  HttpResponse r;
  r.status = ociError(error.code).status;
  r.headers.add("Content-Type", "application/json");
  if (error.code == Errc::kUnsupported) r.headers.add("Allow", "GET, HEAD");
  if (error.retry_after_s > 0) r.headers.add("Retry-After", std::to_string(error.retry_after_s));
  std::string body = ociErrorBody(error);
  r.content_length = body.size();
  r.head = head;
  if (!head) r.body = std::move(body);
  return r;
}

}  // namespace pullcache::server
