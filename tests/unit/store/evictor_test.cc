// The Evictor against a real RocksDB index and blob files: pins resolved through tags and
// indexes, in-memory access order, deletes that keep the index and the files in agreement, and
// the progress a pass reports as it removes blobs.
#include "daemon/store/evictor.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/index/rocksdb_index.h"
#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace pullcache::store {
namespace {

constexpr std::uint64_t kKiB = 1024;

class EvictorTest : public ::testing::Test {
 protected:
  Digest addBlob(const std::string& seed, std::uint64_t size) {
    std::string content(size, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = seed[i % seed.size()];
    Digest d = sha256Of(content);
    auto staging = store_.createStaging(d);
    EXPECT_TRUE(staging);
    EXPECT_TRUE(writeAll(staging.value().fd.get(), content.data(), content.size()));
    EXPECT_TRUE(store_.commit(staging.value(), d));
    std::int64_t now = clock_.unixSeconds();
    EXPECT_TRUE(index_.putBlob(d, {size, now, now}));
    clock_.advance(std::chrono::seconds(1));
    return d;
  }

  // An image manifest for `blobs`, tagged host/repo:tag; returns the manifest digest.
  Digest addImage(const std::string& repo, const std::string& tag,
                  const std::vector<Digest>& blobs) {
    std::string body =
        R"({"schemaVersion":2,"config":{"digest":")" + blobs[0].str() + R"("},"layers":[)";
    for (std::size_t i = 1; i < blobs.size(); ++i)
      body += (i > 1 ? "," : "") + std::string(R"({"digest":")") + blobs[i].str() + "\"}";
    body += "]}";
    Digest d = sha256Of(body);
    EXPECT_TRUE(index_.putManifest(
        d, {"application/vnd.oci.image.manifest.v1+json", body, clock_.unixSeconds()},
        std::pair{index::TagKey{"registry.test", repo, tag},
                  index::TagRecord{d.str(), clock_.unixSeconds() * 1000}}));
    return d;
  }

  std::unique_ptr<Evictor> makeEvictor(EvictorOptions options) {
    return std::make_unique<Evictor>(store_, index_, clock_, std::move(options),
                                     [this]() -> Result<DiskUsage> { return disk_; });
  }

  bool cached(const Digest& d) {
    auto meta = index_.getBlob(d);
    bool indexed = meta && meta.value();
    bool file = std::filesystem::exists(store_.blobPath(d));
    EXPECT_EQ(indexed, file) << "index and files disagree on " << d.str();
    return indexed && file;
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  BlobStore store_{dir_.path()};
  index::RocksDbIndex index_{dir_.sub("index")};
  DiskUsage disk_{1ull << 40, 1ull << 39};
};

TEST_F(EvictorTest, EvictsLeastRecentlyTouchedAndKeepsIndexAndFilesInAgreement) {
  auto a = addBlob("a", 40 * kKiB);
  auto b = addBlob("b", 40 * kKiB);
  auto c = addBlob("c", 40 * kKiB);
  // a is the oldest by storage time, but it was read just now: b is the least recently used.
  clock_.advance(std::chrono::seconds(120));
  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  auto ev = makeEvictor(o);
  ev->touch(a);
  auto r = ev->runOnce(/*dry_run=*/false);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().deleted, 1u);
  EXPECT_EQ(r.value().deleted_bytes, 40 * kKiB);
  EXPECT_TRUE(cached(a));
  EXPECT_FALSE(cached(b));
  EXPECT_TRUE(cached(c));
  // The touch was written back to the index: a fresh Evictor (a restart) keeps the order.
  auto meta = index_.getBlob(a);
  ASSERT_TRUE(meta && meta.value());
  EXPECT_EQ(meta.value()->last_access_unix, clock_.unixSeconds());
}

TEST_F(EvictorTest, TouchesTooRecentToWriteBackStillOrderTheNextPass) {
  auto a = addBlob("a", 40 * kKiB);
  auto b = addBlob("b", 40 * kKiB);
  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  auto ev = makeEvictor(o);
  ev->touch(a);                     // seconds after its last recorded access: kept in memory only
  auto first = ev->runOnce(false);  // 80 KiB, under the high watermark: nothing goes
  ASSERT_TRUE(first);
  EXPECT_EQ(first.value().deleted, 0u);
  auto c = addBlob("c", 40 * kKiB);
  auto second = ev->runOnce(false);  // 120 KiB: the least recently used goes, and that is b
  ASSERT_TRUE(second);
  EXPECT_EQ(second.value().deleted, 1u);
  EXPECT_TRUE(cached(a));
  EXPECT_FALSE(cached(b));
  EXPECT_TRUE(cached(c));
}

TEST_F(EvictorTest, DryRunDeletesNothing) {
  auto a = addBlob("a", 60 * kKiB);
  auto b = addBlob("b", 60 * kKiB);
  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  auto ev = makeEvictor(o);
  auto r = ev->runOnce(/*dry_run=*/true);
  ASSERT_TRUE(r);
  ASSERT_EQ(r.value().plan.victims.size(), 1u);
  EXPECT_EQ(r.value().plan.victims[0].blob.digest, a);
  EXPECT_EQ(r.value().deleted, 0u);
  EXPECT_TRUE(cached(a));
  EXPECT_TRUE(cached(b));
}

// Blob rows straight on the test's index and files, except that one digest's row turns out
// gone already when the pass removes it (a concurrent check dropped it).
class RowsWithOneGone final : public BlobRows {
 public:
  RowsWithOneGone(BlobStore& store, index::Index& index, Digest gone)
      : store_(store), index_(index), gone_(std::move(gone)) {}
  Result<void> forEachBlob(
      const std::function<void(const Digest&, const index::BlobMeta&)>& fn) override {
    return index_.forEachBlob(fn);
  }
  void writeAccess(const Digest&, std::int64_t) override {}
  Result<bool> removeBlob(const Digest& digest) override {
    if (digest == gone_) return false;
    if (auto del = index_.deleteBlob(digest); !del) return del.error();
    if (auto rm = store_.remove(digest); !rm) return rm.error();
    return true;
  }

