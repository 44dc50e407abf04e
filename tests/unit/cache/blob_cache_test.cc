// The blob cache as the one owner of "row <=> file": commits, lookups, reservations given back,
// and the races it closes (an access-time write landing after an eviction, a row whose file
// vanished), against a real RocksDB index and real files.
#include "daemon/cache/blob_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "daemon/index/rocksdb_index.h"
#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace pullcache::cache {
namespace {

class BlobCacheTest : public ::testing::Test {
 protected:
  BlobCacheOptions options(std::uint64_t max_bytes) {
    BlobCacheOptions o;
    o.dir = dir_.sub("cache");
    o.eviction.max_bytes = max_bytes;
    o.eviction.min_free_bytes = std::uint64_t{0};
    o.disk = [] { return Result<store::DiskUsage>(store::DiskUsage{1ull << 40, 1ull << 39}); };
    return o;
  }
  void open(std::uint64_t max_bytes = 1ull << 30) {
    cache_ = std::make_unique<BlobCache>(options(max_bytes), index_, clock_, pool_, &metrics_);
    ASSERT_TRUE(cache_->reconcile());
  }
  Digest put(const std::string& content) {
    Digest d = sha256Of(content);
    auto r = cache_->reserve(d);
    EXPECT_TRUE(r);
    EXPECT_TRUE(r.value()->claim(content.size()));
    EXPECT_TRUE(writeAll(r.value()->fd(), content.data(), content.size()));
    EXPECT_TRUE(cache_->commit(*r.value(), content.size()));
    return d;
  }
  bool rowAndFileAgree(const Digest& d) {
    auto meta = index_.getBlob(d);
    const bool row = meta && meta.value();
    const bool file = std::filesystem::exists(cache_->blobPath(d));
    EXPECT_EQ(row, file) << "row and file disagree on " << d.str();
    return row && file;
  }
  // Work posted to the pool refers to the cache: it ends before the cache does.
  void TearDown() override {
    pool_.join();
    cache_.reset();
  }
  // Runs everything posted to the pool so far.
  void drainPool() {
    std::promise<void> done;
    asio::post(pool_, [&] { done.set_value(); });
    done.get_future().wait();
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  metrics::Metrics metrics_{"test", "test"};
  index::RocksDbIndex index_{dir_.sub("index")};
  asio::thread_pool pool_{1};
  std::unique_ptr<BlobCache> cache_;
};

TEST_F(BlobCacheTest, ACommittedBlobIsFoundWithItsSizeAndCounted) {
  open();
  Digest d = put("hello, blob");
  auto found = cache_->lookup(d);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found.value());
  EXPECT_EQ(found.value()->size, 11u);
  EXPECT_TRUE(rowAndFileAgree(d));
  EXPECT_EQ(cache_->blobCount(), 1u);
  EXPECT_EQ(cache_->byteCount(), 11u);
  EXPECT_EQ(metrics_.cache_blobs.value(), 1);
  EXPECT_FALSE(cache_->lookup(sha256Of("something else")).value());
}

TEST_F(BlobCacheTest, AReservationGivenUpLeavesNothingBehind) {
  open();
  Digest d = sha256Of("never committed");
  {
    auto r = cache_->reserve(d);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r.value()->inMemory());
    EXPECT_TRUE(r.value()->claim(100));
    EXPECT_FALSE(std::filesystem::is_empty(dir_.sub("cache/tmp")));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_.sub("cache/tmp")));
  EXPECT_FALSE(rowAndFileAgree(d));
  EXPECT_EQ(cache_->blobCount(), 0u);
}

TEST_F(BlobCacheTest, AClaimLargerThanTheFreeSpaceIsRefused) {
  auto o = options(1ull << 30);
  o.disk = [] { return Result<store::DiskUsage>(store::DiskUsage{1000, 10}); };
  cache_ = std::make_unique<BlobCache>(std::move(o), index_, clock_, pool_, &metrics_);
  auto r = cache_->reserve(sha256Of("x"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value()->claim(11));
  EXPECT_EQ(r.value()->claimed(), 0u);
  EXPECT_TRUE(r.value()->claim(10));
}

// The access-time write of a hit is posted to the pool; the eviction of that blob runs before
// it lands. The late write must not bring the row back without its file.
TEST_F(BlobCacheTest, AnAccessWriteThatLandsAfterAnEvictionDoesNotResurrectTheRow) {
  open(/*max_bytes=*/8);  // any blob is over budget once a pass runs
  Digest d = put(std::string(64, 'e'));
  clock_.advance(std::chrono::seconds(index::kAccessGranularitySeconds + 1));
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  asio::post(pool_, [gate] { gate.wait(); });  // the pool's only thread is held
  ASSERT_TRUE(cache_->lookup(d).value());      // posts the access write behind the blocker
  auto report = cache_->evict(/*dry_run=*/false);
  ASSERT_TRUE(report);
  EXPECT_EQ(report.value().deleted, 1u);
  release.set_value();
  drainPool();
  EXPECT_FALSE(rowAndFileAgree(d)) << "the late access write brought the row back";
  EXPECT_EQ(cache_->blobCount(), 0u);
  EXPECT_EQ(metrics_.cache_blobs.value(), 0);
}

TEST_F(BlobCacheTest, ARowWhoseFileVanishedIsDroppedAndCountedOut) {
  open();
  Digest d = put("short-lived");
  std::filesystem::remove(cache_->blobPath(d));
  auto found = cache_->lookup(d);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found.value()) << "a miss, not a broken hit";
  drainPool();
  EXPECT_FALSE(index_.getBlob(d).value());
  EXPECT_EQ(cache_->blobCount(), 0u);
  // The digest can be cached again at once.
  Digest again = put("short-lived");
  EXPECT_EQ(again, d);
  EXPECT_TRUE(rowAndFileAgree(d));
  EXPECT_EQ(cache_->blobCount(), 1u);
}

// Two fetches of one digest can both finish (a miss that raced the first one's commit): the
// second keeps the first copy, counts nothing twice and leaves no staging file.
TEST_F(BlobCacheTest, ACommitOfADigestAlreadyCachedKeepsOneCopyCountedOnce) {
  open();
  Digest first = put("same bytes");
  Digest second = put("same bytes");
  EXPECT_EQ(first, second);
  EXPECT_TRUE(rowAndFileAgree(first));
  EXPECT_EQ(cache_->blobCount(), 1u);
  EXPECT_EQ(cache_->byteCount(), 10u);
  EXPECT_EQ(metrics_.cache_blobs.value(), 1);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.sub("cache/tmp")));
}

TEST_F(BlobCacheTest, ReconcileCountsWhatSurvivedARestart) {
  open();
  put("one");
  put("two!");
  cache_.reset();
  open();
  EXPECT_EQ(cache_->blobCount(), 2u);
  EXPECT_EQ(cache_->byteCount(), 7u);
  EXPECT_EQ(metrics_.cache_size_bytes.value(), 7);
}

}  // namespace
}  // namespace pullcache::cache
