#include "daemon/upstream/registry_client.h"

#include <charconv>
#include <map>

#include "common/log.h"
#include "daemon/http/redirect.h"
#include "daemon/upstream/retry_policy.h"
#include "daemon/upstream/sources.h"

namespace pullcache::upstream {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("upstream");
  return log;
}

metrics::UpstreamKind kindOf(std::string_view url) {
  if (url.find("/manifests/") != std::string_view::npos) return metrics::UpstreamKind::kManifest;
  if (url.find("/blobs/") != std::string_view::npos) return metrics::UpstreamKind::kBlob;
  if (url.find("/tags/") != std::string_view::npos) return metrics::UpstreamKind::kTags;
  if (url.find("/referrers/") != std::string_view::npos) return metrics::UpstreamKind::kReferrers;
  return metrics::UpstreamKind::kOther;
}

// Docker Hub style "ratelimit-remaining: 76;w=21600".
void recordRateLimit(metrics::UpstreamMetrics& m, const Headers& headers) {
  std::string_view v = headers.get("ratelimit-remaining");
  if (v.empty()) return;
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc() && p != v.data()) m.ratelimit_remaining.set(static_cast<double>(n));
}

// Remembers whether a 2xx body began to reach the real receiver: after that, a failed transfer
// is not sent again (the receiver would get bytes twice).
class WatchedSink final : public http::BodySink {
 public:
  explicit WatchedSink(std::shared_ptr<http::BodySink> inner) : inner_(std::move(inner)) {}
  bool onHeaders(int status, const Headers& headers) override {
    started_ = true;
    return keep(inner_->onHeaders(status, headers));
  }
  bool onData(const char* data, std::size_t size) override {
    return keep(inner_->onData(data, size));
  }
  [[nodiscard]] bool started() const { return started_; }
  // The receiver stopped the transfer for reasons of its own (its disk, its memory), not for a
  // fault of the answer: not the source's doing.
  [[nodiscard]] bool refused() const { return refused_ && !inner_->answerAtFault(); }
  [[nodiscard]] bool answerAtFault() const override { return inner_->answerAtFault(); }
  void onEnd() override { inner_->onEnd(); }

 private:
  bool keep(bool go_on) {
    if (!go_on) refused_ = true;
    return go_on;
  }
  std::shared_ptr<http::BodySink> inner_;
  bool started_ = false;
  bool refused_ = false;
};

