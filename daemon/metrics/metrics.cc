#include "daemon/metrics/metrics.h"

#include <dirent.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/spawn.h"

namespace pullcache::metrics {
namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(Route::kCount)> kRouteNames = {
    "base", "manifest", "blob", "tags", "referrers", "other"};
constexpr std::array<std::string_view, static_cast<std::size_t>(Method::kCount)> kMethodNames = {
    "GET", "HEAD", "other"};
constexpr std::array<std::string_view, static_cast<std::size_t>(Kind::kCount)> kKindNames = {
    "manifest", "blob"};
constexpr std::array<std::string_view, static_cast<std::size_t>(Outcome::kCount)> kOutcomeNames = {
    "hit", "miss", "coalesced", "stale", "error"};
constexpr std::array<std::string_view, static_cast<std::size_t>(UpstreamKind::kCount)>
    kUpstreamKindNames = {"manifest", "blob", "tags", "referrers", "token", "other"};

std::string codeName(std::size_t slot) {
  return slot < kCodes.size() ? std::to_string(kCodes[slot]) : "other";
}

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric::Label label(std::string name, std::string_view value) {
  return {std::move(name), std::string(value)};
}

void addValue(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

void addHistogram(MetricFamily& f, std::vector<ClientMetric::Label> labels, const Histogram& h) {
  auto s = h.snapshot();
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = s.count;
  m.histogram.sample_sum = s.sum;
  for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    m.histogram.bucket.push_back({s.cumulative[i], Histogram::kBounds[i]});
  }
  m.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
}

// process_* as the Prometheus client libraries define them, from /proc.
void addProcessMetrics(std::vector<MetricFamily>& out) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  // Fields after "(comm)": state is index 0, so field N of proc(5) is index N-3.
  if (f.size() < 22) return;
  double utime = std::stod(f[11]) / ticks;
  double stime = std::stod(f[12]) / ticks;
  double start_ticks = std::stod(f[19]);
  double vsize = std::stod(f[20]);
  double rss = std::stod(f[21]) * page;
  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.starts_with("btime ")) boot_time = std::stod(line.substr(6));
  }
  std::size_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) fds += e->d_name[0] != '.';
    ::closedir(d);
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);

  auto cpu = family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                    MetricType::Counter);
  addValue(cpu, {}, utime + stime);
  out.push_back(std::move(cpu));
  auto resident =
      family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge);
  addValue(resident, {}, rss);
  out.push_back(std::move(resident));
  auto virt =
      family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge);
  addValue(virt, {}, vsize);
  out.push_back(std::move(virt));
  auto open_fds = family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge);
  addValue(open_fds, {}, static_cast<double>(fds));
  out.push_back(std::move(open_fds));
  auto max_fds =
      family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge);
  addValue(max_fds, {}, static_cast<double>(nofile.rlim_cur));
  out.push_back(std::move(max_fds));
  auto start = family("process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.", MetricType::Gauge);
  addValue(start, {}, boot_time + start_ticks / ticks);
  out.push_back(std::move(start));
}

}  // namespace

void Histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9),
                    std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const noexcept {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running + buckets_[kBounds.size()].load(std::memory_order_relaxed);
  s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

std::size_t codeSlot(int status) noexcept {
  for (std::size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i] == status) return i;
  }
  return kCodes.size();
}

Route routeLabel(RouteKind kind) noexcept {
  switch (kind) {
    case RouteKind::kBase:
      return Route::kBase;
    case RouteKind::kManifest:
      return Route::kManifest;
    case RouteKind::kBlob:
      return Route::kBlob;
    case RouteKind::kTags:
      return Route::kTags;
    case RouteKind::kReferrers:
      return Route::kReferrers;
    default:
      return Route::kOther;
  }
}

Method methodFromName(std::string_view name) noexcept {
  if (name == "GET") return Method::kGet;
  if (name == "HEAD") return Method::kHead;
  return Method::kOther;
}

Outcome outcomeFrom(CacheResult r) noexcept {
  switch (r) {
    case CacheResult::kHit:
      return Outcome::kHit;
    case CacheResult::kMiss:
      return Outcome::kMiss;
    case CacheResult::kCoalesced:
      return Outcome::kCoalesced;
    case CacheResult::kStale:
      return Outcome::kStale;
    default:
      return Outcome::kError;
  }
}

