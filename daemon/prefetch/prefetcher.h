#pragma once
// Warms the cache with whole images by pulling them through the daemon's own registry API, the
// way containerd would: manifest (an index is walked down to the wanted platform), then config
// and layers. Every byte goes through the normal path (single-flight fetch, digest check,
// budget), so a prefetch and a concurrent pod start share one upstream fetch. Used by
// `pullcache prefetch` and by the daemon for cache.prefetch and cache.pin.
//
// Blocking (libcurl easy): call it from a CLI or a thread of its own.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/image_ref.h"
#include "common/manifest_refs.h"

namespace pullcache::prefetch {

struct Progress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;  // from the manifests' descriptors
  std::size_t blobs_done = 0;
  std::size_t blobs_total = 0;
};

struct PrefetchOptions {
  std::string registry_url;  // "http://127.0.0.1:5000"
  bool all_platforms = false;
  Platform platform = hostPlatform();
  std::chrono::seconds stall_timeout{60};         // no byte for this long: the blob fails
  std::function<void(const Progress&)> progress;  // called at most every 100 ms; may be empty
  const std::atomic<bool>* cancel = nullptr;      // checked between and during blobs
};

struct PrefetchResult {
  std::string manifest_digest;  // what the reference resolved to
  std::vector<Platform> platforms;
  std::size_t blobs = 0;
  std::uint64_t bytes = 0;
};

Result<PrefetchResult> prefetchImage(const ImageRef& image, const PrefetchOptions& options);

}  // namespace pullcache::prefetch
