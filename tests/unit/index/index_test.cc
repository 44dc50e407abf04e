#include <gtest/gtest.h>

#include "daemon/index/keys.h"
#include "daemon/index/rocksdb_index.h"
#include "tests/support/temp_dir.h"

namespace pullcache::index {
namespace {

Digest digestOf(char c) { return Digest::parse("sha256:" + std::string(64, c)).value(); }

TEST(Keys, RoundTrip) {
  BlobMeta meta{123456789012ull, 1700000000, 1700003600};
  EXPECT_EQ(keys::decodeBlobMeta(keys::encodeBlobMeta(meta)), meta);
  ManifestRecord m{"application/vnd.oci.image.index.v1+json", std::string("{\0}", 3), 42};
  EXPECT_EQ(keys::decodeManifest(keys::encodeManifest(m)), m);
  TagRecord t{digestOf('a').str(), 1700000000123};
  EXPECT_EQ(keys::decodeTag(keys::encodeTag(t)), t);
  EXPECT_EQ(keys::digestFromBlobKey(keys::blobKey(digestOf('b'))), digestOf('b'));
}

TEST(Keys, RejectsCorruptValues) {
  EXPECT_FALSE(keys::decodeBlobMeta(""));
  EXPECT_FALSE(keys::decodeBlobMeta(keys::encodeBlobMeta({}) + "x"));
  EXPECT_FALSE(
      keys::decodeBlobMeta("\x02" + keys::encodeBlobMeta({}).substr(1)));  // unknown version
  EXPECT_FALSE(keys::decodeManifest("\x01\x00"));
  EXPECT_FALSE(keys::decodeTag(keys::encodeTag({"sha256:short", 1})));
  EXPECT_FALSE(keys::digestFromBlobKey("m:" + digestOf('c').str()));
}

TEST(Keys, TagKeysDoNotCollide) {
  // ("a", "b/c", "d") and ("a/b", "c", "d") must not encode alike.
  EXPECT_NE(keys::tagKey({"a", "b/c", "d"}), keys::tagKey({"a/b", "c", "d"}));
  EXPECT_NE(keys::tagKey({"h", "r", "t1"}), keys::tagKey({"h", "r", "t"}));
}

TEST(Keys, TagKeysDecode) {
  auto k = keys::tagKeyFromKey(keys::tagKey({"ghcr.io", "org/app", "v1.2"}));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->upstream, "ghcr.io");
  EXPECT_EQ(k->repository, "org/app");
  EXPECT_EQ(k->tag, "v1.2");
  EXPECT_FALSE(keys::tagKeyFromKey("b:sha256:00"));
  using namespace std::string_literals;                    // keys hold '\0' separators
  EXPECT_FALSE(keys::tagKeyFromKey("t:host\0repo"s));      // no tag part
  EXPECT_FALSE(keys::tagKeyFromKey("t:h\0r\0t\0extra"s));  // one part too many
  EXPECT_TRUE(keys::tagKeyFromKey("t:h\0r\0t"s));
}

TEST(RocksDbIndex, PersistsAcrossReopen) {
  testing::TempDir dir;
  {
    RocksDbIndex idx(dir.sub("db"));
    ASSERT_TRUE(idx.putBlob(digestOf('a'), {10, 1, 2}));
    ASSERT_TRUE(idx.putManifest(digestOf('e'), {"type", "body", 3},
                                std::make_pair(TagKey{"docker.io", "library/alpine", "3"},
                                               TagRecord{digestOf('e').str(), 99})));
  }
  RocksDbIndex idx(dir.sub("db"));
  EXPECT_EQ(idx.getBlob(digestOf('a')).value()->size, 10u);
  EXPECT_FALSE(idx.getBlob(digestOf('b')).value());
  EXPECT_EQ(idx.getManifest(digestOf('e')).value()->body, "body");
  EXPECT_EQ(idx.getTag({"docker.io", "library/alpine", "3"}).value()->fetched_unix_ms, 99);
  EXPECT_FALSE(idx.getTag({"docker.io", "library/alpine", "4"}).value());
  std::vector<std::string> seen;
  ASSERT_TRUE(idx.forEachBlob([&](const Digest& d, const BlobMeta&) { seen.push_back(d.str()); }));
  EXPECT_EQ(seen, std::vector<std::string>{digestOf('a').str()});
  ASSERT_TRUE(idx.deleteBlob(digestOf('a')));
  EXPECT_FALSE(idx.getBlob(digestOf('a')).value());
  std::vector<std::string> tags;
  ASSERT_TRUE(idx.forEachTag([&](const TagKey& k, const TagRecord& r) {
    tags.push_back(k.upstream + "/" + k.repository + ":" + k.tag + "=" + r.digest);
  }));
  EXPECT_EQ(tags, std::vector<std::string>{"docker.io/library/alpine:3=" + digestOf('e').str()});
}

}  // namespace
}  // namespace pullcache::index