 private:
  BlobStore& store_;
  index::Index& index_;
  Digest gone_;
};

TEST_F(EvictorTest, ProgressReportsThePlanThenEveryRemovedBlob) {
  // Oldest first: a, b, c and d go (in that order) to bring 180 KiB down to 80 KiB; b's row is
  // gone already when its turn comes, so it is not reported.
  auto a = addBlob("a", 10 * kKiB);
  auto b = addBlob("b", 20 * kKiB);
  auto c = addBlob("c", 30 * kKiB);
  auto d = addBlob("d", 50 * kKiB);
  auto e = addBlob("e", 70 * kKiB);
  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  RowsWithOneGone rows(store_, index_, b);
  Evictor ev(rows, index_, clock_, o, [this]() -> Result<DiskUsage> { return disk_; });

  std::vector<EvictionProgress> reports;
  std::vector<std::string> removed;
  auto r = ev.runOnce(/*dry_run=*/false, [&](const EvictionProgress& p) {
    reports.push_back(p);
    removed.push_back(p.removed != nullptr ? p.removed->blob.digest.str() : "");
  });
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r.value().plan.victims.size(), 4u);

  ASSERT_EQ(reports.size(), 4u);  // the plan, then a, c and d
  EXPECT_EQ(reports[0].removed, nullptr);
  EXPECT_EQ(reports[0].blobs_done, 0u);
  EXPECT_EQ(reports[0].bytes_done, 0u);
  EXPECT_EQ(removed[1], a.str());
  EXPECT_EQ(removed[2], c.str());
  EXPECT_EQ(removed[3], d.str());
  const std::vector<std::uint64_t> bytes_done = {0, 10 * kKiB, 40 * kKiB, 90 * kKiB};
  for (std::size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].blobs_total, 4u) << i;
    EXPECT_EQ(reports[i].bytes_total, 110 * kKiB) << i;
    EXPECT_EQ(reports[i].blobs_done, i) << i;
    EXPECT_EQ(reports[i].bytes_done, bytes_done[i]) << i;
    if (i > 0) {
      EXPECT_EQ(reports[i].removed->blob.size, bytes_done[i] - bytes_done[i - 1]) << i;
    }
  }
  // The last report is what the pass did, and what is gone from the cache.
  EXPECT_EQ(reports.back().blobs_done, r.value().deleted);
  EXPECT_EQ(reports.back().bytes_done, r.value().deleted_bytes);
  EXPECT_FALSE(cached(a));
  EXPECT_FALSE(cached(c));
  EXPECT_FALSE(cached(d));
  EXPECT_TRUE(cached(e));

  // A dry run removes nothing and reports nothing.
  auto f = addBlob("f", 60 * kKiB);
  reports.clear();
  auto dry = ev.runOnce(/*dry_run=*/true, [&](const EvictionProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(dry);
  EXPECT_FALSE(dry.value().plan.victims.empty());
  EXPECT_TRUE(reports.empty());
  EXPECT_TRUE(cached(f));
}

TEST_F(EvictorTest, PinnedImagesSurviveThroughTagsAndIndexes) {
  auto config = addBlob("config", 1 * kKiB);
  auto layer = addBlob("layer", 60 * kKiB);
  auto image = addImage("team/pinned", "v1", {config, layer});
  // A multi-platform index, pinned by digest, whose child is another image.
  auto child_config = addBlob("child-config", 1 * kKiB);
  auto child_layer = addBlob("child-layer", 30 * kKiB);
  auto child = addImage("team/multi", "child", {child_config, child_layer});
  std::string index_body = R"({"schemaVersion":2,"manifests":[{"digest":")" + child.str() +
                           R"(","platform":{"os":"linux","architecture":"amd64"}}]})";
  Digest idx = sha256Of(index_body);
  ASSERT_TRUE(index_.putManifest(
      idx, {"application/vnd.oci.image.index.v1+json", index_body, clock_.unixSeconds()},
      std::nullopt));
  auto other = addBlob("other", 40 * kKiB);  // the newest, and unpinned

  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  o.pins = {ImageRef::parse("registry.test/team/pinned:v1").value(),
            ImageRef::parse("registry.test/team/multi@" + idx.str()).value(),
            ImageRef::parse("registry.test/team/never-pulled:v9").value()};
  auto ev = makeEvictor(o);
  std::size_t missing = 0;
  auto pinned = ev->pinnedDigests(&missing);
  EXPECT_EQ(missing, 1u);  // never-pulled
  for (const auto& d : {image, config, layer, idx, child, child_config, child_layer})
    EXPECT_TRUE(pinned.count(d.str())) << d.str();
  EXPECT_FALSE(pinned.count(other.str()));

  auto r = ev->runOnce(/*dry_run=*/false);
  ASSERT_TRUE(r);
  EXPECT_FALSE(cached(other));
  for (const auto& d : {config, layer, child_config, child_layer}) EXPECT_TRUE(cached(d));
  EXPECT_EQ(r.value().plan.pinned_bytes, 92 * kKiB);
}

