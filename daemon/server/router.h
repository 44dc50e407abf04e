#pragma once
// Request target -> Route. Pure; validates every name, tag, digest and ?ns= before anything
// touches the disk or an upstream URL.

#include <string_view>

#include "common/error.h"
#include "daemon/registry/route.h"

namespace pullcache::server {

Result<registry::Route> parseRoute(std::string_view target);

}  // namespace pullcache::server