void UpstreamMetrics::request(UpstreamKind kind, int status, double seconds,
                              std::uint64_t body_bytes) noexcept {
  auto k = static_cast<std::size_t>(kind);
  requests[k][codeSlot(status)].inc();
  duration[k].observe(seconds);
  bytes.inc(body_bytes);
}

void UpstreamMetrics::transportError(UpstreamKind kind, double seconds) noexcept {
  auto k = static_cast<std::size_t>(kind);
  transport_errors[k].inc();
  duration[k].observe(seconds);
}

Metrics::Metrics(std::string version, std::string commit)
    : version_(std::move(version)), commit_(std::move(commit)) {}

void Metrics::httpRequest(Route route, Method method, int status, double seconds) noexcept {
  http_requests_[static_cast<std::size_t>(route)][static_cast<std::size_t>(method)]
                [codeSlot(status)]
                    .inc();
  http_duration_[static_cast<std::size_t>(route)].observe(seconds);
}

void Metrics::cacheRequest(Kind kind, Outcome outcome) noexcept {
  cache_requests_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(outcome)].inc();
  if (kind == Kind::kBlob && outcome == Outcome::kHit)
    peers.source_requests_[static_cast<std::size_t>(Source::kCache)].inc();
}

void Metrics::rangeRequest(Outcome outcome, std::uint64_t bytes) noexcept {
  range_requests_[static_cast<std::size_t>(outcome)].inc();
  range_bytes_[static_cast<std::size_t>(outcome)].inc(bytes);
}

void Metrics::servedBytes(bool from_cache, std::uint64_t n) noexcept {
  served_bytes_[from_cache ? 0 : 1].inc(n);
  if (from_cache) peers.source_bytes_[static_cast<std::size_t>(Source::kCache)].inc(n);
}

void PeerMetrics::fetchError(const std::string& peer, PeerError reason) {
  std::lock_guard lock(errors_mu_);
  constexpr std::size_t kMaxPeerSeries = 4096;  // a cluster's worth; beyond: "other"
  auto key = std::pair{peer, reason};
  if (errors_.size() >= kMaxPeerSeries && !errors_.contains(key)) key.first = "other";
  ++errors_[key];
}

void Metrics::clientError(ClientError reason) noexcept {
  client_errors_[static_cast<std::size_t>(reason)].inc();
}

std::uint64_t Metrics::cacheRequests(Kind kind, Outcome outcome) const noexcept {
  return cache_requests_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(outcome)].value();
}

UpstreamMetrics& Metrics::upstream(const std::string& host, std::string_view auth_provider) {
  std::lock_guard lock(upstreams_mu_);
  if (auto it = by_host_.find(host); it != by_host_.end()) return *it->second;
  const std::string& key = by_host_.size() >= kMaxUpstreams ? std::string("other") : host;
  if (auto it = by_host_.find(key); it != by_host_.end()) return *it->second;
  upstreams_.emplace_back(key, std::string(auth_provider));
  by_host_[key] = &upstreams_.back();
  return upstreams_.back();
}

std::string_view fallbackReasonName(FallbackReason r) noexcept {
  static constexpr std::array<std::string_view, static_cast<std::size_t>(FallbackReason::kCount)>
      kNames = {"unreachable", "throttled",    "error",        "not_found",
                "denied",      "breaker_open", "name_too_long"};
  return kNames[static_cast<std::size_t>(r)];
}

SourceMetrics& Metrics::source(const std::string& upstream, const std::string& source) {
  std::lock_guard lock(upstreams_mu_);
  for (auto& s : sources_)
    if (s.upstream == upstream && s.source == source) return s;
  return sources_.emplace_back(upstream, source);
}

void Metrics::imagePull(const UpstreamMetrics& upstream, const std::string& repository) {
  std::pair<std::string, std::string> key{upstream.host, repository};
  {
    std::shared_lock lock(pulls_mu_);  // readers do not serialise each other
    if (auto it = pulls_.find(key); it != pulls_.end()) {
      it->second->inc();
      return;
    }
  }
  std::unique_lock lock(pulls_mu_);
  if (pulls_.size() >= kMaxRepositories) key.second = "other";
  auto& slot = pulls_[key];
  if (!slot) slot = std::make_unique<Counter>();
  slot->inc();
}

