#pragma once
// What eviction may do to the cache's contents: read the blob rows, write back access times,
// and remove a blob. cache::BlobCache implements it under its per-digest locks, so "an index
// entry exists if and only if its file does" has one owner: a removal and a racing commit or
// access-time write of the same digest are serialised, and neither can bring back a row whose
// file is gone.

#include <cstdint>
#include <functional>

#include "common/digest.h"
#include "common/error.h"
#include "daemon/index/index.h"

namespace pullcache::store {

class BlobRows {
 public:
  virtual ~BlobRows() = default;
  // Every blob row, in key order (blocking: an index scan).
  virtual Result<void> forEachBlob(
      const std::function<void(const Digest&, const index::BlobMeta&)>& fn) = 0;
  // Writes a newer last-access time, if the row is still there (blocking).
  virtual void writeAccess(const Digest& digest, std::int64_t last_access_unix) = 0;
  // Drops the row, then the file; true if there was a row (blocking).
  virtual Result<bool> removeBlob(const Digest& digest) = 0;
};

}  // namespace pullcache::store
