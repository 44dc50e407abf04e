#pragma once
// Error -> HTTP response with the OCI JSON error body (table in common/oci_error).

#include "common/error.h"
#include "common/http_message.h"

namespace pullcache::server {

HttpResponse errorResponse(const Error& error, bool head);

}  // namespace pullcache::server
