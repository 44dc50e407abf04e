#pragma once
// One blob being fetched from upstream into a staging file, as seen by its readers (BlobSource)
// and by its writer (the fetch). Thread-safe: the writer runs on the upstream client's thread,
// readers on their connections' strands. Readers wait on per-reader timers that the writer
// cancels (through each reader's executor) when bytes arrive or the state changes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/asio.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/http_message.h"
#include "daemon/registry/switchable_fd.h"

namespace pullcache::registry {

class InflightBlob final : public BlobSource {
 public:
  // kHashing: every byte is in the staging file and the digest is being checked. The stall
  // timeout does not run then (the upstream is done; the hasher has a deadline of its own).
  enum class State { kConnecting, kStreaming, kHashing, kVerified, kFailed };

  InflightBlob(Digest digest, UniqueFd read_fd, std::chrono::milliseconds stall_timeout)
      : digest_(std::move(digest)),
        read_fd_(std::make_shared<SwitchableFd>(std::move(read_fd))),
        stall_timeout_(stall_timeout) {}

  [[nodiscard]] const Digest& digest() const noexcept { return digest_; }
  // The current descriptor: readers must fetch it again for every read (it may be switched).
  [[nodiscard]] int fd() const noexcept override { return read_fd_->get(); }
  // Shared with the hasher; the writer switches it when the staging file moves to memory.
  [[nodiscard]] const std::shared_ptr<SwitchableFd>& readFd() const noexcept { return read_fd_; }
  Task<Result<std::uint64_t>> readable(std::uint64_t offset) override;

  // Readers: wait until the upstream's headers arrived (size known, or known to be unknown).
  Task<Result<void>> waitStarted();
  // Readers: wait until the blob is verified; returns its size.
  Task<Result<std::uint64_t>> waitVerified();
  struct Snapshot {
    State state;
    std::uint64_t size;
    bool size_known;
    std::uint64_t written;
  };
  [[nodiscard]] Snapshot snapshot() const;

  // Writer side.
  void setStreaming(std::uint64_t size, bool size_known);
  void setWritten(std::uint64_t written);  // total bytes in the staging file
  void setReceived(std::uint64_t size);     // the upstream sent everything: now hashing
  void setVerified(std::uint64_t size);
  void setFailed(Error error);

 private:
  using Timer = asio::steady_timer;
  enum class Goal { kStarted, kVerified, kReadable };
  // What a waiter for `goal` may proceed with given `s`, or nullopt to keep waiting.
  static std::optional<std::uint64_t> ready(Goal goal, const Snapshot& s, std::uint64_t offset);
  // The one wait loop: until ready(), the blob failed, or no progress for the stall timeout.
  Task<Result<std::uint64_t>> waitUntil(Goal goal, std::uint64_t offset);
  // Waits until state or progress differ from `seen`, or the stall timeout. False on timeout.
  Task<bool> waitForChange(Snapshot seen);
  void wakeAll(std::unique_lock<std::mutex>& lock);

  const Digest digest_;
  const std::shared_ptr<SwitchableFd> read_fd_;
  const std::chrono::milliseconds stall_timeout_;
  mutable std::mutex mu_;
  State state_ = State::kConnecting;             // guarded by mu_
  std::uint64_t size_ = 0;                       // guarded by mu_
  bool size_known_ = false;                      // guarded by mu_
  std::uint64_t written_ = 0;                    // guarded by mu_
  Error error_;                                  // guarded by mu_
  std::vector<std::shared_ptr<Timer>> waiters_;  // guarded by mu_
};

}  // namespace pullcache::registry