void Metrics::addPeerMetrics(const PeerMetrics& p, std::vector<prometheus::MetricFamily>& out) {
  static constexpr const char* kSources[] = {"cache", "peer", "upstream"};
  auto bytes = family("pullcache_source_bytes_total",
                      "Blob bytes by where they came from: served from this node's cache, fetched "
                      "from a peer, fetched from the upstream.",
                      MetricType::Counter);
  auto fetches = family("pullcache_source_requests_total",
                        "Blob requests answered from the cache, and blob fetches from a peer or "
                        "the upstream.",
                        MetricType::Counter);
  for (std::size_t s = 0; s < std::size(kSources); ++s) {
    addValue(bytes, {label("source", kSources[s])},
             static_cast<double>(p.source_bytes_[s].value()));
    addValue(fetches, {label("source", kSources[s])},
             static_cast<double>(p.source_requests_[s].value()));
  }
  static constexpr const char* kOutcomes[] = {"served",    "unauthorized", "busy",
                                              "not_found", "bad_request",  "error"};
  auto reqs = family("pullcache_peer_requests_total",
                     "Requests received on the peer port, by outcome.", MetricType::Counter);
  for (std::size_t o = 0; o < std::size(kOutcomes); ++o)
    addValue(reqs, {label("outcome", kOutcomes[o])}, static_cast<double>(p.requests_[o].value()));
  static constexpr const char* kErrors[] = {"connect", "status", "stall", "digest"};
  auto errors = family("pullcache_peer_fetch_errors_total",
                       "Fetches from a peer given up (the next candidate or the upstream took "
                       "over), by peer and reason.",
                       MetricType::Counter);
  {
    std::lock_guard lock(p.errors_mu_);
    for (const auto& [key, n] : p.errors_) {
      addValue(errors,
               {label("peer", key.first),
                label("reason", kErrors[static_cast<std::size_t>(key.second)])},
               static_cast<double>(n));
    }
  }
  auto members =
      family("pullcache_peer_members",
             "Members in this node's cluster view, itself included; 0: cluster mode off.",
             MetricType::Gauge);
  addValue(members, {}, p.members.value());
  auto sent =
      family("pullcache_peer_served_bytes_total", "Body bytes sent to peers.", MetricType::Counter);
  addValue(sent, {}, static_cast<double>(p.served_bytes.value()));
  for (auto* f : {&bytes, &fetches, &reqs, &errors, &members, &sent}) out.push_back(std::move(*f));
}