TEST_F(EvictorTest, PercentBudgetsResolveAgainstTheFilesystem) {
  EvictorOptions o;
  o.max_bytes = Percent{20};
  o.min_free_bytes = Percent{10};
  auto ev = makeEvictor(o);
  auto p = ev->resolvePolicy({1000 * kKiB, 500 * kKiB});
  EXPECT_EQ(p.max_bytes, 200 * kKiB);
  EXPECT_EQ(p.min_free_bytes, 100 * kKiB);
}

TEST_F(EvictorTest, CommitAboveTheHighWatermarkWakesTheThread) {
  EvictorOptions o;
  o.max_bytes = std::uint64_t{100 * kKiB};
  o.min_free_bytes = std::uint64_t{0};
  o.interval = std::chrono::hours(1);  // only a wake-up can run the second pass
  auto ev = makeEvictor(o);
  ASSERT_TRUE(ev->runOnce(false));  // learns the watermark
  ev->start();
  auto a = addBlob("a", 60 * kKiB);
  ev->committed(60 * kKiB, 0);  // under the high watermark: no pass
  auto b = addBlob("b", 60 * kKiB);
  ev->committed(60 * kKiB, 0);  // over it
  bool evicted = false;
  for (int i = 0; i < 200 && !evicted; ++i) {
    evicted = !index_.getBlob(a).value().has_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ev->stop();
  EXPECT_TRUE(evicted);
  EXPECT_TRUE(cached(b));
}

}  // namespace
}  // namespace pullcache::store
