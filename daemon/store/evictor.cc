#include "daemon/store/evictor.h"

#include <sys/statvfs.h>

#include <functional>

#include "common/log.h"
#include "daemon/index/image_walk.h"

namespace pullcache::store {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("evict");
  return log;
}

std::uint64_t resolveSize(const SizeSpec& spec, std::uint64_t total) {
  if (const auto* bytes = std::get_if<std::uint64_t>(&spec)) return *bytes;
  return static_cast<std::uint64_t>(static_cast<double>(total) * std::get<Percent>(spec).value /
                                    100.0);
}

// In-memory access times newer than the index's by this much are written back in a pass.
constexpr std::int64_t kWriteBackSeconds = 60;

// Rows straight on the index and the files: only for a process that is their only user.
class DirectBlobRows final : public BlobRows {
 public:
  DirectBlobRows(BlobStore& store, index::Index& index) : store_(store), index_(index) {}
  Result<void> forEachBlob(
      const std::function<void(const Digest&, const index::BlobMeta&)>& fn) override {
    return index_.forEachBlob(fn);
  }
  void writeAccess(const Digest& digest, std::int64_t last_access_unix) override {
    auto meta = index_.getBlob(digest);
    if (!meta || !meta.value()) return;
    index::BlobMeta updated = *meta.value();
    updated.last_access_unix = last_access_unix;
    (void)index_.putBlob(digest, updated);
  }
  Result<bool> removeBlob(const Digest& digest) override {
    if (auto del = index_.deleteBlob(digest); !del) return del.error();
    if (auto rm = store_.remove(digest); !rm) {
      // The entry is gone: the file is an orphan that the next start-up removes.
      logger()->error("evicting {}: {}", digest.str(), rm.error().message());
    }
    return true;
  }

 private:
  BlobStore& store_;
  index::Index& index_;
};

}  // namespace

EvictorOptions evictorOptionsFrom(const config::CacheConfig& cache) {
  EvictorOptions o;
  o.max_bytes = cache.max_bytes;
  o.min_free_bytes = cache.min_free_bytes;
  o.high_watermark = cache.high_watermark;
  o.low_watermark = cache.low_watermark;
  o.max_age = cache.max_age;
  o.interval = cache.eviction_interval;
  for (const auto& pin : cache.pin) o.pins.push_back(ImageRef::parse(pin).value());
  return o;
}

DiskProbe statvfsProbe(std::string dir) {
  return [dir = std::move(dir)]() -> Result<DiskUsage> {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) return systemError(errno, "statvfs " + dir);
    return DiskUsage{static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize,
                     static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize};
  };
}

Evictor::Evictor(BlobRows& rows, index::Index& index, const Clock& clock, EvictorOptions options,
                 DiskProbe disk, metrics::Metrics* metrics)
    : rows_(rows),
      index_(index),
      clock_(clock),
      options_(std::move(options)),
      disk_(std::move(disk)),
      metrics_(metrics) {}

Evictor::Evictor(BlobStore& store, index::Index& index, const Clock& clock, EvictorOptions options,
                 DiskProbe disk, metrics::Metrics* metrics)
    : own_rows_(std::make_unique<DirectBlobRows>(store, index)),
      rows_(*own_rows_),
      index_(index),
      clock_(clock),
      options_(std::move(options)),
      disk_(std::move(disk)),
      metrics_(metrics) {}

Evictor::~Evictor() { stop(); }

void Evictor::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void Evictor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Evictor::loop() {
  for (;;) {
    auto r = runOnce(/*dry_run=*/false);
    if (!r) logger()->error("eviction pass failed: {}", r.error().message());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.interval, [this] { return stopping_ || wake_; });
    if (stopping_) return;
    wake_ = false;
  }
}

void Evictor::touch(const Digest& digest) {
  auto& shard = shards_[std::hash<std::string>{}(digest.str()) % kShards];
  std::int64_t now = clock_.unixSeconds();
  std::lock_guard lock(shard.mu);
  shard.last_access[digest.str()] = now;
}

void Evictor::reserve(std::uint64_t size) {
  reserved_bytes_.fetch_add(size);
  wakeIfOver();
}

void Evictor::released(std::uint64_t reserved) { reserved_bytes_.fetch_sub(reserved); }

void Evictor::committed(std::uint64_t size, std::uint64_t reserved) {
  approx_bytes_.fetch_add(size);
  reserved_bytes_.fetch_sub(reserved);
  wakeIfOver();
}

void Evictor::wakeIfOver() {
  if (approx_bytes_.load() + reserved_bytes_.load() <= high_bytes_.load()) return;
  wakeNow();
}

void Evictor::wakeNow() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

EvictionPolicy Evictor::resolvePolicy(const DiskUsage& disk) const {
  EvictionPolicy p;
  p.max_bytes = resolveSize(options_.max_bytes, disk.total_bytes);
  p.min_free_bytes = resolveSize(options_.min_free_bytes, disk.total_bytes);
  p.high_watermark = options_.high_watermark;
  p.low_watermark = options_.low_watermark;
  p.max_age_seconds = options_.max_age.count();
  return p;
}

