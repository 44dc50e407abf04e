#pragma once
// Index on RocksDB (<cache dir>/index). Writes go to the WAL without fsync: a kill -9 loses
// nothing (the OS has the WAL); a power loss may lose the last entries, which only turns hits
// into misses, because a blob file is renamed into place before its entry is written.

#include <memory>
#include <string>
#include <string_view>

#include "daemon/index/index.h"

namespace rocksdb {
class DB;
}

namespace pullcache::index {

class RocksDbIndex final : public Index {
 public:
  // Throws std::runtime_error if the database cannot be opened (start-up only).
  explicit RocksDbIndex(const std::string& path);
  ~RocksDbIndex() override;

  Result<std::optional<BlobMeta>> getBlob(const Digest& digest) override;
  Result<void> putBlob(const Digest& digest, const BlobMeta& meta) override;
  Result<void> deleteBlob(const Digest& digest) override;
  Result<void> forEachBlob(const std::function<void(const Digest&, const BlobMeta&)>& fn) override;
  Result<void> forEachTag(const std::function<void(const TagKey&, const TagRecord&)>& fn) override;
  Result<std::optional<ManifestRecord>> getManifest(const Digest& digest) override;
  Result<void> putManifest(const Digest& digest, const ManifestRecord& record,
                           const std::optional<std::pair<TagKey, TagRecord>>& tag) override;
  Result<std::optional<TagRecord>> getTag(const TagKey& key) override;
  Result<void> putTag(const TagKey& key, const TagRecord& record) override;

 private:
  // Calls fn(key, value) for every key starting with `prefix`, in key order.
  Result<void> scanPrefix(std::string_view prefix,
                          const std::function<void(std::string_view, std::string_view)>& fn);

  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace pullcache::index
