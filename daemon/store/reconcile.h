#pragma once
// Start-up reconciliation of the index with the blob files, after a crash or kill -9:
//   - leftover staging files are deleted;
//   - an index entry whose file is missing or has the wrong size is dropped;
//   - a blob file without an index entry (a crash between rename and index write) is deleted:
//     it was verified before its rename, but re-verifying costs a full read, and refetching on
//     demand is the simpler invariant.

#include <cstdint>

#include "common/error.h"
#include "daemon/index/index.h"
#include "daemon/store/blob_store.h"

namespace pullcache::store {

struct ReconcileReport {
  std::size_t staging_removed = 0;
  std::size_t entries_dropped = 0;  // index entries whose file was missing or wrong
  std::size_t orphans_removed = 0;  // files removed: no index entry, or not matching it
  std::size_t blobs = 0;
  std::uint64_t bytes = 0;
};

Result<ReconcileReport> reconcile(BlobStore& store, index::Index& index);

}  // namespace pullcache::store
