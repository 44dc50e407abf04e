#pragma once
// The blob cache: the one owner of the blob files (store/), the blob rows of the index, the
// eviction budget and its accounting, and start-up reconciliation. Everything that adds,
// reads, touches or removes a cached blob asks it; nothing else touches store/ or the blob
// rows of the index.
//
// The invariant it keeps: a blob row exists if and only if its file does, with the size the
// row says. Every change to a digest's row and file (commit, eviction, dropping a row whose
// file vanished, the coarse access-time write) runs under that digest's lock (striped), and a
// write that would only update a row checks that the row is still the one it read. So an
// eviction that races a commit or an access-time write of the same digest cannot bring back a
// row without its file (what CacheLib's tombstones and in-flight-put tracking guard against).
//
// Threads: lookup() and reserve() are cheap (a point read, open(2)/fstat(2), creating a staging
// file) and may run on an I/O thread; commit(), evict(), stats() and reconcile() block (fsync,
// rename, index scans) and belong on the blocking pool or a CLI's own thread.

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/asio.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/error.h"
#include "daemon/index/index.h"
#include "daemon/metrics/metrics.h"
#include "daemon/store/blob_rows.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/cache_stats.h"
#include "daemon/store/evictor.h"
#include "daemon/store/reconcile.h"

namespace pullcache::cache {

class BlobCache;

// What a fetch holds while it writes a blob: a staging file, and the bytes it has claimed
// against the budget (counted as used and unevictable until the blob is committed). Destroyed
// without a commit, it gives both back: the staging file is removed and the claim released,
// however the fetch ended.
class Reservation {
 public:
  ~Reservation();
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  [[nodiscard]] const Digest& digest() const noexcept { return digest_; }
  [[nodiscard]] int fd() const noexcept { return staging_.fd.get(); }  // for writing
  // The disk refused even to create the staging file: this is a memory file, never committed.
  [[nodiscard]] bool inMemory() const noexcept { return staging_.path.empty(); }
  // A read-only descriptor of the staging file for the blob's readers and the hasher.
  [[nodiscard]] Result<UniqueFd> openForReading() const;

  // The blob is `bytes` long (its Content-Length): room is made for it while it downloads.
  // False, claiming nothing, when the filesystem has less than that free right now.
  bool claim(std::uint64_t bytes);
  [[nodiscard]] std::uint64_t claimed() const noexcept { return claimed_; }
  // A write to the staging file failed (ENOSPC, EIO): counted, and eviction is woken.
  void noteWriteError(const Error& error);

 private:
  friend class BlobCache;
  Reservation(BlobCache& cache, Digest digest, store::StagingFile staging)
      : cache_(cache), digest_(std::move(digest)), staging_(std::move(staging)) {}

  BlobCache& cache_;
  const Digest digest_;
  store::StagingFile staging_;
  std::uint64_t claimed_ = 0;
  bool committed_ = false;
};

struct BlobCacheOptions {
  std::string dir;  // cache.dir: blobs/ and tmp/ below it
  store::EvictorOptions eviction;
  store::DiskProbe disk;  // empty: statvfs of `dir`
};

class BlobCache final : private store::BlobRows {
 public:
  // Opens (creates) the blob store under options.dir; throws std::runtime_error if it cannot
  // (start-up only). Call reconcile() before serving.
  BlobCache(BlobCacheOptions options, index::Index& index, const Clock& clock,
            asio::thread_pool& pool, metrics::Metrics* metrics = nullptr);
  ~BlobCache() override;

  // Start-up (blocking): staging files removed, rows and files brought into agreement, the
  // size gauges set.
  Result<store::ReconcileReport> reconcile();
  void startEviction();  // the background pass (store/evictor.h)
  void stopEviction();

  // A committed blob, or nullopt. Records the access (LRU order; the row's time coarsely, in
  // the background). A row whose file is missing or short is dropped and reported as a miss.
  Result<std::optional<store::OpenBlob>> lookup(const Digest& digest);

  // A staging file for a fetch of `digest`; a memory file when the disk refuses even that.
  Result<std::unique_ptr<Reservation>> reserve(const Digest& digest);
  // Blocking: fsync, rename into place, write the row. The caller verified the digest first.
  // On success the reservation's claim becomes cached bytes; on failure nothing is kept.
  Result<void> commit(Reservation& reservation, std::uint64_t size);

  // One eviction pass now (blocking). dry_run plans only. `progress`: store/evictor.h.
  Result<store::EvictionReport> evict(bool dry_run, const store::EvictionProgressFn& progress = {});
  // What the cache holds (blocking: index scans).
  Result<store::CacheStats> stats(std::size_t top_repositories);

  [[nodiscard]] std::uint64_t blobCount() const noexcept { return blobs_.load(); }
  [[nodiscard]] std::uint64_t byteCount() const noexcept { return bytes_.load(); }
  [[nodiscard]] std::string blobPath(const Digest& digest) const { return store_.blobPath(digest); }

 private:
  friend class Reservation;

  // store::BlobRows, for the evictor: every removal and access write under the digest's lock.
  Result<void> forEachBlob(
      const std::function<void(const Digest&, const index::BlobMeta&)>& fn) override;
  void writeAccess(const Digest& digest, std::int64_t last_access_unix) override;
  Result<bool> removeBlob(const Digest& digest) override;

  // A row whose file turned out missing or short: dropped, if that is still so under the lock.
  void dropIfBroken(const Digest& digest);
  void noteWriteError(const Error& error);
  void added(std::uint64_t size);
  void removed(std::uint64_t size);
  void publishCounts();
  std::mutex& lockFor(const Digest& digest);

  static constexpr std::size_t kLockStripes = 64;
  store::BlobStore store_;
  index::Index& index_;
  const Clock& clock_;
  asio::thread_pool& pool_;
  metrics::Metrics* metrics_;
  store::Evictor evictor_;
  std::array<std::mutex, kLockStripes> locks_;
  std::atomic<std::uint64_t> blobs_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::int64_t> last_write_error_log_{0};
};

}  // namespace pullcache::cache
