#pragma once
// GET/HEAD /v2/<name>/blobs/<digest>: from the cache, or streamed while it is fetched once
// (FetchCoordinator); a Range is served as soon as its bytes can come, multipart for several.

#include <memory>

#include "common/http_message.h"
#include "common/request_info.h"
#include "daemon/registry/registry_deps.h"
#include "daemon/registry/route.h"

namespace pullcache::registry {

class BlobHandler {
 public:
  explicit BlobHandler(const RegistryDeps& deps) : d_(deps) {}

  Task<Result<HttpResponse>> serve(Route route, HttpRequest request,
                                   std::shared_ptr<const upstream::Upstream> up, RequestInfo& info);

 private:
  RegistryDeps d_;
};

}  // namespace pullcache::registry
