#include "daemon/cache/blob_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>

#include "common/log.h"
#include "common/spawn.h"

namespace pullcache::cache {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("cache");
  return log;
}

store::EvictorOptions evictionOf(const BlobCacheOptions& o) { return o.eviction; }

store::DiskProbe diskOf(const BlobCacheOptions& o) {
  return o.disk ? o.disk : store::statvfsProbe(o.dir);
}

}  // namespace

// --- Reservation ---------------------------------------------------------------------------

Reservation::~Reservation() {
  if (committed_) return;
  if (claimed_ > 0) cache_.evictor_.released(claimed_);
  // On whichever thread drops the last reference (a failed fetch's strand): an unlink, which
  // for a large partial file takes a while. Moving it to the pool would make "the staging file
  // is gone once the client saw the failure" asynchronous; kept synchronous for now.
  cache_.store_.discard(staging_);
}

Result<UniqueFd> Reservation::openForReading() const {
  UniqueFd fd(inMemory() ? ::dup(staging_.fd.get())
                         : ::open(staging_.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return systemError(errno, "open staging file");
  return fd;
}

bool Reservation::claim(std::uint64_t bytes) {
  if (inMemory()) return true;  // nothing on disk to make room for
  auto disk = cache_.evictor_.disk();
  if (disk && disk.value().free_bytes < bytes) return false;
  cache_.evictor_.reserve(bytes);
  claimed_ += bytes;
  return true;
}

void Reservation::noteWriteError(const Error& error) { cache_.noteWriteError(error); }

// --- BlobCache -----------------------------------------------------------------------------

BlobCache::BlobCache(BlobCacheOptions options, index::Index& index, const Clock& clock,
                     asio::thread_pool& pool, metrics::Metrics* metrics)
    : store_(options.dir),
      index_(index),
      clock_(clock),
      pool_(pool),
      metrics_(metrics),
      evictor_(*this, index, clock, evictionOf(options), diskOf(options), metrics) {}

BlobCache::~BlobCache() { evictor_.stop(); }

std::mutex& BlobCache::lockFor(const Digest& digest) {
  return locks_[std::hash<std::string_view>{}(digest.hex()) % kLockStripes];
}

// Called with the digest's lock held, so a blob's removal never overtakes its addition.
void BlobCache::added(std::uint64_t size) {
  blobs_.fetch_add(1);
  bytes_.fetch_add(size);
  publishCounts();
}

void BlobCache::removed(std::uint64_t size) {
  blobs_.fetch_sub(1);
  bytes_.fetch_sub(size);
  publishCounts();
}

// The gauges from the counters as they are now (not from one update's result, which a
// concurrent update on another stripe could overtake).
void BlobCache::publishCounts() {
  if (metrics_ == nullptr) return;
  metrics_->cache_blobs.set(static_cast<double>(blobs_.load()));
  metrics_->cache_size_bytes.set(static_cast<double>(bytes_.load()));
}

Result<store::ReconcileReport> BlobCache::reconcile() {
  auto report = store::reconcile(store_, index_);
  if (!report) return report.error();
  blobs_.store(report.value().blobs);
  bytes_.store(report.value().bytes);
  publishCounts();
  return report;
}

void BlobCache::startEviction() { evictor_.start(); }
void BlobCache::stopEviction() { evictor_.stop(); }

Result<std::optional<store::OpenBlob>> BlobCache::lookup(const Digest& digest) {
  auto meta = index_.getBlob(digest);
  if (!meta) return meta.error();
  if (!meta.value()) return std::optional<store::OpenBlob>{};
  auto file = store_.open(digest);
  if (!file) return file.error();
  if (!file.value() || file.value()->size != meta.value()->size) {
    // The row is ahead of the disk (the file was removed or truncated behind our back).
    logger()->warn("blob {} is indexed but its file is missing or has the wrong size; refetching",
                   digest.str());
    asio::post(pool_, [this, digest] {
      try {
        dropIfBroken(digest);
      } catch (...) {
        noteEscapedException("dropping a broken cache row", std::current_exception());
      }
    });
    return std::optional<store::OpenBlob>{};
  }
  evictor_.touch(digest);
  const std::int64_t now = clock_.unixSeconds();
  if (now - meta.value()->last_access_unix >= index::kAccessGranularitySeconds)
    asio::post(pool_, [this, digest, now] {
      try {
        writeAccess(digest, now);
      } catch (...) {
        noteEscapedException("writing a blob's access time", std::current_exception());
      }
    });
  return std::move(file).value();
}

Result<std::unique_ptr<Reservation>> BlobCache::reserve(const Digest& digest) {
  auto staging = store_.createStaging(digest);
  if (!staging) {
    // The disk refuses even an empty file: the fetch goes into memory (served, not cached).
    noteWriteError(staging.error());
    UniqueFd mem(::memfd_create("pullcache-blob", MFD_CLOEXEC));
    if (!mem.valid()) return staging.error();
    staging = store::StagingFile{"", std::move(mem)};
  }
  return std::unique_ptr<Reservation>(new Reservation(*this, digest, std::move(staging).value()));
}

Result<void> BlobCache::commit(Reservation& r, std::uint64_t size) {
  if (r.inMemory()) return fail(Errc::kStoreIo, "a blob held in memory is not kept");
  if (r.committed_) return fail(Errc::kInternal, "reservation committed twice");
  // The slow part (fsync of a blob that may be gigabytes) before the digest's lock, which other
  // work on this stripe (evictions, access writes) waits for; the rename's own fsync then finds
  // nothing left to write.
  if (::fdatasync(r.fd()) != 0) return systemError(errno, "fsync staging file");
  const std::int64_t now = clock_.unixSeconds();
  std::lock_guard lock(lockFor(r.digest()));
  auto existing = index_.getBlob(r.digest());
  if (!existing) return existing.error();
  if (existing.value()) {
    auto file = store_.open(r.digest());
    if (file && file.value() && file.value()->size == existing.value()->size) {
      // Cached meanwhile by another fetch (a miss that raced its commit): keep that copy; this
      // reservation's file and claim are given back when it goes.
      return ok();
    }
  }
  if (auto c = store_.commit(r.staging_, r.digest()); !c) return c;
  if (auto p = index_.putBlob(r.digest(), index::BlobMeta{size, now, now}); !p) {
    (void)store_.remove(r.digest());  // no new row: the file must not stay either
    if (existing.value() && index_.deleteBlob(r.digest())) removed(existing.value()->size);
    return p;
  }
  if (existing.value()) removed(existing.value()->size);  // a broken row, now replaced
  r.committed_ = true;
  evictor_.committed(size, r.claimed_);
  added(size);
  return ok();
}

Result<store::EvictionReport> BlobCache::evict(bool dry_run,
                                               const store::EvictionProgressFn& progress) {
  return evictor_.runOnce(dry_run, progress);
}

Result<store::CacheStats> BlobCache::stats(std::size_t top_repositories) {
  return store::collectStats(index_, evictor_, top_repositories);
}

Result<void> BlobCache::forEachBlob(
    const std::function<void(const Digest&, const index::BlobMeta&)>& fn) {
  return index_.forEachBlob(fn);
}

void BlobCache::writeAccess(const Digest& digest, std::int64_t last_access_unix) {
  std::lock_guard lock(lockFor(digest));
  auto meta = index_.getBlob(digest);
  // Evicted since the access was recorded: writing now would bring the row back without its
  // file. Only a row that is still there gets the newer time.
  if (!meta || !meta.value() || meta.value()->last_access_unix >= last_access_unix) return;
  index::BlobMeta updated = *meta.value();
  updated.last_access_unix = last_access_unix;
  (void)index_.putBlob(digest, updated);
}

Result<bool> BlobCache::removeBlob(const Digest& digest) {
  std::lock_guard lock(lockFor(digest));
  auto meta = index_.getBlob(digest);
  if (!meta) return meta.error();
  if (!meta.value()) return false;
  if (auto del = index_.deleteBlob(digest); !del) return del.error();
  if (auto rm = store_.remove(digest); !rm) {
    // The row is gone: the file is an orphan that the next start-up removes.
    logger()->error("evicting {}: {}", digest.str(), rm.error().message());
  }
  removed(meta.value()->size);
  return true;
}

void BlobCache::dropIfBroken(const Digest& digest) {
  std::lock_guard lock(lockFor(digest));
  auto meta = index_.getBlob(digest);
  if (!meta || !meta.value()) return;
  auto file = store_.open(digest);
  if (file && file.value() && file.value()->size == meta.value()->size) return;  // recommitted
  if (index_.deleteBlob(digest)) removed(meta.value()->size);
}

void BlobCache::noteWriteError(const Error& error) {
  if (metrics_ != nullptr) metrics_->cache_write_errors.inc();
  evictor_.wakeNow();  // free space, if there is anything to free
  // Logged at most once a minute: a full disk fails every fetch.
  const std::int64_t now = clock_.unixSeconds();
  std::int64_t last = last_write_error_log_.load();
  const std::uint64_t count = write_errors_.fetch_add(1) + 1;
  if (now - last >= 60 && last_write_error_log_.compare_exchange_strong(last, now)) {
    logger()->error(
        "cannot write to the cache directory: {} ({} write errors so far); blobs are served "
        "from memory and not cached",
        error.message(), count);
  }
}

}  // namespace pullcache::cache
