#include "daemon/auth/ecr_auth.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <random>

#include "common/log.h"
#include "common/spawn.h"
#include "daemon/http/redirect.h"

namespace pullcache::auth {
namespace {

using SysClock = std::chrono::system_clock;

// A token is handed out only while it has this much life left (a quarter of its lifetime when
// that is less: tokens for temporary credentials can be short).
constexpr std::chrono::seconds kMinRemaining{30};

bool usable(const EcrToken& t, SysClock::time_point now) {
  auto margin = std::min<SysClock::duration>(kMinRemaining, (t.expires_at - t.obtained_at) / 4);
  return now + margin < t.expires_at;
}
// After the registry refused a token and a new one was fetched, refusals within this time are
// not the token's fault: no further fetch.
constexpr std::chrono::seconds kMinRefetchAge{10};
constexpr std::chrono::seconds kErrorLogInterval{30};

double randomJitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

SysClock::duration ecrRefreshDelay(SysClock::time_point now, SysClock::time_point expires,
                                   double jitter) {
  auto remaining = expires - now;
  if (remaining <= SysClock::duration::zero()) return std::chrono::seconds(1);
  jitter = std::clamp(jitter, 0.0, 1.0);
  auto delay =
      remaining / 2 - std::chrono::duration_cast<SysClock::duration>(remaining * (0.1 * jitter));
  return std::max<SysClock::duration>(delay, std::chrono::seconds(1));
}

std::chrono::milliseconds ecrRetryDelay(int failures) {
  if (failures <= 0) return std::chrono::milliseconds(0);
  int shift = std::min(failures - 1, 6);
  return std::min(std::chrono::milliseconds(1000) * (1 << shift),
                  std::chrono::milliseconds(60'000));
}

EcrTokenSource::EcrTokenSource(Options options, AwsCredentialChain& chain, http::Client& http,
                               const Clock& clock)
    : options_(std::move(options)), chain_(chain), http_(http), clock_(clock) {}

void EcrTokenSource::addMetrics(metrics::UpstreamMetrics* m) {
  if (m == nullptr) return;
  std::lock_guard lock(mu_);
  metrics_.push_back(m);
  if (current_) {
    m->token_expiry.set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(current_->expires_at.time_since_epoch())
            .count()));
  }
}

EcrTokenSource::Status EcrTokenSource::status() const {
  std::lock_guard lock(mu_);
  Status s;
  s.have_token = current_.has_value();
  if (current_) s.expires_at = current_->expires_at;
  s.credentials = credentials_;
  return s;
}

void EcrTokenSource::stop() {
  stopped_ = true;
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(mu_);
    timer = timer_;
  }
  if (timer) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

Task<Result<Secret>> EcrTokenSource::token() {
  if (!started_.exchange(true)) {
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(asio::make_strand(executor), refreshLoop(shared_from_this()),
                   LogEscaped("ecr token refresh"));
  }
  {
    std::lock_guard lock(mu_);
    if (current_ && usable(*current_, clock_.now())) co_return current_->basic;
  }
  co_return co_await fetchShared();
}

Task<Result<Secret>> EcrTokenSource::refreshAfterRejection(Secret rejected) {
  {
    std::lock_guard lock(mu_);
    if (current_ && usable(*current_, clock_.now())) {
      if (!(current_->basic == rejected)) co_return current_->basic;  // someone refreshed already
      // A token that was itself fetched because the registry refused its predecessor, and is
      // refused again: the registry means "denied", not "expired". No fetch per request.
      if (last_rejection_refresh_ && clock_.now() - *last_rejection_refresh_ < kMinRefetchAge)
        co_return fail(Errc::kDenied, "the registry refused a fresh ECR token");
    }
    current_.reset();
    last_rejection_refresh_ = clock_.now();
  }
  co_return co_await fetchShared();
}

Task<Result<Secret>> EcrTokenSource::fetchShared() {
  co_return co_await flight_.run("token", [this] { return fetch(); });
}

void EcrTokenSource::logFailure(const std::string& what) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (what == last_error_ && now - last_error_logged_ < kErrorLogInterval) return;
    last_error_ = what;
    last_error_logged_ = now;
  }
  componentLogger("aws")->error("ECR token for region {} not obtained: {}", options_.region, what);
}

