#pragma once
// Every metric pullcache exports, declared here and nowhere else. Updates are lock-free atomics
// on pre-created series (closed label sets are arrays indexed by enums; per-upstream series are
// created once per upstream host and reached through a pointer the Upstream carries), so the
// request path never takes a lock to count. prometheus-cpp is used only to serialise a scrape.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_message.h"
#include "common/request_info.h"

namespace prometheus {
struct MetricFamily;
}

namespace pullcache::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Latency histogram in seconds, fixed buckets from 0.5 ms to 60 s.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60};
  void observe(double seconds) noexcept;
  struct Snapshot {
    std::array<std::uint64_t, kBounds.size()> cumulative{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  [[nodiscard]] Snapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

enum class Route { kBase, kManifest, kBlob, kTags, kReferrers, kOther, kCount };
enum class Method { kGet, kHead, kOther, kCount };
enum class Kind { kManifest, kBlob, kCount };
enum class Outcome { kHit, kMiss, kCoalesced, kStale, kError, kCount };
// Why a client's request was refused before it reached the registry API.
enum class ClientError { kHeaderTimeout, kHeaderTooLarge, kUriTooLong, kMalformed, kCount };
// Where a blob's bytes came from.
enum class Source { kCache, kPeer, kUpstream, kCount };
// How the peer port answered a request.
enum class PeerOutcome { kServed, kUnauthorized, kBusy, kNotFound, kBadRequest, kError, kCount };
// Why a fetch from a peer was given up.
enum class PeerError { kConnect, kStatus, kStall, kDigest, kCount };
// Upstream request kinds (what was asked of the upstream).
enum class UpstreamKind { kManifest, kBlob, kTags, kReferrers, kToken, kOther, kCount };

// HTTP status codes pullcache and registries answer; anything else counts as "other".
inline constexpr std::array<int, 17> kCodes = {200, 206, 301, 302, 304, 307, 400, 401, 403,
                                               404, 405, 416, 429, 500, 502, 503, 504};
inline constexpr std::size_t kCodeSlots = kCodes.size() + 1;  // + other
std::size_t codeSlot(int status) noexcept;

// The route label of a request: the registry API's routes, everything else "other".
Route routeLabel(RouteKind kind) noexcept;
Method methodFromName(std::string_view name) noexcept;

// Series of one upstream registry host.
struct UpstreamMetrics {
  UpstreamMetrics(std::string h, std::string provider)
      : host(std::move(h)), auth_provider(std::move(provider)) {
    ratelimit_remaining.set(-1);
  }
  const std::string host;
  const std::string auth_provider;  // anonymous | basic | token | ecr
  std::array<std::array<Counter, kCodeSlots>, static_cast<std::size_t>(UpstreamKind::kCount)>
      requests;
  std::array<Counter, static_cast<std::size_t>(UpstreamKind::kCount)> transport_errors;
  std::array<Histogram, static_cast<std::size_t>(UpstreamKind::kCount)> duration;
  Counter bytes;
  Counter verify_failures;
  Counter retries;                         // requests sent again after a 5xx or a failed connection
  std::array<Counter, 2> token_refreshes;  // [0] success, [1] failure
  Gauge token_expiry;                      // unix seconds; 0 = no token
  Gauge ratelimit_remaining;               // -1 = not reported by the upstream

  void request(UpstreamKind kind, int status, double seconds, std::uint64_t body_bytes) noexcept;
  void transportError(UpstreamKind kind, double seconds) noexcept;
};

// Why a request left a source for the next one (upstreams[].sources).
enum class FallbackReason {
  kUnreachable,  // no answer: connection, TLS, timeout, or credentials that could not be had
  kThrottled,    // 429
  kError,        // 5xx, or an answer that is not a registry's
  kNotFound,     // 404: a pull-through cache rule without this image or repository
  kDenied,       // 401/403 with this source's credentials
  kBreakerOpen,  // skipped: the source kept failing (source_breaker)
  kNameTooLong,  // the mapped repository name is longer than the source accepts
  kCount
};
std::string_view fallbackReasonName(FallbackReason r) noexcept;

// Series of one source of an upstream that lists several.
struct SourceMetrics {
  SourceMetrics(std::string u, std::string s) : upstream(std::move(u)), source(std::move(s)) {}
  const std::string upstream;  // the registry host clients name
  const std::string source;    // the source's registry, "host[/prefix]"
  std::array<Counter, static_cast<std::size_t>(FallbackReason::kCount)> fallbacks;
  Gauge breaker_open;  // 1 while the source is skipped
  void fallback(FallbackReason r) noexcept { fallbacks[static_cast<std::size_t>(r)].inc(); }
};

// Cluster mode's series (daemon/peers/).
class PeerMetrics {
 public:
  void sourceFetch(Source source, std::uint64_t bytes) noexcept {
    source_requests_[static_cast<std::size_t>(source)].inc();
    source_bytes_[static_cast<std::size_t>(source)].inc(bytes);
  }
  void request(PeerOutcome outcome) noexcept { requests_[static_cast<std::size_t>(outcome)].inc(); }
  // Series per peer are made on a peer's first error (a healthy cluster has none).
  void fetchError(const std::string& peer, PeerError reason);

  Gauge members;         // in this node's view, itself included; 0 when cluster mode is off
  Counter served_bytes;  // body bytes sent on the peer port

  [[nodiscard]] std::uint64_t requests(PeerOutcome o) const noexcept {
    return requests_[static_cast<std::size_t>(o)].value();
  }
  [[nodiscard]] std::uint64_t sourceBytes(Source s) const noexcept {
    return source_bytes_[static_cast<std::size_t>(s)].value();
  }
  [[nodiscard]] std::uint64_t sourceRequests(Source s) const noexcept {
    return source_requests_[static_cast<std::size_t>(s)].value();
  }

 private:
  friend class Metrics;
  std::array<Counter, static_cast<std::size_t>(Source::kCount)> source_requests_;
  std::array<Counter, static_cast<std::size_t>(Source::kCount)> source_bytes_;
  std::array<Counter, static_cast<std::size_t>(PeerOutcome::kCount)> requests_;
  mutable std::mutex errors_mu_;
  std::map<std::pair<std::string, PeerError>, std::uint64_t> errors_;  // guarded by errors_mu_
};

inline constexpr std::size_t kMaxRepositories =
    200;  // beyond this, pulls count as repository="other"
inline constexpr std::size_t kMaxUpstreams = 256;

class Metrics {
 public:
  Metrics(std::string version, std::string commit);

  void httpRequest(Route route, Method method, int status, double seconds) noexcept;
  void cacheRequest(Kind kind, Outcome outcome) noexcept;
  void servedBytes(bool from_cache, std::uint64_t n) noexcept;
  // A blob GET answered 206 (a range), by cache outcome, and the body bytes it sent.
  void rangeRequest(Outcome outcome, std::uint64_t bytes) noexcept;
  void clientError(ClientError reason) noexcept;
  // Stable for the process's life; hosts past kMaxUpstreams share one "other" series.
  UpstreamMetrics& upstream(const std::string& host, std::string_view auth_provider = "anonymous");
  void imagePull(const UpstreamMetrics& upstream, const std::string& repository);
  // Stable for the process's life; one per (upstream, source) the config names.
  SourceMetrics& source(const std::string& upstream, const std::string& source);

  Gauge inflight_fetches;
  // Bytes a fill fetched before any client asked for the whole blob (started for range reads).
  Counter background_fill_bytes;
  Gauge cache_size_bytes;
  Gauge cache_blobs;
  Gauge cache_capacity_bytes;
  Counter cache_evictions;
  Counter cache_evicted_bytes;
  Counter cache_write_errors;
  Gauge http_connections;             // open client connections on the registry port
  Counter http_connections_rejected;  // refused at limits.max_connections
  // Unix seconds of the last registry request with ?ns= (only containerd's mirror client sends
  // it); 0 until one arrives. Is the node's containerd actually using the mirror?
  Gauge containerd_last_request;
  PeerMetrics peers;

  // The text exposition (Prometheus 0.0.4 format), process_* metrics included.
  [[nodiscard]] std::string scrape() const;

  // For tests.
  [[nodiscard]] std::uint64_t cacheRequests(Kind kind, Outcome outcome) const noexcept;

 private:
  static void addPeerMetrics(const PeerMetrics& p, std::vector<prometheus::MetricFamily>& out);
  std::string version_;
  std::string commit_;
  std::array<std::array<std::array<Counter, kCodeSlots>, static_cast<std::size_t>(Method::kCount)>,
             static_cast<std::size_t>(Route::kCount)>
      http_requests_;
  std::array<Histogram, static_cast<std::size_t>(Route::kCount)> http_duration_;
  std::array<std::array<Counter, static_cast<std::size_t>(Outcome::kCount)>,
             static_cast<std::size_t>(Kind::kCount)>
      cache_requests_;
  std::array<Counter, 2> served_bytes_;  // [0] cache, [1] upstream
  std::array<Counter, static_cast<std::size_t>(Outcome::kCount)> range_requests_;
  std::array<Counter, static_cast<std::size_t>(Outcome::kCount)> range_bytes_;
  std::array<Counter, static_cast<std::size_t>(ClientError::kCount)> client_errors_;

  mutable std::mutex upstreams_mu_;
  std::deque<UpstreamMetrics> upstreams_;            // guarded by upstreams_mu_ (addresses stable)
  std::map<std::string, UpstreamMetrics*> by_host_;  // guarded by upstreams_mu_

  std::deque<SourceMetrics> sources_;  // guarded by upstreams_mu_ (addresses stable)

  mutable std::shared_mutex pulls_mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Counter>>
      pulls_;  // guarded by pulls_mu_
};

Outcome outcomeFrom(CacheResult r) noexcept;

}  // namespace pullcache::metrics
