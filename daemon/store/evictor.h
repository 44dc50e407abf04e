#pragma once
// Keeps the cache within its budget: a background thread that, every `interval` or as soon as
// a commit takes the cache over its high watermark, plans an eviction (eviction_plan.h) from
// the index, the pins and the filesystem's free space, and carries it out.
//
// Access times: the index keeps them at a coarse granularity (one write per blob per hour at
// most); touch() records the exact time in memory on every hit, so LRU order within the hour
// is right. Each pass writes the newer in-memory times back to the index.
//
// Deleting a blob drops its index entry first, then unlinks the file. A reader that opened the
// file before keeps reading it (Linux unlink semantics); a request that looks the blob up after
// gets a miss and fetches it again.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/image_ref.h"
#include "common/units.h"
#include "daemon/config/config.h"
#include "daemon/index/index.h"
#include "daemon/metrics/metrics.h"
#include "daemon/store/blob_rows.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/eviction_plan.h"

namespace pullcache::store {

struct EvictorOptions {
  SizeSpec max_bytes = Percent{20};
  SizeSpec min_free_bytes = Percent{15};
  double high_watermark = 0.9;
  double low_watermark = 0.8;
  std::chrono::seconds max_age{0};  // 0: none
  std::chrono::milliseconds interval{60'000};
  std::vector<ImageRef> pins;
};

// The options cache.* in the daemon's config asks for (pins already validated there).
EvictorOptions evictorOptionsFrom(const config::CacheConfig& cache);

// The filesystem under the cache: total and available bytes (statvfs). Injectable for tests.
struct DiskUsage {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;
};
using DiskProbe = std::function<Result<DiskUsage>()>;
DiskProbe statvfsProbe(std::string dir);

struct EvictionReport {
  EvictionPlan plan;
  EvictionPolicy policy;                  // the budget as resolved for this pass
  std::size_t pinned_images_missing = 0;  // pins whose manifest is not in the cache
  std::size_t deleted = 0;
  std::uint64_t deleted_bytes = 0;
};

// How far a pass that removes blobs has got, for a progress display (`pullcache gc`).
struct EvictionProgress {
  std::size_t blobs_done = 0;       // removed so far
  std::size_t blobs_total = 0;      // the plan's victims
  std::uint64_t bytes_done = 0;     // their sizes, as indexed
  std::uint64_t bytes_total = 0;    // the plan's
  const Victim* removed = nullptr;  // the blob just removed; null in the first report
};
// Called on the pass's thread, with the pass's lock held (it must not start a pass): once when the
// plan is made (nothing removed yet), then after each blob removed. A victim that could not be
// removed (the index refused, or it was gone already) is not reported, so the last report's counts
// are the EvictionReport's.
using EvictionProgressFn = std::function<void(const EvictionProgress&)>;

class Evictor {
 public:
  // Reads and removes blobs through `rows` (cache::BlobCache in the daemon); reads manifests
  // and tags (pins) from `index`.
  Evictor(BlobRows& rows, index::Index& index, const Clock& clock, EvictorOptions options,
          DiskProbe disk, metrics::Metrics* metrics = nullptr);
  // Over a store and an index with no other user (the stand-alone CLI, tests): rows straight
  // on them, without the cache's locks.
  Evictor(BlobStore& store, index::Index& index, const Clock& clock, EvictorOptions options,
          DiskProbe disk, metrics::Metrics* metrics = nullptr);
  ~Evictor();  // stops the thread

  void start();  // the background thread
  void stop();

  // One pass now, on the calling thread (blocking: index scan, unlinks). dry_run plans only
  // (and reports no progress).
  Result<EvictionReport> runOnce(bool dry_run, const EvictionProgressFn& progress = {});

  // Hot path, any thread: cheap and lock-sharded.
  void touch(const Digest& digest);
  // A fetch of `size` bytes started writing: counted as used (and unevictable) until
  // committed() or released(), so room is made while the blob downloads, not after.
  void reserve(std::uint64_t size);
  void released(std::uint64_t reserved);  // the fetch failed
  void wakeNow();                         // a pass as soon as possible (a write failed)
  // The fetch's blob is in the cache (`reserved`: what reserve() was given, 0 if nothing).
  void committed(std::uint64_t size, std::uint64_t reserved);

  // Digests (manifests and blobs) that pins keep, resolved from the index now.
  std::unordered_set<std::string> pinnedDigests(std::size_t* missing = nullptr);
  [[nodiscard]] EvictionPolicy resolvePolicy(const DiskUsage& disk) const;
  [[nodiscard]] const EvictorOptions& options() const noexcept { return options_; }
  [[nodiscard]] Result<DiskUsage> disk() const { return disk_(); }

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::int64_t> last_access;
  };
  void loop();

  std::unique_ptr<BlobRows> own_rows_;  // the store-and-index constructor's
  BlobRows& rows_;
  index::Index& index_;
  const Clock& clock_;
  EvictorOptions options_;
  DiskProbe disk_;
  metrics::Metrics* metrics_;
  std::array<Shard, kShards> shards_;
  void wakeIfOver();

  std::atomic<std::uint64_t> approx_bytes_{0};    // indexed bytes, as of the last pass + commits
  std::atomic<std::uint64_t> reserved_bytes_{0};  // fetches in flight
  std::atomic<std::uint64_t> high_bytes_{UINT64_MAX};
  std::mutex run_mu_;  // one pass at a time (thread, admin endpoint, CLI)
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;      // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace pullcache::store
