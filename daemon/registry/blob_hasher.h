#pragma once
// Hashes a staging file behind its writer, on the blocking pool, so that receiving and writing
// (the upstream client's thread) and hashing (a pool thread) run in parallel. The writer
// reports progress with advance(); the fetch awaits finish() for the digest of the whole file.
//
// Work is done in slices (a few MiB) re-posted to the pool, so one large blob never holds a
// pool thread for long. Thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/asio.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "daemon/registry/switchable_fd.h"

namespace pullcache::registry {

class BlobHasher : public std::enable_shared_from_this<BlobHasher> {
 public:
  // Reads through `read_fd`'s current descriptor, shared with the blob's readers.
  BlobHasher(asio::thread_pool& pool, std::shared_ptr<SwitchableFd> read_fd,
             DigestAlgorithm algorithm);

  // The file now holds `written` bytes. Called by the writer; never blocks on hashing.
  void advance(std::uint64_t written);
  // The writer is done at `size` bytes: completes with the digest once they are all hashed, or
  // with kTimeout when hashing makes no progress for `stall` (the disk stopped answering; long,
  // because a pool busy with other blocking work also holds hashing back).
  Task<Result<Digest>> finish(std::uint64_t size,
                              std::chrono::milliseconds stall = std::chrono::minutes(5));

 private:
  void runSlice();
  void wakeLocked(std::vector<std::shared_ptr<asio::steady_timer>>& out);

  asio::thread_pool& pool_;
  const std::shared_ptr<SwitchableFd> fd_;
  Hasher hasher_;  // used by one slice at a time (scheduled_ guarantees it)
  std::mutex mu_;
  std::uint64_t written_ = 0;                // guarded by mu_
  std::uint64_t hashed_ = 0;                 // guarded by mu_
  bool scheduled_ = false;                   // a slice is queued or running; guarded by mu_
  std::optional<Error> error_;               // guarded by mu_
  std::optional<Digest> digest_;             // set when finished; guarded by mu_
  std::optional<std::uint64_t> final_size_;  // guarded by mu_
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;  // guarded by mu_
};

}  // namespace pullcache::registry
