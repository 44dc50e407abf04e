#include "daemon/store/blob_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/index/rocksdb_index.h"
#include "daemon/store/reconcile.h"
#include "tests/support/temp_dir.h"

namespace pullcache::store {
namespace {

Digest put(BlobStore& store, const std::string& content) {
  Digest d = sha256Of(content);
  auto staging = store.createStaging(d);
  EXPECT_TRUE(staging);
  EXPECT_TRUE(writeAll(staging.value().fd.get(), content.data(), content.size()));
  EXPECT_TRUE(store.commit(staging.value(), d));
  return d;
}

TEST(BlobStore, ContentAddressedLayout) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  Digest d = put(store, "hello");
  std::string hex(d.hex());
  EXPECT_EQ(store.blobPath(d), dir.path() + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex);
  auto open = store.open(d);
  ASSERT_TRUE(open && open.value());
  EXPECT_EQ(open.value()->size, 5u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.sub("tmp")));
  EXPECT_FALSE(store.open(sha256Of("other")).value());
}

TEST(BlobStore, StagingIsInvisibleUntilCommit) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  Digest d = sha256Of("pending");
  auto staging = store.createStaging(d);
  ASSERT_TRUE(staging);
  EXPECT_FALSE(store.open(d).value());
  store.discard(staging.value());
  EXPECT_TRUE(std::filesystem::is_empty(dir.sub("tmp")));
}

TEST(Reconcile, RepairsWhatACrashLeaves) {
  testing::TempDir dir;
  BlobStore store(dir.sub("cache"));
  index::RocksDbIndex idx(dir.sub("cache/index"));
  Digest good = put(store, "good blob");
  ASSERT_TRUE(idx.putBlob(good, {9, 1, 1}));
  Digest truncated = put(store, "this one gets truncated");
  ASSERT_TRUE(idx.putBlob(truncated, {23, 1, 1}));
  std::filesystem::resize_file(store.blobPath(truncated), 4);
  Digest missing = sha256Of("indexed but no file");
  ASSERT_TRUE(idx.putBlob(missing, {19, 1, 1}));
  Digest orphan = put(store, "file but no index entry");
  testing::writeTextFile(dir.sub("cache/tmp/sha256-abc.1.1"), "partial");

  auto report = reconcile(store, idx);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report.value().staging_removed, 1u);
  EXPECT_EQ(report.value().blobs, 1u);
  EXPECT_EQ(report.value().bytes, 9u);
  EXPECT_EQ(report.value().entries_dropped, 2u);  // missing + truncated
  EXPECT_EQ(report.value().orphans_removed, 2u);  // orphan + truncated
  EXPECT_TRUE(idx.getBlob(good).value());
  EXPECT_FALSE(idx.getBlob(missing).value());
  EXPECT_FALSE(idx.getBlob(truncated).value());
  EXPECT_FALSE(std::filesystem::exists(store.blobPath(truncated)));
  EXPECT_FALSE(std::filesystem::exists(store.blobPath(orphan)));
  EXPECT_TRUE(std::filesystem::is_empty(dir.sub("cache/tmp")));
}

}  // namespace
}  // namespace pullcache::store
