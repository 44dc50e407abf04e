#include "daemon/cli/cache_commands.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/image_ref.h"
#include "common/units.h"
#include "daemon/cache/blob_cache.h"
#include "daemon/index/rocksdb_index.h"
#include "daemon/prefetch/prefetcher.h"

namespace pullcache::cli {
namespace {

struct Answer {
  long status = 0;
  std::string body;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// nullopt: nothing listens there (the daemon is not running).
std::optional<Answer> askDaemon(const std::string& url, bool post) {
  std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
  Answer a;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, 600L);
  if (post) curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, "");
  if (curl_easy_perform(c.get()) != CURLE_OK) return std::nullopt;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &a.status);
  return a;
}

// The cache opened by this process (no daemon running), through the same owner the daemon
// uses (daemon/cache/blob_cache.h).
struct LocalCache {
  explicit LocalCache(const config::Config& config)
      : index(config.cache.dir + "/index"), cache(optionsFor(config), index, clock, pool) {}
  ~LocalCache() { pool.join(); }  // before the cache goes: posted work refers to it

  static cache::BlobCacheOptions optionsFor(const config::Config& config) {
    cache::BlobCacheOptions o;
    o.dir = config.cache.dir;
    o.eviction = store::evictorOptionsFrom(config.cache);
    return o;
  }

  SystemClock clock;
  asio::thread_pool pool{1};
  index::RocksDbIndex index;
  cache::BlobCache cache;
};

// Runs `daemon_path` on the daemon, or `local` on the cache directory when none answers.
std::optional<nlohmann::json> query(
    const config::Config& config, const std::string& daemon_path, bool post,
    const std::function<Result<nlohmann::json>(LocalCache&)>& local) {
  const std::string url = localRegistryUrl(config.listen) + daemon_path;
  if (auto a = askDaemon(url, post)) {
    auto j = nlohmann::json::parse(a->body, nullptr, false);
    if (a->status != 200 || !j.is_object()) {
      std::string why = j.is_object() ? j.value("error", a->body) : a->body;
      std::fprintf(stderr, "pullcache: the daemon at %s answered HTTP %ld: %s\n", url.c_str(),
                   a->status, why.c_str());
      return std::nullopt;
    }
    return j;
  }
  try {
    LocalCache cache(config);
    auto j = local(cache);
    if (!j) {
      std::fprintf(stderr, "pullcache: %s\n", j.error().message().c_str());
      return std::nullopt;
    }
    j.value()["mode"] = "stand-alone";
    return j.value();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pullcache: no daemon answers at %s, and the cache cannot be opened: %s\n",
                 url.c_str(), e.what());
    return std::nullopt;
  }
}

std::string percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", fraction * 100);
  return buf;
}

void printStats(const config::Config& config, const nlohmann::json& s) {
  auto bytes = [&](const char* key) { return formatBytes(s.value(key, std::uint64_t{0})); };
  const double max = static_cast<double>(s.value("max_bytes", std::uint64_t{0}));
  std::printf("cache       %s (%s)\n", config.cache.dir.c_str(), s.value("mode", "").c_str());
  std::printf("size        %s in %llu blobs, %llu tags\n", bytes("bytes").c_str(),
              static_cast<unsigned long long>(s.value("blobs", 0ull)),
              static_cast<unsigned long long>(s.value("tags", 0ull)));
  const double high = s.value("high_watermark", 0.0);
  const double low = s.value("low_watermark", 0.0);
  std::printf("budget      %s (%s used; evicts above %s = %s, down to %s = %s)\n",
              bytes("max_bytes").c_str(),
              percent(max > 0 ? static_cast<double>(s.value("bytes", 0ull)) / max : 0).c_str(),
              percent(high).c_str(), formatBytes(static_cast<std::uint64_t>(max * high)).c_str(),
              percent(low).c_str(), formatBytes(static_cast<std::uint64_t>(max * low)).c_str());
  std::printf("filesystem  %s, %s free (keeps at least %s free)\n",
              bytes("filesystem_bytes").c_str(), bytes("filesystem_free_bytes").c_str(),
              bytes("min_free_bytes").c_str());
  if (auto age = s.value("max_age_seconds", 0ll); age > 0)
    std::printf("max age     blobs unread for %s are evicted\n", formatAge(age).c_str());
  std::printf("pins        %llu images, %s (%llu not cached)\n",
              static_cast<unsigned long long>(s.value("pins", 0ull)), bytes("pinned_bytes").c_str(),
              static_cast<unsigned long long>(s.value("pins_not_cached", 0ull)));
  if (s.contains("requests_since_start")) {
    const auto& r = s["requests_since_start"];
    auto count = [&](const char* kind, const char* result) { return r[kind].value(result, 0ull); };
    std::printf(
        "hit ratio   %s since the daemon started (blobs: %llu hit, %llu coalesced, %llu miss; "
        "manifests: %llu hit, %llu stale, %llu miss)\n",
        percent(r.value("hit_ratio", 0.0)).c_str(), count("blob", "hit"),
        count("blob", "coalesced"), count("blob", "miss"), count("manifest", "hit"),
        count("manifest", "stale"), count("manifest", "miss"));
  } else {
    std::printf("hit ratio   (only known to a running daemon)\n");
  }
  const auto& top = s["top_repositories"];
  if (top.is_array() && !top.empty()) {
    std::printf("top repositories by cached bytes:\n");
    for (const auto& r : top) {
      std::printf("  %10s  %s/%s (%llu tags)\n",
                  formatBytes(r.value("bytes", std::uint64_t{0})).c_str(),
                  r.value("upstream", "").c_str(), r.value("repository", "").c_str(),
                  static_cast<unsigned long long>(r.value("tags", 0ull)));
    }
  }
}

