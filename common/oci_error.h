#pragma once
// THE table from an Error to an HTTP status and an OCI distribution-spec error code, and the
// spec's JSON error body {"errors":[{"code":...,"message":...}]}. daemon/server/error_response
// builds responses from it; nothing else maps errors to statuses.

#include <string>
#include <string_view>

#include "common/error.h"

namespace pullcache {

struct OciError {
  int status;
  std::string_view code;
};

OciError ociError(Errc errc) noexcept;
std::string ociErrorBody(const Error& error);

}  // namespace pullcache
