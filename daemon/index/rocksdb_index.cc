#include "daemon/index/rocksdb_index.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <stdexcept>

#include "daemon/index/keys.h"

namespace pullcache::index {
namespace {

Error dbError(const rocksdb::Status& s) { return Error{Errc::kStoreIo, "index: " + s.ToString()}; }

}  // namespace

RocksDbIndex::RocksDbIndex(const std::string& path) {
  // RocksDB creates the index directory, not its parents (the cache directory on a first run).
  std::error_code mkdir_error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), mkdir_error);
  if (mkdir_error)
    throw std::runtime_error("cannot create the directory of the index " + path + ": " +
                             mkdir_error.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 256;
  options.keep_log_file_num = 3;
  options.max_background_jobs = 2;
  options.write_buffer_size = 16 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) throw std::runtime_error("cannot open index at " + path + ": " + s.ToString());
  db_.reset(db);
}

RocksDbIndex::~RocksDbIndex() = default;

Result<std::optional<BlobMeta>> RocksDbIndex::getBlob(const Digest& digest) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), keys::blobKey(digest), &value);
  if (s.IsNotFound()) return std::optional<BlobMeta>{};
  if (!s.ok()) return dbError(s);
  return keys::decodeBlobMeta(value);  // undecodable: treated as absent
}

Result<void> RocksDbIndex::putBlob(const Digest& digest, const BlobMeta& meta) {
  rocksdb::Status s =
      db_->Put(rocksdb::WriteOptions(), keys::blobKey(digest), keys::encodeBlobMeta(meta));
  if (!s.ok()) return dbError(s);
  return ok();
}

Result<void> RocksDbIndex::deleteBlob(const Digest& digest) {
  rocksdb::Status s = db_->Delete(rocksdb::WriteOptions(), keys::blobKey(digest));
  if (!s.ok()) return dbError(s);
  return ok();
}

Result<void> RocksDbIndex::scanPrefix(
    std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a full scan must not evict the point-lookup working set
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  const rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    fn(std::string_view(it->key().data(), it->key().size()),
       std::string_view(it->value().data(), it->value().size()));
  }
  if (!it->status().ok()) return dbError(it->status());
  return ok();
}

Result<void> RocksDbIndex::forEachBlob(
    const std::function<void(const Digest&, const BlobMeta&)>& fn) {
  return scanPrefix(keys::kBlobPrefix, [&](std::string_view key, std::string_view value) {
    auto digest = keys::digestFromBlobKey(key);
    auto meta = keys::decodeBlobMeta(value);
    if (digest && meta) fn(*digest, *meta);
  });
}

Result<void> RocksDbIndex::forEachTag(
    const std::function<void(const TagKey&, const TagRecord&)>& fn) {
  return scanPrefix(keys::kTagPrefix, [&](std::string_view key, std::string_view value) {
    auto tag_key = keys::tagKeyFromKey(key);
    auto tag = keys::decodeTag(value);
    if (tag_key && tag) fn(*tag_key, *tag);
  });
}

Result<std::optional<ManifestRecord>> RocksDbIndex::getManifest(const Digest& digest) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), keys::manifestKey(digest), &value);
  if (s.IsNotFound()) return std::optional<ManifestRecord>{};
  if (!s.ok()) return dbError(s);
  return keys::decodeManifest(value);
}

Result<void> RocksDbIndex::putManifest(const Digest& digest, const ManifestRecord& record,
                                       const std::optional<std::pair<TagKey, TagRecord>>& tag) {
  rocksdb::WriteBatch batch;
  batch.Put(keys::manifestKey(digest), keys::encodeManifest(record));
  if (tag) batch.Put(keys::tagKey(tag->first), keys::encodeTag(tag->second));
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) return dbError(s);
  return ok();
}

Result<std::optional<TagRecord>> RocksDbIndex::getTag(const TagKey& key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), keys::tagKey(key), &value);
  if (s.IsNotFound()) return std::optional<TagRecord>{};
  if (!s.ok()) return dbError(s);
  return keys::decodeTag(value);
}

Result<void> RocksDbIndex::putTag(const TagKey& key, const TagRecord& record) {
  rocksdb::Status s = db_->Put(rocksdb::WriteOptions(), keys::tagKey(key), keys::encodeTag(record));
  if (!s.ok()) return dbError(s);
  return ok();
}

}  // namespace pullcache::index