void printGc(const nlohmann::json& g) {
  const bool dry = g.value("dry_run", false);
  auto bytes = [&](const char* key) { return formatBytes(g.value(key, std::uint64_t{0})); };
  std::printf(
      "%s %llu blobs, %s (cache %s -> %s; budget %s, evicts above %s down to %s; "
      "pinned %s)\n",
      dry ? "would evict" : "evicted",
      static_cast<unsigned long long>(dry ? g.value("evict_blobs", 0ull)
                                          : g.value("evicted_blobs", 0ull)),
      dry ? bytes("evict_bytes").c_str() : bytes("evicted_bytes").c_str(),
      bytes("bytes_before").c_str(), bytes("bytes_after").c_str(), bytes("max_bytes").c_str(),
      percent(g.value("high_watermark", 0.0)).c_str(),
      percent(g.value("low_watermark", 0.0)).c_str(), bytes("pinned_bytes").c_str());
  for (const auto& v : g["victims"]) {
    std::printf("  %s  %10s  %-8s last read %s ago\n", v.value("digest", "").c_str(),
                formatBytes(v.value("bytes", std::uint64_t{0})).c_str(),
                v.value("reason", "").c_str(),
                formatAge(v.value("last_read_seconds_ago", 0ll)).c_str());
  }
  if (auto unmet = g.value("unmet_bytes", std::uint64_t{0}); unmet > 0) {
    std::printf("cannot free %s more: everything left is pinned\n", formatBytes(unmet).c_str());
  }
}

// A long command's progress, for a person: on a terminal, one stderr line, redrawn and erased
// at the end; off a terminal (a pipe, a log file) nothing, so stderr carries only errors. Until
// the first counts arrive the line is `waiting` and how long it has run ("gc: eviction pass
// running (3 s)"); then progressLine() for `label`, drawn at once for the first counts and when
// every blob is done, at most every 100 ms in between, and redrawn every 200 ms so the elapsed
// time and the rate move while a blob takes long.
class ProgressDisplay {
 public:
  ProgressDisplay(std::string label, std::string waiting)
      : label_(std::move(label)), waiting_(std::move(waiting)) {
    if (::isatty(STDERR_FILENO) == 0) return;
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; })) {
        drawLocked();
      }
    });
  }
  ~ProgressDisplay() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
    std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
  }
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void update(const prefetch::Progress& p) {
    if (!thread_.joinable()) return;
    std::lock_guard lock(mu_);
    const bool first = !progress_.has_value();
    progress_ = p;
    const auto now = std::chrono::steady_clock::now();
    if (first || p.blobs_done == p.blobs_total ||
        now - last_draw_ >= std::chrono::milliseconds(100)) {
      drawLocked();
    }
  }

 private:
  void drawLocked() {
    last_draw_ = std::chrono::steady_clock::now();
    const std::chrono::duration<double> t = last_draw_ - start_;
    if (progress_) {
      std::fprintf(stderr, "\r%s\x1b[K", progressLine(label_, *progress_, t.count()).c_str());
    } else {
      std::fprintf(stderr, "\r%s (%.0f s)\x1b[K", waiting_.c_str(), t.count());
    }
    std::fflush(stderr);
  }

  const std::string label_;
  const std::string waiting_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;                                // guarded by mu_
  std::optional<prefetch::Progress> progress_;       // guarded by mu_
  std::chrono::steady_clock::time_point last_draw_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

