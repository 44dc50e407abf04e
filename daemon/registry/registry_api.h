#pragma once
// The OCI distribution pull API, as functions from (route, request) to response. No sockets:
// the server feeds it parsed requests and writes what it returns. Dispatches to the blob and
// manifest handlers; counts cache outcomes and image pulls.

#include <memory>

#include "common/http_message.h"
#include "common/request_info.h"
#include "daemon/registry/blob_handler.h"
#include "daemon/registry/manifest_handler.h"
#include "daemon/registry/registry_deps.h"
#include "daemon/registry/route.h"

namespace pullcache::registry {

class RegistryApi {
 public:
  explicit RegistryApi(RegistryDeps deps) : d_(deps), blobs_(d_), manifests_(d_) {}

  // Errors come back as Error (mapped to status + OCI body by the server); a response that
  // is already an answer (including 416) comes back as a value. `info` gets the route, the
  // names and where the answer came from, for errors too; it outlives the call.
  Task<Result<HttpResponse>> handle(Route route, HttpRequest request, RequestInfo& info);

 private:
  // Tag lists and referrers: passed through, uncached.
  Task<Result<HttpResponse>> passThrough(Route route, HttpRequest request,
                                         std::shared_ptr<const upstream::Upstream> up,
                                         RequestInfo& info);

  RegistryDeps d_;
  BlobHandler blobs_;
  ManifestHandler manifests_;
};

}  // namespace pullcache::registry
