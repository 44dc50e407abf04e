#pragma once
// The cache index: what is stored, since when, and which digest a tag pointed to.
// Calls are synchronous and thread-safe. Point reads are cheap and may run on an I/O thread;
// writes and scans belong on the blocking pool (common/blocking.h).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/error.h"

namespace pullcache::index {

struct BlobMeta {
  std::uint64_t size = 0;
  std::int64_t stored_unix = 0;
  std::int64_t last_access_unix = 0;  // updated coarsely (see kAccessGranularity)
  friend bool operator==(const BlobMeta&, const BlobMeta&) = default;
};

struct ManifestRecord {
  std::string media_type;
  std::string body;
  std::int64_t stored_unix = 0;
  friend bool operator==(const ManifestRecord&, const ManifestRecord&) = default;
};

struct TagKey {
  std::string upstream;  // registry host (ns)
  std::string repository;
  std::string tag;
};

struct TagRecord {
  std::string digest;
  std::int64_t fetched_unix_ms = 0;  // when the upstream last confirmed this mapping
  friend bool operator==(const TagRecord&, const TagRecord&) = default;
};

// Last-access times are rewritten at most this often per blob.
inline constexpr std::int64_t kAccessGranularitySeconds = 3600;

class Index {
 public:
  virtual ~Index() = default;

  virtual Result<std::optional<BlobMeta>> getBlob(const Digest& digest) = 0;
  virtual Result<void> putBlob(const Digest& digest, const BlobMeta& meta) = 0;
  virtual Result<void> deleteBlob(const Digest& digest) = 0;
  // Calls fn for every blob entry, in key order. Entries with undecodable values are skipped.
  virtual Result<void> forEachBlob(
      const std::function<void(const Digest&, const BlobMeta&)>& fn) = 0;

  virtual Result<std::optional<ManifestRecord>> getManifest(const Digest& digest) = 0;
  // Stores the manifest and, if given, points the tag at it, atomically.
  virtual Result<void> putManifest(const Digest& digest, const ManifestRecord& record,
                                   const std::optional<std::pair<TagKey, TagRecord>>& tag) = 0;

  virtual Result<std::optional<TagRecord>> getTag(const TagKey& key) = 0;
  virtual Result<void> putTag(const TagKey& key, const TagRecord& record) = 0;
  // Calls fn for every tag entry, in key order (by upstream, repository, tag).
  virtual Result<void> forEachTag(
      const std::function<void(const TagKey&, const TagRecord&)>& fn) = 0;
};

}  // namespace pullcache::index
