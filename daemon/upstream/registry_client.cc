#include "daemon/upstream/registry_client.h"

#include <map>

#include "daemon/upstream/redirect.h"

namespace pullcache::upstream {

Error upstreamStatusError(int status, Errc not_found, const std::string& what) {
  std::string detail = "upstream answered HTTP " + std::to_string(status) + " for " + what;
  if (status == 404) return Error{not_found, detail};
  if (status == 401 || status == 403) return Error{Errc::kDenied, detail};
  if (status == 429) return Error{Errc::kTooManyRequests, detail};
  if (status >= 500) return Error{Errc::kUpstreamUnavailable, detail};
  return Error{Errc::kUpstreamBadResponse, detail};
}

Task<Result<Response>> RegistryClient::request(std::shared_ptr<const Upstream> upstream,
                                               std::string method, std::string repository,
                                               std::string path, Headers headers,
                                               std::uint64_t max_body) {
  Request req;
  req.method = std::move(method);
  std::string name = upstream->upstreamName(repository);
  req.url = upstream->base_url + "/v2/" + name + "/" + path;
  req.headers = std::move(headers);
  req.max_body = max_body;
  req.timeout = request_timeout_;
  co_return co_await perform(std::move(upstream), std::move(name), std::move(req), nullptr);
}

Task<Result<Response>> RegistryClient::streamBlob(std::shared_ptr<const Upstream> upstream,
                                                  std::string repository, std::string digest,
                                                  std::uint64_t offset,
                                                  std::shared_ptr<BodySink> sink) {
  Request req;
  std::string name = upstream->upstreamName(repository);
  req.url = upstream->base_url + "/v2/" + name + "/blobs/" + digest;
  if (offset > 0) req.headers.add("Range", "bytes=" + std::to_string(offset) + "-");
  co_return co_await perform(std::move(upstream), std::move(name), std::move(req), std::move(sink));
}

Task<Result<Response>> RegistryClient::perform(std::shared_ptr<const Upstream> upstream,
                                               std::string repository, Request request,
                                               std::shared_ptr<BodySink> sink) {
  // Redirects are followed here, not by libcurl, so that each host gets its own auth: the
  // upstream's own host its configured credentials or tokens, a CDN or S3 nothing, and a
  // regional registry (registry.k8s.io -> *.pkg.dev) a token from its own challenge.
  std::map<std::string, std::string> challenged;  // host -> header obtained for this request
  std::string url = request.url;
  request.follow_redirects = false;
  int hops = 0;
  for (;;) {
    const std::string host = urlHost(url);
    std::string sent;
    if (auto it = challenged.find(host); it != challenged.end()) {
      sent = it->second;
    } else {
      auto auth = co_await upstream->auth->authorization(host, repository);
      if (!auth) co_return auth.error();
      sent = std::move(auth).value();
    }
    Request r = request;
    r.url = url;
    if (!sent.empty()) r.headers.set("Authorization", sent);
    Result<Response> resp = Error{};
    if (sink) {
      resp = co_await http_.stream(std::move(r), sink);
    } else {
      resp = co_await http_.send(std::move(r));
    }
    if (!resp) co_return resp;
    const int status = resp.value().status;
    if (isRedirectStatus(status) && resp.value().headers.has("location")) {
      if (++hops > kMaxRedirects) {
        co_return fail(Errc::kUpstreamBadResponse,
                       "more than " + std::to_string(kMaxRedirects) + " redirects");
      }
      auto next = resolveRedirect(url, std::string(resp.value().headers.get("location")));
      if (!next) co_return next.error();
      url = std::move(next).value();
      continue;
    }
    std::string challenge(resp.value().headers.get("www-authenticate"));
    if (status != 401 || challenge.empty() || challenged.contains(host)) co_return resp;
    auto next = co_await upstream->auth->onChallenge(host, repository, challenge, sent);
    if (!next) co_return next.error();
    challenged[host] = std::move(next).value();
  }
}

}  // namespace pullcache::upstream