Task<void> sleepFor(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

Error upstreamStatusError(const http::Response& response, Errc not_found, const std::string& what) {
  const int status = response.status;
  std::string detail = "upstream answered HTTP " + std::to_string(status) + " for " + what;
  if (status == 404) return Error{not_found, detail};
  if (status == 401 || status == 403) return Error{Errc::kDenied, detail};
  if (status == 429) {
    Error e{Errc::kTooManyRequests, detail};
    if (auto secs = parseRetryAfterSeconds(response.headers.get("retry-after")))
      e.retry_after_s = std::min<std::uint32_t>(*secs, 24 * 3600);
    return e;
  }
  if (status >= 500) return Error{Errc::kUpstreamUnavailable, detail};
  return Error{Errc::kUpstreamBadResponse, detail};
}

Task<Result<http::Response>> RegistryClient::request(std::shared_ptr<const Upstream> upstream,
                                                     std::string method, std::string repository,
                                                     std::string path, Headers headers,
                                                     std::uint64_t max_body) {
  http::Request req;
  req.method = std::move(method);
  req.url = "/" + path;
  req.headers = std::move(headers);
  req.max_body = max_body;
  req.timeout = request_timeout_;
  co_return co_await viaSources(std::move(upstream), std::move(repository), std::move(req),
                                nullptr);
}

Task<Result<http::Response>> RegistryClient::streamBlob(std::shared_ptr<const Upstream> upstream,
                                                        std::string repository, std::string digest,
                                                        std::uint64_t offset,
                                                        std::shared_ptr<http::BodySink> sink,
                                                        std::optional<std::uint64_t> last) {
  http::Request req;
  req.url = "/blobs/" + digest;
  if (offset > 0 || last)
    req.headers.add("Range", "bytes=" + std::to_string(offset) + "-" +
                                 (last ? std::to_string(*last) : std::string()));
  co_return co_await viaSources(std::move(upstream), std::move(repository), std::move(req),
                                std::move(sink));
}

Task<Result<http::Response>> RegistryClient::viaSources(std::shared_ptr<const Upstream> upstream,
                                                        std::string repository,
                                                        http::Request request,
                                                        std::shared_ptr<http::BodySink> sink) {
  const std::string name = upstream->upstreamName(repository);
  const std::string suffix = std::move(request.url);
  const auto& sources = upstream->sources;
  if (sources.size() == 1) {
    auto at = sources[0].path.repository(name);
    if (!at) co_return at.error();
    request.url = sources[0].base_url + "/v2/" + at.value() + suffix;
    Attempt only =
        co_await perform(upstream, 0, std::move(at).value(), std::move(request), std::move(sink));
    co_return std::move(only.answer);
  }
  // A source is asked only when the request reaches it, so a breaker's half-open try is spent
  // only on a request that needs it. A move to the next source is counted (by the reason it
  // left the one before) when that next source is asked; skipped sources, whose breaker is
  // open, are asked as a last resort, in order, when no source was.
  struct Left {
    std::size_t source;
    metrics::FallbackReason reason;
  };
  std::vector<Left> left;
  std::vector<std::size_t> skipped;
  const auto count_moves = [&] {
    for (const Left& l : left)
      if (auto* m = sources[l.source].source_metrics) m->fallback(l.reason);
    left.clear();
  };
  std::optional<Result<http::Response>> answer;  // what the client gets if no source is final
  bool answer_says_later = false;
  bool asked_any = false;
  auto watched = sink ? std::make_shared<WatchedSink>(sink) : nullptr;
  for (int pass = 0; pass < 2; ++pass) {
    const bool last_resort = pass == 1;
    if (last_resort && (asked_any || skipped.empty())) break;
    if (last_resort)  // they are asked after all
      std::erase_if(
          left, [](const Left& l) { return l.reason == metrics::FallbackReason::kBreakerOpen; });
    const std::vector<std::size_t> order = last_resort ? std::move(skipped) : [&] {
      std::vector<std::size_t> all(sources.size());
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
      return all;
    }();
    skipped.clear();
    for (const std::size_t i : order) {
      const Source& src = sources[i];
      auto at = src.path.repository(name);
      if (!at) {
        left.push_back({i, metrics::FallbackReason::kNameTooLong});
        if (!answer) answer = Result<http::Response>(at.error());
        continue;
      }
      if (!last_resort && !src.breaker->admit(std::chrono::steady_clock::now())) {
        skipped.push_back(i);
        left.push_back({i, metrics::FallbackReason::kBreakerOpen});
        continue;
      }
      count_moves();
      asked_any = true;
      http::Request r = request;
      r.url = src.base_url + "/v2/" + at.value() + suffix;
      Attempt attempt = co_await perform(upstream, i, std::move(at).value(), std::move(r), watched);
      if (watched && watched->refused()) co_return std::move(attempt.answer);
      const SourceVerdict verdict = judgeSourceAnswer(attempt.answer, attempt.repository_refused);
      noteVerdict(*upstream, src, verdict);
      if (!verdict.fallback || (watched && watched->started())) co_return std::move(attempt.answer);
      left.push_back({i, *verdict.fallback});
      if (!answer || (verdict.try_later && !answer_says_later)) {
        answer = std::move(attempt.answer);
        answer_says_later = verdict.try_later;
      }
    }
  }
  co_return std::move(*answer);
}

void RegistryClient::noteVerdict(const Upstream& upstream, const Source& src,
                                 const SourceVerdict& verdict) {
  if (verdict.source_failed) {
    if (src.breaker->failed(std::chrono::steady_clock::now())) {
      logger()->warn(
          "source {} of {} keeps failing ({}); skipped for {} ms", src.path.str(), upstream.host,
          metrics::fallbackReasonName(*verdict.fallback),
          std::chrono::duration_cast<std::chrono::milliseconds>(src.breaker->backoff()).count());
    }
  } else if (src.breaker->succeeded()) {
    logger()->info("source {} of {} answers again", src.path.str(), upstream.host);
  }
  if (src.source_metrics != nullptr) src.source_metrics->breaker_open.set(src.breaker->open());
}

Task<RegistryClient::Attempt> RegistryClient::perform(std::shared_ptr<const Upstream> upstream,
                                                      std::size_t source, std::string repository,
                                                      http::Request request,
                                                      std::shared_ptr<http::BodySink> sink) {
  const Source& src = upstream->sources[source];
  // Redirects are followed here, not by libcurl, so that each host gets its own auth: the
  // upstream's own host its configured credentials or tokens, a CDN or S3 nothing, and a
  // regional registry (registry.k8s.io -> *.pkg.dev) a token from its own challenge.
  std::map<std::string, std::string> challenged;  // host -> header obtained for this request
  std::string url = request.url;
  const std::string origin_host = http::urlHost(url);
  request.follow_redirects = false;
  int hops = 0;
  bool refetched = false;
  int attempts = 0;  // sends of the current hop that failed in a way worth retrying
  const RetryPolicy retry_policy;
  for (;;) {
    const std::string host = http::urlHost(url);
    std::string sent;
    if (auto it = challenged.find(host); it != challenged.end()) {
      sent = it->second;
    } else {
      auto auth = co_await src.auth->authorization(host, repository);
      if (!auth) co_return Attempt{auth.error()};
      sent = std::move(auth).value();
    }
    http::Request r = request;
    r.url = url;
    // The configured host may be anywhere; where it sends us must be public unless allowed.
    r.allow_non_public = host == origin_host || src.private_redirects_ok;
    if (!sent.empty()) r.headers.set("Authorization", sent);
    Result<http::Response> resp = Error{};
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<WatchedSink> watched;
    if (sink) {
      watched = std::make_shared<WatchedSink>(sink);
      resp = co_await http_.stream(std::move(r), watched);
    } else {
      resp = co_await http_.send(std::move(r));
    }
    if (src.metrics != nullptr) {
      // Counted under the kind of the original request, whichever host answered.
      auto kind = kindOf(request.url);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (resp) {
        src.metrics->request(kind, resp.value().status, secs, resp.value().body_bytes);
        recordRateLimit(*src.metrics, resp.value().headers);
      } else {
        src.metrics->transportError(kind, secs);
      }
    }
    AttemptOutcome outcome;
    outcome.body_started = watched && watched->started();
    if (resp) {
      outcome.status = resp.value().status;
      outcome.retry_after = resp.value().headers.get("retry-after");
    } else {
      outcome.transport_error = resp.error().code;
    }
    if (auto delay = retryDelay(retry_policy, ++attempts, outcome)) {
      if (src.metrics != nullptr) src.metrics->retries.inc();
      co_await sleepFor(*delay);
      continue;
    }
    if (!resp) co_return Attempt{std::move(resp)};
    attempts = 0;
    const int status = resp.value().status;
    if (http::isRedirectStatus(status) && resp.value().headers.has("location")) {
      if (++hops > http::kMaxRedirects) {
        co_return Attempt{fail(Errc::kUpstreamBadResponse,
                               "more than " + std::to_string(http::kMaxRedirects) + " redirects")};
      }
      auto next = http::resolveRedirect(url, std::string(resp.value().headers.get("location")));
      if (!next) co_return Attempt{next.error()};
      url = std::move(next).value();
      continue;
    }
    if (status == 403 && hops > 0 && host != origin_host && !refetched) {
      // A redirect target refused: most likely an expired pre-signed URL (S3 answers 403
      // "Request has expired"). Ask the registry for a fresh one, once.
      refetched = true;
      url = request.url;
      hops = 0;
      continue;
    }
    if (status == 403 && hops > 0 && host != origin_host) {
      // Refused again with a URL the registry has just issued: the object store or the path to
      // it is the problem, not this node's credentials.
      co_return Attempt{fail(Errc::kUpstreamUnavailable, "the registry's redirect target " + host +
                                                             " refused a fresh URL (HTTP 403)")};
    }
    std::string challenge(resp.value().headers.get("www-authenticate"));
    const bool expired_credentials = status == 403 && host == origin_host &&
                                     src.auth->refreshOnForbidden() && !challenged.contains(host);
    if (expired_credentials) {
      auto next = co_await src.auth->onChallenge(host, repository, challenge, sent);
      if (!next) {
        if (next.error().code == Errc::kDenied) co_return Attempt{std::move(resp)};  // DENIED
        co_return Attempt{next.error()};
      }
      challenged[host] = std::move(next).value();
      continue;
    }
    if (status != 401 || challenge.empty() || challenged.contains(host)) {
      // A token this source issued for the repository, then refused: the repository is missing
      // or private there (Docker Hub answers so for both), which says nothing of the source.
      const bool refused_token = (status == 401 || status == 403) && host == origin_host &&
                                 sent.starts_with("Bearer ") && challenged.contains(host);
      co_return Attempt{std::move(resp), refused_token};
    }
    auto next = co_await src.auth->onChallenge(host, repository, challenge, sent);
    if (!next) co_return Attempt{next.error()};
    challenged[host] = std::move(next).value();
  }
}

}  // namespace pullcache::upstream
