#pragma once
// Content-addressed blob files, one per digest whatever repository or upstream it came from:
//   <dir>/blobs/<algorithm>/<first two hex>/<hex>   committed, verified blobs
//   <dir>/tmp/<algorithm>-<hex>.<unique>            staging files of fetches in flight
// A blob becomes visible only by commit(): fsync, then rename into place. The caller verifies
// the digest before committing. All calls block (file system); call them on the blocking pool,
// except open() of a committed blob, which is a single open(2)+fstat(2).

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"

namespace pullcache::store {

struct OpenBlob {
  UniqueFd fd;
  std::uint64_t size = 0;
};

struct StagingFile {
  std::string path;
  UniqueFd fd;  // opened for writing
};

class BlobStore {
 public:
  // Creates the directories if needed. Throws std::runtime_error if it cannot (start-up only).
  explicit BlobStore(std::string dir);

  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  [[nodiscard]] std::string blobPath(const Digest& digest) const;

  // A committed blob, or nullopt if there is none.
  Result<std::optional<OpenBlob>> open(const Digest& digest) const;
  Result<StagingFile> createStaging(const Digest& digest);
  // fsync + rename into place. The staging file's fd stays valid (readers keep their own fds).
  Result<void> commit(StagingFile& staging, const Digest& digest);
  void discard(StagingFile& staging) noexcept;
  Result<void> remove(const Digest& digest);

  // Start-up: removes every leftover staging file; returns how many there were.
  Result<std::size_t> cleanStaging();
  // Calls fn for every committed blob file (digest from its path, size from stat). Files whose
  // names are not valid digests are reported through `stray` (may be null).
  Result<void> scan(const std::function<void(const Digest&, std::uint64_t)>& fn,
                    const std::function<void(const std::string&)>& stray) const;

 private:
  std::string dir_;
  std::atomic<std::uint64_t> staging_counter_{0};
};

}  // namespace pullcache::store
