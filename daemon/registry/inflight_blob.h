#pragma once
// One blob being fetched from upstream into a staging file, as seen by its readers (BlobSource)
// and by its writers. Thread-safe: the writers run on their transfers' sink strands (the disk
// pool), readers on their connections' strands. Readers wait on per-reader timers that a writer
// cancels (through each reader's executor) when bytes arrive or the state changes.
//
// Writers: the fill (the whole blob, from the front, skipping what is already there) and, when
// clients read ranges the fill is not about to reach, one span stream per such range. What is
// written is a set of spans (FilledSpans); the hasher reads the prefix. Writers run on strands
// of their own, in parallel: every write goes through writeUnfilled, under this blob's lock, so
// that no byte can land on bytes published since the writer looked (which the hasher or a
// reader may already have read). Each writer registers
// where it is and where it stops, so that a reader can tell whether some writer is heading for
// the byte it waits for, or a new stream is needed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/asio.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/http_message.h"
#include "daemon/registry/filled_spans.h"
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
  // A whole-blob reader: the last byte is held back until the digest is verified.
  Task<Result<std::uint64_t>> readable(std::uint64_t offset) override;

  // Readers: wait until the size is known (the first answer's headers).
  Task<Result<void>> waitStarted();
  // Readers: wait until the blob is verified; returns its size.
  Task<Result<std::uint64_t>> waitVerified();
  struct Snapshot {
    State state;
    std::uint64_t size;
    bool size_known;
    std::uint64_t written;  // the prefix [0, written) is in the staging file
    std::uint64_t version;  // changes whenever anything else does
  };
  [[nodiscard]] Snapshot snapshot() const;

  // What a reader at `offset` may do now.
  struct Look {
    Snapshot snapshot;
    Error error;                         // when failed
    std::optional<std::uint64_t> until;  // bytes [offset, until) may be sent
    bool heading = false;                // a writer will reach `offset` within `lookahead`
  };
  // `hold_last`: a reader whose answer is the whole blob gets its last byte once verified.
  [[nodiscard]] Look look(std::uint64_t offset, bool hold_last, std::uint64_t lookahead) const;
  // Waits until the version differs from `seen`, or the stall timeout. False on timeout.
  Task<bool> waitForChange(std::uint64_t seen);
  [[nodiscard]] std::chrono::milliseconds stallTimeout() const noexcept { return stall_timeout_; }

  // Writer side.
  // The first answer's size; false when an earlier one set a different known size (the two
  // answers disagree: the caller rejects its own).
  [[nodiscard]] bool setStreaming(std::uint64_t size, bool size_known);
  void setWritten(std::uint64_t written);  // [0, written) is in the staging file
  // [begin, end) is in the staging file, written by `writer` (which is now at `end`; -1: none
  // registered); returns the prefix. One step, so that no reader sees the bytes before it
  // sees that their writer has moved on.
  std::uint64_t addFilled(std::uint64_t begin, std::uint64_t end, int writer = -1);
  // A write: the part of `data` (for bytes [pos, pos + size)) that no one has published yet, up
  // to `end`, written to `fd` under this blob's lock, so that it can never land on bytes
  // published since it looked (which the hasher may already have read). Returns how many bytes
  // it wrote (0: it reached bytes that are there). A span's write (`span`) also stops when the
  // blob is done or moved to memory; the fill's goes on (its coordinator decides).
  Result<std::size_t> writeUnfilled(int fd, const char* data, std::size_t size, std::uint64_t pos,
                                    std::uint64_t end, bool span = true);
  // The first written byte at or after `offset` (UINT64_MAX: none): where a writer stops.
  [[nodiscard]] std::uint64_t nextFilled(std::uint64_t offset) const;
  // A writer at `pos`, stopping at `end`; returns its id.
  int addWriter(std::uint64_t pos, std::uint64_t end);
  void moveWriter(int id, std::uint64_t pos);
  void removeWriter(int id);
  void setReceived(std::uint64_t size);  // every byte is written: now hashing
  void setVerified(std::uint64_t size);
  void setFailed(Error error);  // the first failure wins
  // The disk failed: `move` copies the staging file to memory and switches the readers to it,
  // under this blob's lock (no span can write the old file meanwhile); on success only the fill
  // writes from here on.
  Result<void> moveToMemory(const std::function<Result<void>()>& move);
  [[nodiscard]] bool inMemory() const;

 private:
  using Timer = asio::steady_timer;
  struct Writer {
    int id;
    std::uint64_t pos;
    std::uint64_t end;
  };
  Snapshot snapshotLocked() const;
  void changedLocked(std::unique_lock<std::mutex>& lock);  // bumps the version, wakes all
  Task<Result<std::uint64_t>> waitStartedOrVerified(bool verified);

  const Digest digest_;
  const std::shared_ptr<SwitchableFd> read_fd_;
  const std::chrono::milliseconds stall_timeout_;
  // Writes hold write_mu_ from their look at what is filled to the end of the pwrite, and
  // publishing (addFilled) takes it too, so no write lands on published bytes; mu_ guards the
  // state alone and is never held across disk I/O, so readers never wait for the disk.
  // Order: write_mu_ before mu_.
  std::mutex write_mu_;
  mutable std::mutex mu_;
  State state_ = State::kConnecting;             // guarded by mu_
  std::uint64_t size_ = 0;                       // guarded by mu_
  bool size_known_ = false;                      // guarded by mu_
  FilledSpans filled_;                           // guarded by mu_
  std::vector<Writer> writers_;                  // guarded by mu_
  int next_writer_ = 0;                          // guarded by mu_
  bool in_memory_ = false;                       // guarded by mu_
  std::uint64_t version_ = 0;                    // guarded by mu_
  Error error_;                                  // guarded by mu_
  std::vector<std::shared_ptr<Timer>> waiters_;  // guarded by mu_
};

}  // namespace pullcache::registry