Task<Result<Secret>> EcrTokenSource::fetch() {
  auto fail_with = [this](const std::string& what) {
    logFailure(what);
    std::lock_guard lock(mu_);
    ++failures_;
    for (auto* m : metrics_) m->token_refreshes[1].inc();
    return Error{Errc::kUpstreamUnavailable, "ECR token: " + what};
  };
  auto creds = co_await chain_.get();
  if (!creds) co_return fail_with(creds.error().detail);
  const TimedCredentials& c = creds.value();
  const std::string who = c.provider + " (" + c.identity + ")";
  const std::string api_host = http::urlHost(options_.api_endpoint);
  SigV4Request sreq = getAuthorizationTokenRequest(api_host);
  SigV4Signature sig = signV4(sreq, c.credentials, options_.region, "ecr", clock_.now());
  http::Request req;
  req.method = "POST";
  req.url = options_.api_endpoint + "/";
  req.timeout = options_.request_timeout;
  req.follow_redirects = false;
  req.max_body = 64 * 1024;
  req.body = sreq.payload;
  req.headers.add("Host", api_host);
  req.headers.add("X-Amz-Date", sig.amz_date);
  if (!c.credentials.session_token.empty())
    req.headers.add("X-Amz-Security-Token", c.credentials.session_token.reveal());
  for (const auto& [name, value] : sreq.headers) req.headers.add(name, value);
  req.headers.add("Authorization", sig.authorization);
  req.headers.add("Accept", "application/json");
  auto resp = co_await http_.send(std::move(req));
  if (!resp)
    co_return fail_with("ECR API " + options_.api_endpoint +
                        " unreachable: " + resp.error().detail);
  if (resp.value().status != 200) {
    AwsError e = parseAwsJsonError(resp.value().body, resp.value().headers.get("x-amzn-errortype"));
    // Credentials AWS does not accept (expired, revoked, clock skew) are fetched anew next time.
    if (e.code == "UnrecognizedClientException" || e.code == "ExpiredTokenException" ||
        e.code == "InvalidSignatureException" || e.code == "InvalidClientTokenId")
      chain_.invalidate();
    std::string what = "GetAuthorizationToken at " + options_.api_endpoint +
                       " with credentials from " + who + ": HTTP " +
                       std::to_string(resp.value().status);
    if (!e.code.empty()) what += " " + e.code;
    if (!e.message.empty()) what += ": " + e.message;
    co_return fail_with(what);
  }
  auto token = parseGetAuthorizationTokenResponse(resp.value().body);
  if (!token) co_return fail_with(token.error().detail);
  token.value().obtained_at = clock_.now();
  Secret basic = token.value().basic;
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = !current_.has_value() && credentials_.empty();
    const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                            token.value().expires_at.time_since_epoch())
                            .count();
    for (auto* m : metrics_) {
      m->token_refreshes[0].inc();
      m->token_expiry.set(static_cast<double>(expiry));
    }
    current_ = std::move(token).value();
    credentials_ = who;
    failures_ = 0;
    last_error_.clear();
  }
  auto log = componentLogger("aws");
  if (first) {
    log->info("ECR token for region {} obtained with credentials from {}", options_.region, who);
  } else {
    log->debug("ECR token for region {} refreshed", options_.region);
  }
  co_return basic;
}

Task<void> EcrTokenSource::refreshLoop(std::shared_ptr<EcrTokenSource> self) {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(mu_);
    timer_ = timer;
  }
  while (!stopped_) {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(mu_);
      if (failures_ > 0) {
        delay = ecrRetryDelay(failures_);
      } else if (current_) {
        delay = std::chrono::duration_cast<std::chrono::milliseconds>(
            ecrRefreshDelay(clock_.now(), current_->expires_at, randomJitter()));
      }
    }
    if (delay.count() > 0) {
      timer->expires_after(delay);
      co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (stopped_) break;
    {
      // An on-demand fetch may have renewed the token while this loop slept.
      std::lock_guard lock(mu_);
      if (failures_ == 0 && current_ && delay.count() > 0 &&
          clock_.now() < current_->obtained_at + (current_->expires_at - current_->obtained_at) / 3)
        continue;
    }
    auto r = co_await fetchShared();
    (void)r;  // failures are logged and counted by fetch(); the loop retries with backoff
  }
  (void)self;
}

Task<Result<std::string>> EcrAuth::authorization(std::string host, std::string repository) {
  (void)repository;
  if (host != own_host_) co_return std::string();  // S3, a CDN: pre-signed, never our token
  auto token = co_await source_->token();
  if (!token) co_return token.error();
  co_return "Basic " + token.value().reveal();
}

Task<Result<std::string>> EcrAuth::onChallenge(std::string host, std::string repository,
                                               std::string www_authenticate, std::string rejected) {
  (void)repository;
  (void)www_authenticate;
  if (host != own_host_)
    co_return fail(Errc::kUnauthorized, "a host the registry redirected to asks for credentials");
  Secret old(rejected.starts_with("Basic ") ? rejected.substr(6) : std::string());
  auto token = co_await source_->refreshAfterRejection(std::move(old));
  if (!token) co_return token.error();
  std::string header = "Basic " + token.value().reveal();
  if (header == rejected) co_return fail(Errc::kDenied, "the registry refused a fresh ECR token");
  co_return header;
}

}  // namespace pullcache::auth
