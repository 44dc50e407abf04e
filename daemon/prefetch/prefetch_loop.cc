#include "daemon/prefetch/prefetch_loop.h"

#include "common/log.h"
#include "common/units.h"
#include "daemon/prefetch/prefetcher.h"

namespace pullcache::prefetch {

PrefetchLoop::PrefetchLoop(std::vector<ImageRef> images, std::string registry_url,
                           std::chrono::milliseconds interval)
    : images_(std::move(images)), registry_url_(std::move(registry_url)), interval_(interval) {}

PrefetchLoop::~PrefetchLoop() { stop(); }

void PrefetchLoop::start() {
  if (images_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void PrefetchLoop::stop() {
  {
    std::lock_guard lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PrefetchLoop::loop() {
  auto log = componentLogger("prefetch");
  PrefetchOptions options;
  options.registry_url = registry_url_;
  options.cancel = &cancel_;
  for (;;) {
    for (const auto& image : images_) {
      if (cancel_) return;
      auto t0 = std::chrono::steady_clock::now();
      auto r = prefetchImage(image, options);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      if (cancel_) return;
      if (r) {
        log->info("prefetched {} ({}): {} blobs, {} in {} ms", image.str(),
                  r.value().manifest_digest, r.value().blobs, formatBytes(r.value().bytes), ms);
      } else {
        log->warn("prefetch of {} failed: {}", image.str(), r.error().message());
      }
    }
    ++rounds_;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, interval_, [this] { return cancel_.load(); })) return;
  }
}

}  // namespace pullcache::prefetch