std::string progressLine(std::string_view label, const prefetch::Progress& p, double seconds) {
  const double frac = p.bytes_total > 0
                          ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                          : 0;
  const auto rate =
      seconds > 0.05 ? static_cast<std::uint64_t>(static_cast<double>(p.bytes_done) / seconds) : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%.*s  %zu/%zu blobs  %s / %s  %3.0f%%  %s/s",
                static_cast<int>(label.size()), label.data(), p.blobs_done, p.blobs_total,
                formatBytes(p.bytes_done).c_str(), formatBytes(p.bytes_total).c_str(),
                std::min(frac, 1.0) * 100, formatBytes(rate).c_str());
  return buf;
}

std::string localRegistryUrl(const config::Endpoint& listen) {
  std::string host = listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  config::Endpoint local{host, listen.port};
  return "http://" + local.str();
}

int stats(const config::Config& config, bool json) {
  auto s = query(config, "/pullcache/v1/stats", false, [](LocalCache& c) -> Result<nlohmann::json> {
    auto collected = c.cache.stats(10);
    if (!collected) return collected.error();
    return store::statsToJson(collected.value());
  });
  if (!s) return 1;
  if (json) {
    std::printf("%s\n", s->dump(2).c_str());
  } else {
    printStats(config, *s);
  }
  return 0;
}

int gc(const config::Config& config, bool dry_run, bool json) {
  std::optional<ProgressDisplay> display;
  display.emplace("gc: evicted",
                  dry_run ? "gc: planning an eviction pass" : "gc: eviction pass running");
  // Stand-alone, the pass runs here and reports each blob it removes; the daemon's pass does
  // not report to the command, so then the line says only that the pass runs.
  auto g = query(config, dry_run ? "/pullcache/v1/gc?dry_run=1" : "/pullcache/v1/gc", true,
                 [dry_run, &display](LocalCache& c) -> Result<nlohmann::json> {
                   auto r = c.cache.evict(dry_run, [&display](const store::EvictionProgress& e) {
                     display->update({.bytes_done = e.bytes_done,
                                      .bytes_total = e.bytes_total,
                                      .blobs_done = e.blobs_done,
                                      .blobs_total = e.blobs_total});
                   });
                   if (!r) return r.error();
                   return store::evictionToJson(r.value(), c.clock.unixSeconds(), dry_run);
                 });
  display.reset();
  if (!g) return 1;
  if (json) {
    std::printf("%s\n", g->dump(2).c_str());
  } else {
    printGc(*g);
  }
  return 0;
}

int prefetch(const config::Config& config, const std::vector<std::string>& images,
             bool all_platforms) {
  std::vector<ImageRef> refs;
  for (const auto& text : images) {
    auto r = ImageRef::parse(text);
    if (!r) {
      std::fprintf(stderr, "pullcache: %s\n", r.error().detail.c_str());
      return 2;
    }
    refs.push_back(r.value());
  }
  int failures = 0;
  for (const auto& ref : refs) {
    prefetch::PrefetchOptions o;
    o.registry_url = localRegistryUrl(config.listen);
    o.all_platforms = all_platforms;
    const std::string name = ref.str();
    std::optional<ProgressDisplay> display;
    display.emplace(name, name);
    o.progress = [&display](const prefetch::Progress& p) { display->update(p); };
    auto r = prefetch::prefetchImage(ref, o);
    display.reset();
    if (!r) {
      std::fprintf(stderr, "pullcache: prefetch %s: %s\n", name.c_str(),
                   r.error().message().c_str());
      ++failures;
      continue;
    }
    std::string platforms;
    for (const auto& p : r.value().platforms) {
      platforms += (platforms.empty() ? "" : ", ") + p.os + "/" + p.architecture +
                   (p.variant.empty() ? "" : "/" + p.variant);
    }
    std::printf("%s: %s, %zu blobs, %s%s%s\n", name.c_str(), r.value().manifest_digest.c_str(),
                r.value().blobs, formatBytes(r.value().bytes).c_str(),
                platforms.empty() ? "" : ", platforms: ", platforms.c_str());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace pullcache::cli
