#include "daemon/upstream/registry_client.h"

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
  auto auth = co_await upstream->auth->authorization(repository);
  if (!auth) co_return auth.error();
  std::string sent = auth.value();
  for (int attempt = 0;; ++attempt) {
    Request r = request;
    if (!sent.empty()) r.headers.set("Authorization", sent);
    Result<Response> resp = Error{};
    if (sink) {
      resp = co_await http_.stream(std::move(r), sink);
    } else {
      resp = co_await http_.send(std::move(r));
    }
    if (!resp) co_return resp;
    if (resp.value().status != 401 || attempt > 0) co_return resp;
    std::string challenge(resp.value().headers.get("www-authenticate"));
    if (challenge.empty()) co_return resp;
    auto next = co_await upstream->auth->onChallenge(repository, challenge, sent);
    if (!next) co_return next.error();
    sent = std::move(next).value();
  }
}

}  // namespace pullcache::upstream