std::string Metrics::scrape() const {
  std::vector<MetricFamily> out;

  auto info =
      family("pullcache_build_info", "pullcache version and commit; always 1.", MetricType::Gauge);
  addValue(info, {label("version", version_), label("commit", commit_)}, 1);
  out.push_back(std::move(info));

  auto reqs =
      family("pullcache_http_requests_total",
             "Registry API requests served, by route, method and status.", MetricType::Counter);
  auto dur = family("pullcache_http_request_duration_seconds",
                    "Time to answer registry API requests, by route.", MetricType::Histogram);
  for (std::size_t r = 0; r < kRouteNames.size(); ++r) {
    for (std::size_t m = 0; m < kMethodNames.size(); ++m) {
      for (std::size_t c = 0; c < kCodeSlots; ++c) {
        std::uint64_t v = http_requests_[r][m][c].value();
        if (v > 0) {
          addValue(reqs,
                   {label("route", kRouteNames[r]), label("method", kMethodNames[m]),
                    label("code", codeName(c))},
                   static_cast<double>(v));
        }
      }
    }
    addHistogram(dur, {label("route", kRouteNames[r])}, http_duration_[r]);
  }
  out.push_back(std::move(reqs));
  out.push_back(std::move(dur));

  auto cache = family("pullcache_cache_requests_total",
                      "Manifest and blob requests by cache outcome.", MetricType::Counter);
  for (std::size_t k = 0; k < kKindNames.size(); ++k) {
    for (std::size_t o = 0; o < kOutcomeNames.size(); ++o) {
      addValue(cache, {label("kind", kKindNames[k]), label("result", kOutcomeNames[o])},
               static_cast<double>(cache_requests_[k][o].value()));
    }
  }
  out.push_back(std::move(cache));

  auto served = family("pullcache_served_bytes_total",
                       "Body bytes sent to clients, by where they came from.", MetricType::Counter);
  addValue(served, {label("source", "cache")}, static_cast<double>(served_bytes_[0].value()));
  addValue(served, {label("source", "upstream")}, static_cast<double>(served_bytes_[1].value()));
  out.push_back(std::move(served));

  auto ranges =
      family("pullcache_range_requests_total",
             "Blob GETs answered with a range (206), by cache outcome.", MetricType::Counter);
  auto range_bytes = family("pullcache_range_bytes_total",
                            "Body bytes of blob GETs answered with a range, by cache outcome.",
                            MetricType::Counter);
  for (std::size_t o = 0; o < kOutcomeNames.size(); ++o) {
    addValue(ranges, {label("result", kOutcomeNames[o])},
             static_cast<double>(range_requests_[o].value()));
    addValue(range_bytes, {label("result", kOutcomeNames[o])},
             static_cast<double>(range_bytes_[o].value()));
  }
  out.push_back(std::move(ranges));
  out.push_back(std::move(range_bytes));
  auto fill = family("pullcache_background_fill_bytes_total",
                     "Bytes fetched for blobs read by ranges before any client asked for the "
                     "whole blob (the background fill).",
                     MetricType::Counter);
  addValue(fill, {}, static_cast<double>(background_fill_bytes.value()));
  out.push_back(std::move(fill));

  addPeerMetrics(peers, out);

  auto up_reqs = family(
      "pullcache_upstream_requests_total",
      "Requests to upstream registries, by upstream, kind and status (code=\"error\": no answer).",
      MetricType::Counter);
  auto up_dur =
      family("pullcache_upstream_request_duration_seconds",
             "Time to a complete upstream answer, by upstream and kind.", MetricType::Histogram);
  auto up_bytes = family("pullcache_upstream_bytes_total",
                         "Body bytes received from upstream registries.", MetricType::Counter);
  auto verify =
      family("pullcache_blob_verify_failures_total",
             "Blobs from an upstream whose content did not match their digest (never cached).",
             MetricType::Counter);
  auto retries = family("pullcache_upstream_retries_total",
                        "Upstream requests sent again after a 5xx answer or a failed connection.",
                        MetricType::Counter);
  auto refresh = family("pullcache_auth_token_refreshes_total",
                        "Upstream auth token fetches, by result.", MetricType::Counter);
  auto expiry =
      family("pullcache_auth_token_expiry_timestamp_seconds",
             "When the most recently fetched upstream token expires (unix time; 0: none).",
             MetricType::Gauge);
  auto ratelimit =
      family("pullcache_upstream_ratelimit_remaining",
             "Pulls left in the upstream's rate-limit window, from its ratelimit-remaining header.",
             MetricType::Gauge);
  {
    std::lock_guard lock(upstreams_mu_);
    for (const auto& u : upstreams_) {
      for (std::size_t k = 0; k < kUpstreamKindNames.size(); ++k) {
        for (std::size_t c = 0; c < kCodeSlots; ++c) {
          std::uint64_t v = u.requests[k][c].value();
          if (v > 0) {
            addValue(up_reqs,
                     {label("upstream", u.host), label("kind", kUpstreamKindNames[k]),
                      label("code", codeName(c))},
                     static_cast<double>(v));
          }
        }
        if (std::uint64_t e = u.transport_errors[k].value(); e > 0) {
          addValue(up_reqs,
                   {label("upstream", u.host), label("kind", kUpstreamKindNames[k]),
                    label("code", "error")},
                   static_cast<double>(e));
        }
        if (u.duration[k].snapshot().count > 0) {
          addHistogram(up_dur, {label("upstream", u.host), label("kind", kUpstreamKindNames[k])},
                       u.duration[k]);
        }
      }
      addValue(up_bytes, {label("upstream", u.host)}, static_cast<double>(u.bytes.value()));
      addValue(verify, {label("upstream", u.host)}, static_cast<double>(u.verify_failures.value()));
      addValue(retries, {label("upstream", u.host)}, static_cast<double>(u.retries.value()));
      addValue(refresh,
               {label("upstream", u.host), label("provider", u.auth_provider),
                label("result", "success")},
               static_cast<double>(u.token_refreshes[0].value()));
      addValue(refresh,
               {label("upstream", u.host), label("provider", u.auth_provider),
                label("result", "failure")},
               static_cast<double>(u.token_refreshes[1].value()));
      if (u.token_expiry.value() > 0)
        addValue(expiry, {label("upstream", u.host)}, u.token_expiry.value());
      if (u.ratelimit_remaining.value() >= 0) {
        addValue(ratelimit, {label("upstream", u.host)}, u.ratelimit_remaining.value());
      }
    }
  }
  for (auto* f : {&up_reqs, &up_dur, &up_bytes, &verify, &retries, &refresh, &expiry, &ratelimit})
    out.push_back(std::move(*f));

  auto fallbacks = family("pullcache_upstream_source_fallbacks_total",
                          "Requests that left a source of an upstream for its next one, by why.",
                          MetricType::Counter);
  auto breaker =
      family("pullcache_upstream_source_breaker_open",
             "1 while a source that kept failing is skipped (source_breaker).", MetricType::Gauge);
  {
    std::lock_guard lock(upstreams_mu_);
    for (const auto& s : sources_) {
      for (std::size_t r = 0; r < s.fallbacks.size(); ++r) {
        addValue(fallbacks,
                 {label("upstream", s.upstream), label("source", s.source),
                  label("reason", fallbackReasonName(static_cast<FallbackReason>(r)))},
                 static_cast<double>(s.fallbacks[r].value()));
      }
      addValue(breaker, {label("upstream", s.upstream), label("source", s.source)},
               s.breaker_open.value());
    }
  }
  out.push_back(std::move(fallbacks));
  out.push_back(std::move(breaker));

  auto inflight = family("pullcache_upstream_inflight_fetches",
                         "Blob fetches from upstreams in progress.", MetricType::Gauge);
  addValue(inflight, {}, inflight_fetches.value());
  out.push_back(std::move(inflight));

  auto pulls = family("pullcache_image_pulls_total",
                      "Manifest GETs answered, by upstream and repository (repositories beyond the "
                      "first 200: \"other\").",
                      MetricType::Counter);
  {
    std::shared_lock lock(pulls_mu_);
    for (const auto& [key, counter] : pulls_) {
      addValue(pulls, {label("upstream", key.first), label("repository", key.second)},
               static_cast<double>(counter->value()));
    }
  }
  out.push_back(std::move(pulls));

  struct Plain {
    const char* name;
    const char* help;
    MetricType type;
    double value;
  };
  auto client_errors =
      family("pullcache_http_client_errors_total",
             "Requests refused before the registry API saw them, by reason.", MetricType::Counter);
  static constexpr const char* kClientErrorNames[] = {"header_timeout", "header_too_large",
                                                      "uri_too_long", "malformed"};
  for (std::size_t i = 0; i < client_errors_.size(); ++i) {
    addValue(client_errors, {label("reason", kClientErrorNames[i])},
             static_cast<double>(client_errors_[i].value()));
  }
  out.push_back(std::move(client_errors));

  const Plain plain[] = {
      {"pullcache_http_connections", "Open client connections on the registry port.",
       MetricType::Gauge, http_connections.value()},
      {"pullcache_http_connections_rejected_total",
       "Client connections answered 503 and closed at limits.max_connections.", MetricType::Counter,
       static_cast<double>(http_connections_rejected.value())},
      {"pullcache_internal_errors_total",
       "Exceptions that escaped a request handler or a background task (bugs; each is logged).",
       MetricType::Counter, static_cast<double>(escapedExceptionCount())},
      {"pullcache_cache_size_bytes", "Bytes of blobs in the cache.", MetricType::Gauge,
       cache_size_bytes.value()},
      {"pullcache_cache_blobs", "Blobs in the cache.", MetricType::Gauge, cache_blobs.value()},
      {"pullcache_cache_capacity_bytes", "The cache's byte budget (cache.max_bytes).",
       MetricType::Gauge, cache_capacity_bytes.value()},
      {"pullcache_cache_evictions_total", "Blobs evicted to keep the budget.", MetricType::Counter,
       static_cast<double>(cache_evictions.value())},
      {"pullcache_cache_evicted_bytes_total", "Bytes evicted to keep the budget.",
       MetricType::Counter, static_cast<double>(cache_evicted_bytes.value())},
      {"pullcache_cache_write_errors_total",
       "Failed writes to the cache directory (ENOSPC, EIO); those blobs were served from memory "
       "and not cached.",
       MetricType::Counter, static_cast<double>(cache_write_errors.value())},
      {"pullcache_containerd_last_request_timestamp_seconds",
       "When containerd last sent a registry API request (one carrying ?ns=), unix time; 0: "
       "none since start.",
       MetricType::Gauge, containerd_last_request.value()},
  };
  for (const auto& p : plain) {
    auto f = family(p.name, p.help, p.type);
    addValue(f, {}, p.value);
    out.push_back(std::move(f));
  }

  addProcessMetrics(out);
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, out);
  return text.str();
}

}  // namespace pullcache::metrics