std::unordered_set<std::string> Evictor::pinnedDigests(std::size_t* missing) {
  std::unordered_set<std::string> keep;
  std::size_t not_cached = 0;
  for (const auto& pin : options_.pins) {
    std::optional<Digest> root = pin.digest;
    if (!root) {
      auto tag = index_.getTag(index::TagKey{pin.host, pin.repository, pin.tag});
      if (tag && tag.value()) {
        if (auto d = Digest::parse(tag.value()->digest)) root = d.value();
      }
    }
    if (!root) {
      ++not_cached;
      continue;
    }
    if (!index::collectImage(index_, *root, keep)) ++not_cached;
  }
  if (missing != nullptr) *missing = not_cached;
  return keep;
}

Result<EvictionReport> Evictor::runOnce(bool dry_run, const EvictionProgressFn& progress) {
  std::lock_guard run_lock(run_mu_);
  auto disk = disk_();
  if (!disk) return disk.error();
  EvictionReport report;
  report.policy = resolvePolicy(disk.value());

  const std::int64_t scan_start = clock_.unixSeconds();
  std::vector<CachedBlob> blobs;
  std::vector<std::pair<Digest, std::int64_t>> write_back;
  std::unordered_set<std::string> remembered;  // touches kept in memory only
  auto scan = rows_.forEachBlob([&](const Digest& d, const index::BlobMeta& meta) {
    CachedBlob b{d, meta.size, meta.last_access_unix, meta.stored_unix};
    auto& shard = shards_[std::hash<std::string>{}(d.str()) % kShards];
    {
      std::lock_guard lock(shard.mu);
      if (auto it = shard.last_access.find(d.str()); it != shard.last_access.end()) {
        b.last_access_unix = std::max(b.last_access_unix, it->second);
      }
    }
    if (b.last_access_unix - meta.last_access_unix >= kWriteBackSeconds) {
      write_back.emplace_back(d, b.last_access_unix);
    } else if (b.last_access_unix > meta.last_access_unix) {
      remembered.insert(d.str());
    }
    blobs.push_back(std::move(b));
  });
  if (!scan) return scan.error();
  if (!dry_run) {
    for (const auto& [d, when] : write_back) rows_.writeAccess(d, when);
    // Forget touches the index now has, and those of blobs no longer indexed; keep the ones
    // too recent to write back and any made during the scan.
    for (auto& shard : shards_) {
      std::lock_guard lock(shard.mu);
      std::erase_if(shard.last_access, [&](const auto& kv) {
        return kv.second < scan_start && !remembered.count(kv.first);
      });
    }
  }

  auto pinned = pinnedDigests(&report.pinned_images_missing);
  report.plan = planEviction(std::move(blobs), pinned, report.policy, disk.value().free_bytes,
                             clock_.unixSeconds(), reserved_bytes_.load());
  const auto& plan = report.plan;
  if (!dry_run) {
    EvictionProgress step;
    step.blobs_total = plan.victims.size();
    for (const auto& v : plan.victims) step.bytes_total += v.blob.size;
    if (progress) progress(step);
    for (const auto& v : plan.victims) {
      auto removed = rows_.removeBlob(v.blob.digest);
      if (!removed) {
        logger()->error("evicting {}: index delete failed: {}", v.blob.digest.str(),
                        removed.error().message());
        continue;
      }
      if (!removed.value()) continue;  // gone already (a concurrent check found it broken)
      ++report.deleted;
      report.deleted_bytes += v.blob.size;
      if (progress) {
        step.blobs_done = report.deleted;
        step.bytes_done = report.deleted_bytes;
        step.removed = &v;
        progress(step);
      }
      logger()->debug("evicted {} ({} bytes, {}, last read {} s ago)", v.blob.digest.str(),
                      v.blob.size, evictReasonName(v.reason),
                      clock_.unixSeconds() - v.blob.last_access_unix);
    }
    if (report.deleted > 0) {
      logger()->info(
          "evicted {} blobs, {} bytes (cache {} -> {} bytes, budget {}, filesystem free {}, "
          "pinned {} bytes)",
          report.deleted, report.deleted_bytes, plan.bytes_before,
          plan.bytes_before - report.deleted_bytes, report.policy.max_bytes,
          disk.value().free_bytes, plan.pinned_bytes);
    }
    if (plan.unmet_bytes > 0) {
      logger()->warn(
          "cannot free {} more bytes: everything left is pinned ({} bytes of pins; budget {})",
          plan.unmet_bytes, plan.pinned_bytes, report.policy.max_bytes);
    }
    const std::uint64_t now_bytes = plan.bytes_before - report.deleted_bytes;
    approx_bytes_.store(now_bytes);
    high_bytes_.store(static_cast<std::uint64_t>(static_cast<double>(report.policy.max_bytes) *
                                                 report.policy.high_watermark));
    if (metrics_ != nullptr) {
      metrics_->cache_evictions.inc(report.deleted);
      metrics_->cache_evicted_bytes.inc(report.deleted_bytes);
      metrics_->cache_capacity_bytes.set(static_cast<double>(report.policy.max_bytes));
    }
  }
  return report;
}

}  // namespace pullcache::store
