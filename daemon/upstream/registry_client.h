#pragma once
// Requests to an upstream registry's /v2/ API with its auth: attach the known Authorization,
// and on a 401 challenge obtain fresh credentials and retry once.

#include <memory>
#include <optional>
#include <string>

#include "daemon/http/client.h"
#include "daemon/upstream/sources.h"
#include "daemon/upstream/upstream_router.h"

namespace pullcache::upstream {

// An upstream with several sources: each request goes to them in order (skipping one whose
// breaker is open while another is not), and the first final answer (daemon/upstream/sources.h)
// is the client's; once a 2xx body has begun, the request stays with its source.
class RegistryClient {
 public:
  RegistryClient(http::Client& http, std::chrono::milliseconds request_timeout)
      : http_(http), request_timeout_(request_timeout) {}

  // GET/HEAD <base>/v2/<repository>/<path>[?query], body buffered up to max_body.
  Task<Result<http::Response>> request(std::shared_ptr<const Upstream> upstream, std::string method,
                                       std::string repository, std::string path, Headers headers,
                                       std::uint64_t max_body);
  // GET of a blob from byte `offset` (Range when > 0) to its end, or to byte `last` (inclusive)
  // when given; a 2xx body goes to `sink`.
  Task<Result<http::Response>> streamBlob(std::shared_ptr<const Upstream> upstream,
                                          std::string repository, std::string digest,
                                          std::uint64_t offset,
                                          std::shared_ptr<http::BodySink> sink,
                                          std::optional<std::uint64_t> last = std::nullopt);

 private:
  // `request.url` holds what follows /v2/<repository> ("/manifests/v1").
  Task<Result<http::Response>> viaSources(std::shared_ptr<const Upstream> upstream,
                                          std::string repository, http::Request request,
                                          std::shared_ptr<http::BodySink> sink);
  struct Attempt {
    Result<http::Response> answer;
    bool repository_refused = false;  // 401/403 to a token the source issued for this request
  };
  // One source: its auth, redirects, retries. `repository` is the name at that source.
  Task<Attempt> perform(std::shared_ptr<const Upstream> upstream, std::size_t source,
                        std::string repository, http::Request request,
                        std::shared_ptr<http::BodySink> sink);
  // Books one source's answer with its breaker (and says when the breaker opens or closes).
  static void noteVerdict(const Upstream& upstream, const Source& src,
                          const SourceVerdict& verdict);
  http::Client& http_;
  std::chrono::milliseconds request_timeout_;
};

// Maps a non-2xx upstream status to the error the client should see.
// A 429's Retry-After (delta-seconds) is passed on to the client.
Error upstreamStatusError(const http::Response& response, Errc not_found, const std::string& what);

}  // namespace pullcache::upstream
